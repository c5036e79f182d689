import Kernels

/// Resolves tensor handles to pointers into an arena laid out by a `ParameterLayout`.
public struct ArenaView {
    /// Base for shared tensors (offsets below `sharedCount`).
    public let shared: UnsafeMutablePointer<Float>
    /// Base for task tensors (offsets from `sharedCount` up; indexed by the full offset).
    public let task: UnsafeMutablePointer<Float>
    /// The size of the shared part.
    public let sharedCount: Int
    /// Offsets by tensor index.
    public let offsets: UnsafePointer<Int>

    /// A view with separate bases for shared and task tensors (task tensors are found at
    /// `task + offset`, so `task` may point before a buffer holding only the task part).
    public init(shared: UnsafeMutablePointer<Float>, task: UnsafeMutablePointer<Float>, sharedCount: Int,
                offsets: UnsafePointer<Int>) {
        self.shared = shared
        self.task = task
        self.sharedCount = sharedCount
        self.offsets = offsets
    }

    /// The first float of a tensor.
    @inline(__always)
    public subscript(id: TensorID) -> UnsafeMutablePointer<Float> {
        let o = offsets[id.index]
        return o < sharedCount ? shared + o : task + o
    }
}
