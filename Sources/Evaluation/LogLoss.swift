#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#elseif canImport(ucrt)
import ucrt
#endif

/// The bound `logLoss` clips probabilities to: Float32's machine epsilon, 2^-23 ≈ 1.1920929e-7.
///
/// ```
/// p ↦ min(max(p, ε), 1 − ε),   ε = 2^-23 = Float.ulpOfOne
/// ```
///
/// Why this ε: scikit-learn clips with `np.finfo(y_pred.dtype).eps` (the default since
/// 1.2, the only behaviour since 1.5; 1.9.1 was checked), and RecHub's predictions are
/// Float32, so this is exactly what `log_loss` does when handed our predictions as they
/// are. It also suits Float32: the largest Float below 1 is 1 − 2^-24, so a sigmoid that
/// saturates to exactly 1.0 costs a wrong label −log(2^-23) ≈ 15.9, about what its
/// unsaturated neighbour costs (≈ 16.6), not the −log(1e-15) ≈ 34.5 of the old fixed rule
/// (eps = 1e-15 in sklearn < 1.2; float64 input today gets 2^-52 and ≈ 36.0).
public let logLossEpsilon: Double = 0x1p-23

/// Mean binary cross-entropy of predicted probabilities against 0/1 labels, with the
/// probabilities clipped to [ε, 1 − ε] (ε = `logLossEpsilon`) as scikit-learn's `log_loss`
/// clips Float32 input.
///
/// ```
/// LogLoss = −(1/n) Σ_i ( y_i · log p̂_i + (1 − y_i) · log(1 − p̂_i) )
/// p̂_i     = min(max(p_i, ε), 1 − ε),   ε = 2^-23
/// ```
///
/// - A label counts as 1 when `label > 0.5`, otherwise as 0 (as `rocAUC` does).
/// - Arithmetic is Float64: `1 − p̂` is exact for every Float `p̂` in [ε, 1 − ε], and the sum
///   is accumulated in a `Double`. It agrees with sklearn run on the clipped values as
///   float64 to ~1e-15 relative; sklearn run on the raw float32 array computes in float32
///   and so agrees only to ~1e-7.
/// - Probabilities outside [0, 1] are clipped like the rest (sklearn rejects them); a NaN
///   probability makes the result NaN.
/// - An empty input gives NaN (0/0, like NumPy's mean of nothing) rather than trapping, so
///   that an empty split cannot crash a training run; sklearn raises instead.
///
/// - Precondition: `probabilities.count == labels.count`.
public func logLoss(
    probabilities: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>
) -> Double {
    precondition(probabilities.count == labels.count,
                 "logLoss: \(probabilities.count) probabilities but \(labels.count) labels")
    let lower = logLossEpsilon
    let upper = 1 - logLossEpsilon
    var sum = 0.0
    for i in 0..<probabilities.count {
        var p = Double(probabilities[i])
        // Written with comparisons (not min/max) so that a NaN passes through to the sum.
        if p < lower { p = lower } else if p > upper { p = upper }
        sum += labels[i] > 0.5 ? log(p) : log(1 - p)
    }
    return -sum / Double(probabilities.count)
}

/// Mean binary cross-entropy of `probabilities` against 0/1 `labels`, clipped at ε = 2^-23.
///
/// ```
/// LogLoss = −(1/n) Σ_i ( y_i · log p̂_i + (1 − y_i) · log(1 − p̂_i) )
/// ```
///
/// - Precondition: `probabilities.count == labels.count`.
public func logLoss(probabilities: [Float], labels: [Float]) -> Double {
    precondition(probabilities.count == labels.count,
                 "logLoss: \(probabilities.count) probabilities but \(labels.count) labels")
    return probabilities.withUnsafeBufferPointer { p in
        labels.withUnsafeBufferPointer { l in logLoss(probabilities: p, labels: l) }
    }
}
