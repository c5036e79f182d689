import Kernels

/// A handle to one named non-trainable state buffer (batch-norm running statistics).
public struct StateID: Hashable, Sendable {
    /// The buffer's position in declaration order.
    public let index: Int
}

/// One named non-trainable state buffer.
public struct StateSpec: Sendable, Equatable {
    /// A dotted name, e.g. `bottom.0.bn.running_mean`.
    public let name: String
    /// Where it starts in the state buffer.
    public let offset: Int
    /// The number of floats.
    public let count: Int
    /// Its initial value.
    public let initial: Float
}
