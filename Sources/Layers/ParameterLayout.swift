import Kernels

/// The ordered layout of a model's dense parameters in one contiguous Float32 arena.
///
/// Shared tensors come first, then task 0's, task 1's, … (declaration order within each),
/// so the shared part is `0..<sharedCount` and each task's part is one contiguous range:
/// per-task gradient arenas for shared parameters and per-task learning rates are then
/// plain slices. Gradients and Adam's `m`, `v` use the same layout.
public final class ParameterLayout: @unchecked Sendable {
    /// Every tensor, in declaration order (`TensorID.index` indexes this).
    public private(set) var tensors: [TensorSpec] = []
    /// The number of tasks the roles refer to.
    public let numTasks: Int
    /// The total number of floats (valid after `finalize`).
    public private(set) var count = 0
    /// The number of shared floats, which occupy `0..<sharedCount`.
    public private(set) var sharedCount = 0
    /// Task t's floats occupy `taskRanges[t]`.
    public private(set) var taskRanges: [Range<Int>] = []
    /// Whether `finalize` has run.
    public private(set) var isFinalized = false
    private var offsetTable: UnsafeMutablePointer<Int>?
    /// Non-trainable state buffers, in declaration order (contiguous from offset 0).
    public private(set) var states: [StateSpec] = []
    /// The total number of state floats.
    public var stateCount: Int { states.last.map { $0.offset + $0.count } ?? 0 }

    /// Declares a non-trainable state buffer of `count` floats starting at `initial`.
    public func declareState(_ name: String, count: Int, initial: Float) -> StateID {
        precondition(!isFinalized, "cannot declare state \(name) after finalize")
        states.append(StateSpec(name: name, offset: stateCount, count: count, initial: initial))
        return StateID(index: states.count - 1)
    }

    /// Creates an empty layout for `numTasks` tasks.
    public init(numTasks: Int) {
        precondition(numTasks >= 1, "a layout needs at least one task, got \(numTasks)")
        self.numTasks = numTasks
    }

    deinit { offsetTable?.deallocate() }

    /// Declares a tensor; its offset is assigned by `finalize`.
    public func declare(_ name: String, shape: [Int], role: ParameterRole, initializer: Initializer) -> TensorID {
        precondition(!isFinalized, "cannot declare \(name) after finalize")
        precondition(shape.allSatisfy { $0 > 0 }, "tensor \(name) has a non-positive dimension: \(shape)")
        if case .task(let t) = role {
            precondition(t >= 0 && t < numTasks, "tensor \(name) names task \(t) of \(numTasks)")
        }
        precondition(!tensors.contains { $0.name == name }, "tensor \(name) declared twice")
        tensors.append(TensorSpec(name: name, shape: shape, role: role, initializer: initializer, offset: -1))
        return TensorID(index: tensors.count - 1)
    }

    /// Assigns offsets: shared tensors first, then each task's in order.
    public func finalize() {
        precondition(!isFinalized, "finalize called twice")
        var next = 0
        func place(_ match: (ParameterRole) -> Bool) {
            for i in tensors.indices where match(tensors[i].role) {
                tensors[i].offset = next
                next += tensors[i].count
            }
        }
        place { $0 == .shared }
        sharedCount = next
        for t in 0..<numTasks {
            let start = next
            place { $0 == .task(t) }
            taskRanges.append(start..<next)
        }
        count = next
        let table = UnsafeMutablePointer<Int>.allocate(capacity: max(tensors.count, 1))
        for (i, spec) in tensors.enumerated() { table[i] = spec.offset }
        offsetTable = table
        isFinalized = true
    }

    /// The offsets of every tensor, indexed by `TensorID.index` (stable after `finalize`).
    public var offsets: UnsafePointer<Int> {
        precondition(isFinalized, "layout used before finalize")
        return UnsafePointer(offsetTable!)
    }

    /// The tensor with this name, if any.
    public func tensor(named name: String) -> TensorSpec? { tensors.first { $0.name == name } }

    /// The handle of the tensor with this name, if any.
    public func id(named name: String) -> TensorID? {
        tensors.firstIndex { $0.name == name }.map { TensorID(index: $0) }
    }

    /// The specification of a tensor.
    public subscript(id: TensorID) -> TensorSpec { tensors[id.index] }

    /// Draws every tensor's initial values into `params` from `rng`, in declaration order.
    public func initialize(_ params: FloatBuffer, rng: inout SeededRandom) {
        precondition(isFinalized && params.count == count, "initialize needs a finalized layout and \(count) floats, got \(params.count)")
        for spec in tensors {
            let p = params.base + spec.offset
            switch spec.initializer {
            case .zeros: p.update(repeating: 0, count: spec.count)
            case .ones: p.update(repeating: 1, count: spec.count)
            case .uniform(let bound):
                for i in 0..<spec.count { p[i] = (2 * rng.nextFloat() - 1) * bound }
            case .normal(let std):
                for i in 0..<spec.count { p[i] = Float(rng.nextGaussian()) * std }
            }
        }
    }

    /// A view of `buffer` laid out as this layout (parameters, gradients, or optimizer state).
    public func view(_ buffer: FloatBuffer) -> ArenaView {
        precondition(buffer.count == count, "view needs \(count) floats, got \(buffer.count)")
        return ArenaView(shared: buffer.base, task: buffer.base, sharedCount: sharedCount, offsets: offsets)
    }

    /// A gradient view whose shared tensors land in `shared` (a per-task shared arena of
    /// `sharedCount` floats) and whose task tensors land in `full` (a whole arena).
    public func view(shared: UnsafeMutablePointer<Float>, full: FloatBuffer) -> ArenaView {
        precondition(full.count == count, "view needs \(count) floats, got \(full.count)")
        return ArenaView(shared: shared, task: full.base, sharedCount: sharedCount, offsets: offsets)
    }
}
