import Kernels
import Layers

/// Multi-gate Mixture-of-Experts: K shared experts, and per task a softmax gate over
/// them and a tower.
///
/// ```
/// x = input(ids, dense)                          (B, F·E + D)
/// E_k = Expert_k(x)                              (B, H) for k in 0..<K
/// g_t = softmax(x W_tᵀ)                          (B, K)
/// f_t = Σ_k g_t[k] · E_k                         (B, H)
/// logit_t = Tower_t(f_t)                         (B, 1)
/// ```
/// Ma et al., "Modeling Task Relationships in Multi-task Learning with Multi-gate
/// Mixture-of-Experts", KDD 2018, §4.2, eq. 5–6. Shared: the embeddings and `experts.*`;
/// task t: `gates.<t>.*` and `towers.<t>.*`.
public final class MMoE: MultiTaskModel, @unchecked Sendable {
    public let kind = "mmoe"
    public let taskTypes: [TaskType]
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let context = ForwardContext()
    public let input: ModelInput
    /// The K experts.
    public let experts: ExpertBank
    /// One gate per task.
    public let gates: [SoftmaxGate]
    /// The task towers.
    public let towers: TaskTowers
    private var expertCache: ExpertBankCache?
    private var gateOut: [FloatBuffer] = []
    private var mixed: [FloatBuffer] = []
    private var dMixed = FloatBuffer(count: 0)
    private var dGate = FloatBuffer(count: 0)
    private var dExperts = FloatBuffer(count: 0)
    private var logitBuffer = FloatBuffer(count: 0)
    private var capacity = 0

    /// Builds the model.
    /// - expertUnits: each expert's widths;  towerUnits: each tower's hidden widths.
    public init(features: Features, expertUnits: [Int], numExperts: Int, numTasks: Int,
                towerUnits: [Int] = [], taskTypes: [TaskType]? = nil,
                expertActivation: Activation = .relu, towerActivation: Activation = .relu,
                options: MLPOptions = MLPOptions(), embeddingInitStd: Float = 1e-4) {
        let types = taskTypes ?? Array(repeating: .classification, count: numTasks)
        precondition(types.count == numTasks, "\(types.count) task types for \(numTasks) tasks")
        self.taskTypes = types
        layout = ParameterLayout(numTasks: numTasks)
        input = ModelInput(features: features, embeddingInitStd: embeddingInitStd)
        experts = ExpertBank("experts", inputSize: features.inputWidth, numExperts: numExperts, units: expertUnits,
                             activation: expertActivation, options: options, role: .shared, layout: layout)
        let layout = self.layout
        gates = (0..<numTasks).map {
            SoftmaxGate("gates.\($0)", inputSize: features.inputWidth, numExperts: numExperts, role: .task($0),
                        layout: layout)
        }
        towers = TaskTowers(inputSize: experts.outputSize, units: towerUnits, activation: towerActivation,
                            options: options, numTasks: numTasks, layout: layout)
        parameters = context.finalize(layout)
    }

    public var logits: UnsafeMutablePointer<Float> { logitBuffer.base }

    public func prepare(batch: Int) {
        input.prepare(batch: batch)
        towers.prepare(batch: batch, context: context)
        guard batch > capacity else { return }
        capacity = batch
        let k = experts.numExperts
        let h = experts.outputSize
        expertCache = experts.makeCache(batch: batch, context: context)
        gateOut = (0..<numTasks).map { _ in FloatBuffer(count: batch * k) }
        mixed = (0..<numTasks).map { _ in FloatBuffer(count: batch * h) }
        dMixed = FloatBuffer(count: batch * h)
        dGate = FloatBuffer(count: batch * k)
        dExperts = FloatBuffer(count: batch * k * h)
        logitBuffer = FloatBuffer(count: batch * numTasks)
    }

    public func forward(sparse: UnsafePointer<Int32>, dense: UnsafePointer<Float>, batch: Int, params: ArenaView) {
        precondition(batch <= capacity, "batch \(batch) exceeds prepared \(capacity)")
        let k = experts.numExperts
        let h = experts.outputSize
        input.forward(sparse: sparse, dense: dense, batch: batch)
        let x = UnsafePointer(input.x.base)
        experts.forward(input: x, ldx: input.width, batch: batch, params: params, cache: expertCache!)
        for t in 0..<numTasks {
            gates[t].forward(output: gateOut[t].base, input: x, ldx: input.width, batch: batch, params: params)
            ExpertMixture.forward(output: mixed[t].base, ldy: h, experts: expertCache!.output, layout: expertCache!.outputLayout,
                                  gate: gateOut[t].base, batch: batch, numExperts: k, width: h)
            towers.forward(task: t, input: mixed[t].base, ldh: h, batch: batch, params: params, logits: logits)
        }
    }

    /// Back-propagates `dLogits`; a task whose column is all zeros is skipped (`TaskSet`).
    /// Under a `.perTask` GradNorm tap (W in the experts) only the active towers, their
    /// mixtures and the experts down to W run: no gate, input or embedding gradient.
    public func backward(dLogits: UnsafeMutablePointer<Float>, batch: Int, params: ArenaView, grads: ArenaView,
                         embeddingGrad: SparseRowGradient) {
        let k = experts.numExperts
        let h = experts.outputSize
        let x = UnsafePointer(input.x.base)
        let tapPass = context.gradNormTap.isPerTask
        let active = TaskSet(nonZeroColumnsOf: dLogits, batch: batch, tasks: numTasks)
        if !tapPass { input.dx.base.update(repeating: 0, count: batch * input.width) }
        var first = true
        for t in 0..<numTasks where active.contains(t) {
            towers.backward(task: t, dLogits: dLogits, input: mixed[t].base, ldh: h, dInput: dMixed.base, lddx: h,
                            accumulateInput: false, batch: batch, params: params, grads: grads)
            ExpertMixture.backward(dExperts: dExperts.base, dGate: dGate.base, dOutput: dMixed.base, lddy: h,
                                   experts: expertCache!.output, layout: expertCache!.outputLayout, gate: gateOut[t].base,
                                   batch: batch, numExperts: k, width: h, accumulate: !first)
            if !tapPass {
                gates[t].backward(dGate: dGate.base, gate: gateOut[t].base, input: x, ldx: input.width,
                                  dInput: input.dx.base, lddx: input.width, batch: batch, params: params, grads: grads)
            }
            first = false
        }
        if first { dExperts.zero() }
        experts.backward(dOutput: dExperts.base, input: x, ldx: input.width, dInput: tapPass ? nil : input.dx.base,
                         lddx: input.width, accumulateInput: true, dInputColumns: input.embeddingWidth,
                         batch: batch, params: params, grads: grads,
                         cache: expertCache!)
        if !tapPass { input.backward(batch: batch, into: embeddingGrad) }
    }

    /// GradNorm's W may be any expert layer's weight (by default the last, `experts.<L−1>.weight`).
    public func supportsGradNormTap(_ weight: TensorID) -> Bool { experts.weightTensors.contains(weight) }
}
