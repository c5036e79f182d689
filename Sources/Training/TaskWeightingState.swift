import Kernels
import Layers
import Models
import Glibc

/// The state a strategy learns, saved in checkpoints.
public struct TaskWeightingState: Codable, Sendable, Equatable {
    /// Current loss weights w_t (fixed, GradNorm).
    public var weights: [Float]
    /// Uncertainty: log-variances s_t and their Adam moments and step.
    public var logVariances: [Float]
    /// Adam first moments of `logVariances`.
    public var logVarianceM: [Float]
    /// Adam second moments of `logVariances`.
    public var logVarianceV: [Float]
    /// Adam steps taken on `logVariances`.
    public var logVarianceStep: Int
    /// GradNorm: each task's loss at the first step, L_i(0) (empty before it).
    public var initialLosses: [Double]
    /// MetaBalance: moving averages of gradient norms, (tasks × shared tensors) row-major.
    public var normAverages: [Float]
}
