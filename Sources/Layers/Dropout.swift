import Kernels

/// A stable 64-bit id of a dropout site, from its layer's name (FNV-1a).
func siteID(_ name: String) -> UInt64 { FNV1a.hash(name.utf8) }

/// Inverted dropout with probability p over a (B, C) matrix: kept values are scaled by 1/(1 − p).
public struct Dropout: Sendable {
    /// The drop probability.
    public let probability: Float
    let site: UInt64

    /// A dropout site named after its layer.
    public init(_ name: String, probability: Float) {
        precondition(probability >= 0 && probability < 1, "dropout must be in [0, 1), got \(probability)")
        self.probability = probability
        site = siteID(name)
    }

    /// Applies the mask in place and stores the per-element multipliers (0 or 1/(1 − p)) in `mask`.
    ///
    /// The (B, C) matrix is row-major, or, with `blockWidth` h, stored as C / h blocks of
    /// (B, h) rows, block b at offset b · `blockStride` (an `ExpertBank`'s expert-major layout):
    /// each row's multipliers are drawn in the same column order either way.
    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, width c: Int, mask: UnsafeMutablePointer<Float>,
                        context: ForwardContext, blockWidth: Int? = nil, blockStride: Int = 0) {
        let keep = 1 / (1 - probability)
        let h = blockWidth ?? c
        precondition(h > 0 && c % h == 0, "dropout blocks of \(h) columns over \(c)")
        for i in 0..<batch {
            var rng = context.rowGenerator(row: i, site: site)
            for block in 0..<c / h {
                let at = block * blockStride + i * h
                for j in 0..<h {
                    let m: Float = rng.nextFloat() < probability ? 0 : keep
                    mask[at + j] = m
                    x[at + j] *= m
                }
            }
        }
    }

    /// Multiplies `dy` by the stored mask.
    public func backward(_ dy: UnsafeMutablePointer<Float>, count: Int, mask: UnsafePointer<Float>) {
        for i in 0..<count { dy[i] *= mask[i] }
    }
}
