import Kernels
import Layers

/// A set of tasks as bits (task t is bit t; more than 64 tasks: every task is in it).
public struct TaskSet: Sendable, Equatable {
    /// Bit t set: task t is in the set.
    public var bits: UInt64

    /// The tasks whose column of `dLogits` (B, T) holds a non-zero value: a task whose column
    /// is all zeros adds nothing to any gradient, so a backward pass skips its head (tower,
    /// gate, task experts). In a per-task pass (GradNorm, MetaBalance, monitoring) that is
    /// every head but the pass's own, for models whose task losses are independent.
    @inline(__always)
    public init(nonZeroColumnsOf dLogits: UnsafePointer<Float>, batch: Int, tasks t: Int) {
        guard t <= 64 else { bits = ~0; return }
        var b: UInt64 = 0
        for i in 0..<batch {
            let row = dLogits + i * t
            for task in 0..<t where row[task] != 0 { b |= 1 << UInt64(task) }
            if b == (t == 64 ? ~0 : (1 << UInt64(t)) - 1) { break }
        }
        bits = b
    }

    /// Whether task `t` is in the set.
    @inline(__always)
    public func contains(_ t: Int) -> Bool { t >= 64 || (bits >> UInt64(t)) & 1 != 0 }
}
