/// The loss attached to a task's output.
public enum TaskType: String, Sendable, Codable, CaseIterable {
    /// Binary classification: the output is a logit, the loss binary cross-entropy.
    case classification
    /// Regression: the output is the prediction, the loss mean squared error.
    case regression
}

/// Per-task losses on a column of a (B, T) logit matrix, each returning the *sum* of the
/// per-sample losses and writing `scale × ∂(sum)/∂logit` (the caller passes `1 / B_global`).
public enum Losses {
    /// Binary cross-entropy on logits, stable for any finite logit.
    ///
    /// ```
    /// ℓ(z, y) = max(z, 0) - z·y + log(1 + e^-|z|)
    /// ∂ℓ/∂z  = σ(z) - y
    /// ```
    /// - logits, labels, dLogits: column `task` of (B, T) row-major matrices.
    /// - Returns: Σ_b ℓ(z_b, y_b), accumulated in Double.
    @inline(__always)
    public static func binaryCrossEntropyWithLogits(
        logits: UnsafePointer<Float>, labels: UnsafePointer<Float>, dLogits: UnsafeMutablePointer<Float>,
        batch b: Int, tasks t: Int, task: Int, scale: Float
    ) -> Double {
        var total = 0.0
        for i in 0..<b {
            let z = logits[i * t + task]
            let y = labels[i * t + task]
            let az = z >= 0 ? z : -z
            total += Double(max(z, 0) - z * y + ScalarMath.log1p(ScalarMath.exp(-az)))
            dLogits[i * t + task] = (ScalarMath.sigmoid(z) - y) * scale
        }
        return total
    }

    /// Squared error on raw outputs.
    ///
    /// ```
    /// ℓ(z, y) = (z - y)²      ∂ℓ/∂z = 2 (z - y)
    /// ```
    @inline(__always)
    public static func squaredError(
        outputs: UnsafePointer<Float>, labels: UnsafePointer<Float>, dOutputs: UnsafeMutablePointer<Float>,
        batch b: Int, tasks t: Int, task: Int, scale: Float
    ) -> Double {
        var total = 0.0
        for i in 0..<b {
            let d = outputs[i * t + task] - labels[i * t + task]
            total += Double(d * d)
            dOutputs[i * t + task] = 2 * d * scale
        }
        return total
    }

    /// Binary cross-entropy on logits with a positive-class weight p and a sample mask m
    /// (1 = in the task's sample space, 0 = out), as `torch.nn.BCEWithLogitsLoss(pos_weight:)`.
    ///
    /// ```
    /// ℓ(z, y) = m · [ p·y·softplus(−z) + (1 − y)·softplus(z) ]
    /// ∂ℓ/∂z  = m · [ (p·y + 1 − y)·σ(z) − p·y ]
    /// ```
    /// - mask: column `task` of a (B, T) matrix, or nil for all samples.
    @inline(__always)
    public static func weightedBinaryCrossEntropyWithLogits(
        logits: UnsafePointer<Float>, labels: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
        dLogits: UnsafeMutablePointer<Float>, batch b: Int, tasks t: Int, task: Int, scale: Float, positiveWeight: Float
    ) -> Double {
        var total = 0.0
        for i in 0..<b {
            let k = i * t + task
            let m: Float = mask?[k] ?? 1
            if m == 0 {
                dLogits[k] = 0
                continue
            }
            let z = logits[k], y = labels[k]
            let az = z >= 0 ? z : -z
            let softplusNeg = max(-z, 0) + ScalarMath.log1p(ScalarMath.exp(-az))  // softplus(−z) = −log σ(z)
            let softplusPos = softplusNeg + z                                      // softplus(z) = −log(1 − σ(z))
            total += Double(m * (positiveWeight * y * softplusNeg + (1 - y) * softplusPos))
            dLogits[k] = m * ((positiveWeight * y + 1 - y) * ScalarMath.sigmoid(z) - positiveWeight * y) * scale
        }
        return total
    }
}
