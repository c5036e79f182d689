import Kernels

/// How a tensor's initial values are drawn.
public enum Initializer: Sendable, Equatable {
    /// All zeros.
    case zeros
    /// All ones.
    case ones
    /// Uniform in [-bound, bound].
    case uniform(bound: Float)
    /// Normal with mean 0 and the given standard deviation.
    case normal(std: Float)
}
