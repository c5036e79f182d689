import CKernels

/// Which instruction-set level the element-wise C kernels (`CKernels`) run at on this CPU:
/// "avx512f", "avx2" or "default" (baseline SSE2), picked by the loader. Results are
/// bit-identical at every level (same IEEE operations, no FMA contraction).
public enum VectorLevel {
    /// The level picked for this CPU.
    public static var name: String { String(cString: rechub_kernels_level()) }
}

extension Ops {
    /// One Adam step over `count` contiguous floats, at the CPU's widest vector level.
    ///
    /// ```
    /// g ← g + wd·p;  m ← m + (1 − β1)(g − m);  v ← β2·v + (1 − β2)·g·g
    /// p ← p − stepSize·m / (√v / bc2Sqrt + ε)
    /// ```
    /// Kingma & Ba, "Adam", ICLR 2015, Algorithm 1, in PyTorch's arithmetic (`torch.optim.Adam`,
    /// stepSize = lr / (1 − β1^t), bc2Sqrt = √(1 − β2^t)).
    @inline(__always)
    public static func adamStep(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                                v: UnsafeMutablePointer<Float>, count: Int, beta1: Float, beta2: Float, epsilon: Float,
                                weightDecay: Float, stepSize: Float, bc2Sqrt: Float) {
        rechub_adam_step(p, g, m, v, count, beta1, beta2, epsilon, weightDecay, stepSize, bc2Sqrt)
    }

    /// `adamStep` on `count` scattered rows of `dim` floats of the tables `w`, `m`, `v`: row
    /// `rows[k]` from gradient row k of `g` (k·dim ..< (k+1)·dim), in order; the same values as
    /// one `adamStep` per row, with the rows ahead prefetched (lazy embedding updates).
    @inline(__always)
    public static func adamRows(w: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                                rows: UnsafePointer<Int32>, g: UnsafePointer<Float>, count: Int, dim: Int, beta1: Float,
                                beta2: Float, epsilon: Float, weightDecay: Float, stepSize: Float, bc2Sqrt: Float) {
        rechub_adam_rows(w, m, v, rows, g, count, dim, beta1, beta2, epsilon, weightDecay, stepSize, bc2Sqrt)
    }
}
