import Kernels

/// What a forward pass needs besides parameters: training or inference mode, the model's
/// non-trainable state (batch-norm running statistics), and where in the run the batch is,
/// which seeds dropout.
///
/// Dropout masks are drawn from a generator seeded by (seed, step, global sample index, site),
/// so a sample gets the same mask whichever rank computes it and however the batch is split:
/// N ranks with local batch b equal one rank with N·b, dropout included.
public final class ForwardContext: @unchecked Sendable {
    /// Training (batch statistics, dropout) or inference (running statistics, no dropout).
    public var isTraining = false
    /// The optimizer step being computed (seeds dropout).
    public var step = 0
    /// The global index, within the step's batch, of this rank's first row (seeds dropout).
    public var firstSample = 0
    /// The dropout seed of the run.
    public var seed: UInt64 = 0
    /// Non-trainable state laid out by the model's `ParameterLayout` state declarations.
    public private(set) var state = FloatBuffer(count: 0)
    /// What the next backward pass computes around GradNorm's W (everything by default).
    public var gradNormTap = GradNormTap()

    /// Creates an inference-mode context.
    public init() {}

    private var stateOffsets: [Int] = []

    /// The offset of a state buffer.
    @inline(__always)
    func stateOffset(_ id: StateID) -> Int { stateOffsets[id.index] }

    /// Finalises `layout`, binds this context to its state, and returns the zeroed parameter
    /// arena: the last step of every model's initialiser.
    public func finalize(_ layout: ParameterLayout) -> FloatBuffer {
        layout.finalize()
        if let limit = Self.allocationLimit, layout.count > limit || layout.stateCount > limit {
            // A description (a checkpoint's stored config) claims more than its file holds:
            // allocate nothing; the caller compares `layout.count` with the file and refuses.
            isOversized = true
            return FloatBuffer(count: 0)
        }
        bind(layout)
        return FloatBuffer(count: layout.count)
    }

    /// The most floats `finalize` allocates for a model's parameters or state while set (nil:
    /// no limit). Set around building a model from an untrusted description, so a hostile
    /// `expert_units: [999999]` allocates nothing before it is refused.
    @TaskLocal public static var allocationLimit: Int?

    /// Whether `finalize` refused to allocate (over `allocationLimit`): the model is unusable.
    public private(set) var isOversized = false

    /// Allocates the state of `layout` with its declared initial values.
    public func bind(_ layout: ParameterLayout) {
        stateOffsets = layout.states.map(\.offset)
        state = FloatBuffer(count: layout.stateCount)
        for s in layout.states { state.base.advanced(by: s.offset).update(repeating: s.initial, count: s.count) }
    }

    /// The generator of row `row` (local index) at dropout site `site`.
    @inline(__always)
    func rowGenerator(row: Int, site: UInt64) -> SeededRandom {
        var x = seed ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15)
        x ^= UInt64(firstSample + row) &* 0xC2B2_AE3D_27D4_EB4F
        x ^= site &* 0x1656_67B1_9E37_79F9
        return SeededRandom(seed: x)
    }
}
