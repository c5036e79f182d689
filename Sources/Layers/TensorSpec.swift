import Kernels

/// A handle to one named tensor of a `ParameterLayout`.
public struct TensorID: Hashable, Sendable {
    /// The tensor's position in declaration order.
    public let index: Int
}

/// One named tensor of the parameter arena.
public struct TensorSpec: Sendable, Equatable {
    /// A dotted name, e.g. `experts.0.weight` or `towers.1.2.bias`.
    public let name: String
    /// The shape, outermost first (a linear weight is `(out, in)`, as in PyTorch).
    public let shape: [Int]
    /// Shared or task-specific.
    public let role: ParameterRole
    /// How its values start.
    public let initializer: Initializer
    /// Where it starts in the arena (valid after `finalize`).
    public internal(set) var offset: Int
    /// The number of floats.
    public var count: Int { shape.reduce(1, *) }
}
