import Kernels
import Layers

/// Shared-Bottom multi-task model: one MLP all tasks share, then a tower per task.
///
/// ```
/// x = input(ids, dense)                      (B, F·E + D)
/// h = MLP_bottom(x)                          (B, H)
/// logit_t = Tower_t(h)                       (B, 1) for each task t
/// ```
/// Caruana, "Multitask Learning", Machine Learning 28, 1997. Shared: the embeddings and
/// `bottom.*`; task t: `towers.<t>.*`.
public final class SharedBottom: MultiTaskModel, @unchecked Sendable {
    public let kind = "shared_bottom"
    public let taskTypes: [TaskType]
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let context = ForwardContext()
    public let input: ModelInput
    /// The shared bottom MLP.
    public let bottom: MLP
    /// The task towers.
    public let towers: TaskTowers
    private var bottomCache: MLPCache?
    private var dH = FloatBuffer(count: 0)
    private var logitBuffer = FloatBuffer(count: 0)
    private var capacity = 0

    /// Builds the model.
    /// - hiddenUnits: the bottom MLP's widths;  taskHiddenUnits: each tower's hidden widths.
    public init(features: Features, hiddenUnits: [Int], taskHiddenUnits: [Int], numTasks: Int,
                taskTypes: [TaskType]? = nil, activation: Activation = .relu, options: MLPOptions = MLPOptions(),
                embeddingInitStd: Float = 1e-4) {
        precondition(!hiddenUnits.isEmpty, "SharedBottom needs at least one hidden layer")
        let types = taskTypes ?? Array(repeating: .classification, count: numTasks)
        precondition(types.count == numTasks, "\(types.count) task types for \(numTasks) tasks")
        self.taskTypes = types
        layout = ParameterLayout(numTasks: numTasks)
        input = ModelInput(features: features, embeddingInitStd: embeddingInitStd)
        bottom = MLP("bottom", inputSize: features.inputWidth, units: hiddenUnits, activation: activation,
                     options: options, role: .shared, layout: layout)
        towers = TaskTowers(inputSize: bottom.outputSize, units: taskHiddenUnits, activation: activation,
                            options: options, numTasks: numTasks, layout: layout)
        parameters = context.finalize(layout)
    }

    public var logits: UnsafeMutablePointer<Float> { logitBuffer.base }

    public func prepare(batch: Int) {
        input.prepare(batch: batch)
        towers.prepare(batch: batch, context: context)
        guard batch > capacity else { return }
        capacity = batch
        bottomCache = bottom.makeCache(batch: batch, context: context)
        dH = FloatBuffer(count: batch * bottom.outputSize)
        logitBuffer = FloatBuffer(count: batch * numTasks)
    }

    public func forward(sparse: UnsafePointer<Int32>, dense: UnsafePointer<Float>, batch: Int, params: ArenaView) {
        precondition(batch <= capacity, "batch \(batch) exceeds prepared \(capacity)")
        input.forward(sparse: sparse, dense: dense, batch: batch)
        bottom.forward(input: input.x.base, ldx: input.width, batch: batch, params: params, cache: bottomCache!)
        let h = bottomCache!.output
        for t in 0..<numTasks {
            towers.forward(task: t, input: h, ldh: bottom.outputSize, batch: batch, params: params, logits: logits)
        }
    }

    /// Back-propagates `dLogits`; a task whose column is all zeros is skipped (`TaskSet`).
    /// Under a `.perTask` GradNorm tap (W in the bottom) only the active towers and the
    /// bottom down to W run: no input or embedding gradient.
    public func backward(dLogits: UnsafeMutablePointer<Float>, batch: Int, params: ArenaView, grads: ArenaView,
                         embeddingGrad: SparseRowGradient) {
        let h = bottomCache!.output
        let width = bottom.outputSize
        let tapPass = context.gradNormTap.isPerTask
        let active = TaskSet(nonZeroColumnsOf: dLogits, batch: batch, tasks: numTasks)
        var first = true
        for t in 0..<numTasks where active.contains(t) {
            towers.backward(task: t, dLogits: dLogits, input: h, ldh: width, dInput: dH.base, lddx: width,
                            accumulateInput: !first, batch: batch, params: params, grads: grads)
            first = false
        }
        if first { dH.base.update(repeating: 0, count: batch * width) }
        bottom.backward(dOutput: dH.base, input: input.x.base, ldx: input.width, dInput: tapPass ? nil : input.dx.base,
                        lddx: input.width, batch: batch, params: params, grads: grads, cache: bottomCache!)
        if !tapPass { input.backward(batch: batch, into: embeddingGrad) }
    }

    /// GradNorm's W may be any bottom layer's weight (by default the last, `bottom.<L−1>.weight`).
    public func supportsGradNormTap(_ weight: TensorID) -> Bool { bottom.layers.contains { $0.weight == weight } }
}
