/// GradNorm's tap on W, the last shared layer's weight (Chen et al., "GradNorm: Gradient
/// Normalization for Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018, §3.2):
/// how a backward pass treats W and everything else, so that ∇_W L_i of each task costs
/// only the layers above W and one weight product.
///
/// ```
/// .full       every gradient, as always
/// .combined   every gradient but W's weight product (dW = dZᵀ·X), which the caller adds
///             as Σ_i w_i dW_i from the per-task passes (the product is linear in dZ)
/// .perTask    only dW_i = dZ_iᵀ·X, added into `dWeight`: the pass runs the heads whose
///             dLogits column is non-zero, down to W's output (dropout, activation and
///             batch-norm backward of W's layer), then stops; no other parameter gradient,
///             no input gradient, no embedding gradient is written
/// ```
/// Backward passes only read the forward caches (activations, x̂, 1/σ, dropout masks), so
/// the passes of one step see the same forward, whichever runs first.
public struct GradNormTap {
    /// How a backward pass treats W.
    public enum Mode: Sendable {
        /// Every gradient (the default).
        case full
        /// Every gradient but W's weight product.
        case combined
        /// Only W's weight gradient, into `dWeight`.
        case perTask
    }

    /// W (nil: no tap; the mode is then ignored).
    public var weight: TensorID?
    /// The current mode.
    public var mode = Mode.full
    /// Where `.perTask` adds dW (W's shape); ignored otherwise.
    public var dWeight: UnsafeMutablePointer<Float>?

    /// No tap.
    public init() {}

    /// A tap on `weight` in `mode`.
    public init(weight: TensorID?, mode: Mode, dWeight: UnsafeMutablePointer<Float>? = nil) {
        precondition(mode != .perTask || (weight != nil && dWeight != nil), "a per-task tap needs W and its buffer")
        self.weight = weight
        self.mode = mode
        self.dWeight = dWeight
    }

    /// Whether this pass writes no gradient but W's (`.perTask`).
    @inline(__always)
    public var isPerTask: Bool { weight != nil && mode == .perTask }

    /// Whether `id` is W in a pass of `mode`.
    @inline(__always)
    public func taps(_ id: TensorID, in mode: Mode) -> Bool { weight == id && self.mode == mode }
}
