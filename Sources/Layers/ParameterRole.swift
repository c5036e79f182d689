import Kernels

/// Which gradient a parameter belongs to: the trunk every task shares, or one task's own.
public enum ParameterRole: Hashable, Sendable {
    /// Shared by all tasks (a bottom MLP, MMoE's experts, PLE's shared experts, embeddings).
    case shared
    /// Owned by task `t` (its tower, its gate, its specific experts).
    case task(Int)
}
