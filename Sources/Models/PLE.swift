import Kernels
import Layers

/// Progressive Layered Extraction: at each level, every task has its own experts and there
/// are shared experts; task k's gate mixes task k's and the shared experts, a shared gate
/// (every level but the last) mixes all of them; the next level's experts read those mixes.
///
/// ```
/// level j, task k:  out_k = Σ softmax(in_k W_kᵀ) · [E_k(in_k) ; E_s(in_s)]
/// level j, shared:  out_s = Σ softmax(in_s W_sᵀ) · [E_0(in_0) ; … ; E_{T−1}(in_{T−1}) ; E_s(in_s)]
/// level 0 reads x everywhere; level j > 0 reads level j − 1's out_k and out_s
/// logit_t = Tower_t(out_t of the last level)
/// ```
/// Tang et al., "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL)
/// Model for Personalized Recommendations", RecSys 2020, §4.2–4.3 (eq. 2–6). `numLayers: 1`
/// is CGC (§4.2). Shared: the embeddings, `levels.<j>.shared.*`, `levels.<j>.shared_gate.*`;
/// task t: `levels.<j>.tasks.<t>.*`, `levels.<j>.gates.<t>.*`, `towers.<t>.*`.
public final class PLE: MultiTaskModel, @unchecked Sendable {
    public let kind = "ple"
    public let taskTypes: [TaskType]
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let context = ForwardContext()
    public let input: ModelInput
    /// Task-specific experts per level and task.
    public let taskExperts: [[ExpertBank]]
    /// Shared experts per level.
    public let sharedExperts: [ExpertBank]
    /// Task gates per level and task.
    public let gates: [[SoftmaxGate]]
    /// Shared gates per level (none at the last level).
    public let sharedGates: [SoftmaxGate]
    /// The task towers.
    public let towers: TaskTowers
    let numLayers: Int
    let perTask: Int
    let shared: Int
    private var caches = Caches()
    private var capacity = 0

    struct Caches {
        var task: [[ExpertBankCache]] = []
        var shared: [ExpertBankCache] = []
        var gate: [[FloatBuffer]] = []
        var sharedGate: [FloatBuffer] = []
        var out: [[FloatBuffer]] = []
        var outShared: [FloatBuffer] = []
        var dOut: [[FloatBuffer]] = []
        var dOutShared: [FloatBuffer] = []
        var dTaskExperts: [FloatBuffer] = []
        var dSharedExperts = FloatBuffer(count: 0)
        var dGate = FloatBuffer(count: 0)
        var logits = FloatBuffer(count: 0)
    }

    /// Builds the model.
    /// - numExperts: task-specific experts per task and level;  numSharedExperts: shared per level.
    public init(features: Features, expertUnits: [Int], numExperts: Int, numLayers: Int, numSharedExperts: Int,
                taskTypes: [TaskType], towerUnits: [Int] = [], activation: Activation = .relu,
                options: MLPOptions = MLPOptions(), embeddingInitStd: Float = 1e-4) {
        precondition(numLayers >= 1 && numExperts >= 1 && numSharedExperts >= 1 && !expertUnits.isEmpty,
                     "PLE needs levels, experts and shared experts, got \(numLayers), \(numExperts), \(numSharedExperts)")
        let t = taskTypes.count
        precondition(t >= 1, "PLE needs at least one task")
        self.taskTypes = taskTypes
        self.numLayers = numLayers
        perTask = numExperts
        shared = numSharedExperts
        let layout = ParameterLayout(numTasks: t)
        self.layout = layout
        input = ModelInput(features: features, embeddingInitStd: embeddingInitStd)
        var te: [[ExpertBank]] = [], se: [ExpertBank] = [], g: [[SoftmaxGate]] = [], sg: [SoftmaxGate] = []
        var width = features.inputWidth
        for j in 0..<numLayers {
            te.append((0..<t).map {
                ExpertBank("levels.\(j).tasks.\($0).experts", inputSize: width, numExperts: numExperts, units: expertUnits,
                           activation: activation, options: options, role: .task($0), layout: layout)
            })
            se.append(ExpertBank("levels.\(j).shared.experts", inputSize: width, numExperts: numSharedExperts,
                                 units: expertUnits, activation: activation, options: options, role: .shared, layout: layout))
            g.append((0..<t).map {
                SoftmaxGate("levels.\(j).gates.\($0)", inputSize: width, numExperts: numExperts + numSharedExperts,
                            role: .task($0), layout: layout)
            })
            if j < numLayers - 1 {
                sg.append(SoftmaxGate("levels.\(j).shared_gate", inputSize: width, numExperts: t * numExperts + numSharedExperts,
                                      role: .shared, layout: layout))
            }
            width = expertUnits[expertUnits.count - 1]
        }
        taskExperts = te
        sharedExperts = se
        gates = g
        sharedGates = sg
        towers = TaskTowers(inputSize: width, units: towerUnits, activation: activation, options: options, numTasks: t,
                            layout: layout)
        parameters = context.finalize(layout)
    }

    /// The tutorial's spelling: `PLE(features:expertUnits:numExperts:numLayers:numSharedExperts:taskTypes:)`.
    public convenience init(features: Features, expertUnits: [Int], numExperts: Int, numLayers: Int,
                            numSharedExperts: Int, taskTypes: [TaskType]) {
        self.init(features: features, expertUnits: expertUnits, numExperts: numExperts, numLayers: numLayers,
                  numSharedExperts: numSharedExperts, taskTypes: taskTypes, towerUnits: [])
    }

    public var logits: UnsafeMutablePointer<Float> { caches.logits.base }

    var h: Int { sharedExperts[0].outputSize }

    public func prepare(batch: Int) {
        input.prepare(batch: batch)
        towers.prepare(batch: batch, context: context)
        guard batch > capacity else { return }
        capacity = batch
        let t = numTasks
        var c = Caches()
        c.task = taskExperts.map { $0.map { $0.makeCache(batch: batch, context: context) } }
        c.shared = sharedExperts.map { $0.makeCache(batch: batch, context: context) }
        c.gate = gates.map { $0.map { FloatBuffer(count: batch * $0.numExperts) } }
        c.sharedGate = sharedGates.map { FloatBuffer(count: batch * $0.numExperts) }
        c.out = (0..<numLayers).map { _ in (0..<t).map { _ in FloatBuffer(count: batch * h) } }
        c.outShared = (0..<numLayers).map { _ in FloatBuffer(count: batch * h) }
        c.dOut = (0..<numLayers).map { _ in (0..<t).map { _ in FloatBuffer(count: batch * h) } }
        c.dOutShared = (0..<numLayers).map { _ in FloatBuffer(count: batch * h) }
        c.dTaskExperts = (0..<t).map { _ in FloatBuffer(count: batch * perTask * h) }
        c.dSharedExperts = FloatBuffer(count: batch * shared * h)
        c.dGate = FloatBuffer(count: batch * (t * perTask + shared))
        c.logits = FloatBuffer(count: batch * t)
        caches = c
    }

    /// The input of task k's branch at level j (x at level 0), with its row stride.
    private func taskInput(_ j: Int, _ k: Int) -> (UnsafeMutablePointer<Float>, Int) {
        j == 0 ? (input.x.base, input.width) : (caches.out[j - 1][k].base, h)
    }

    private func sharedInput(_ j: Int) -> (UnsafeMutablePointer<Float>, Int) {
        j == 0 ? (input.x.base, input.width) : (caches.outShared[j - 1].base, h)
    }

    public func forward(sparse: UnsafePointer<Int32>, dense: UnsafePointer<Float>, batch: Int, params: ArenaView) {
        precondition(batch <= capacity, "batch \(batch) exceeds prepared \(capacity)")
        let t = numTasks, nE = perTask, nS = shared, h = self.h
        input.forward(sparse: sparse, dense: dense, batch: batch)
        for j in 0..<numLayers {
            let (xs, lds) = sharedInput(j)
            sharedExperts[j].forward(input: xs, ldx: lds, batch: batch, params: params, cache: caches.shared[j])
            for k in 0..<t {
                let (xk, ldk) = taskInput(j, k)
                taskExperts[j][k].forward(input: xk, ldx: ldk, batch: batch, params: params, cache: caches.task[j][k])
                let g = caches.gate[j][k].base
                gates[j][k].forward(output: g, input: xk, ldx: ldk, batch: batch, params: params)
                ExpertMixture.forward(output: caches.out[j][k].base, ldy: h, experts: caches.task[j][k].output,
                                      layout: caches.task[j][k].outputLayout, gate: g, gateStride: nE + nS,
                                      batch: batch, numExperts: nE, width: h)
                ExpertMixture.forward(output: caches.out[j][k].base, ldy: h, experts: caches.shared[j].output,
                                      layout: caches.shared[j].outputLayout, gate: g + nE, gateStride: nE + nS,
                                      batch: batch, numExperts: nS, width: h, accumulate: true)
            }
            if j < numLayers - 1 {
                let g = caches.sharedGate[j].base, w = t * nE + nS
                sharedGates[j].forward(output: g, input: xs, ldx: lds, batch: batch, params: params)
                for k in 0..<t {
                    ExpertMixture.forward(output: caches.outShared[j].base, ldy: h, experts: caches.task[j][k].output,
                                          layout: caches.task[j][k].outputLayout, gate: g + k * nE, gateStride: w,
                                          batch: batch, numExperts: nE, width: h, accumulate: k > 0)
                }
                ExpertMixture.forward(output: caches.outShared[j].base, ldy: h, experts: caches.shared[j].output,
                                      layout: caches.shared[j].outputLayout, gate: g + t * nE, gateStride: w,
                                      batch: batch, numExperts: nS, width: h, accumulate: true)
            }
        }
        for k in 0..<t {
            towers.forward(task: k, input: caches.out[numLayers - 1][k].base, ldh: h, batch: batch, params: params,
                           logits: logits)
        }
    }

    /// Back-propagates `dLogits`. A task whose column is all zeros (`TaskSet`) gets no
    /// gradient: its tower, its last-level branch (mixture, gate, task experts) and its mixture
    /// and gate one level down are skipped (its experts there still get the shared gate's).
    /// Under a `.perTask` GradNorm tap (W in the last level's shared experts, which only the
    /// task gates of that level read) only the active towers, their mixtures of the shared
    /// experts and the shared experts down to W run.
    public func backward(dLogits: UnsafeMutablePointer<Float>, batch: Int, params: ArenaView, grads: ArenaView,
                         embeddingGrad: SparseRowGradient) {
        let t = numTasks, nE = perTask, nS = shared, h = self.h
        let last = numLayers - 1
        let active = TaskSet(nonZeroColumnsOf: dLogits, batch: batch, tasks: t)
        for k in 0..<t where active.contains(k) {
            towers.backward(task: k, dLogits: dLogits, input: caches.out[last][k].base, ldh: h,
                            dInput: caches.dOut[last][k].base, lddx: h, accumulateInput: false, batch: batch,
                            params: params, grads: grads)
        }
        if context.gradNormTap.isPerTask {
            var first = true
            for k in 0..<t where active.contains(k) {
                ExpertMixture.backward(dExperts: caches.dSharedExperts.base, dGate: caches.dGate.base + nE,
                                       dOutput: caches.dOut[last][k].base, lddy: h, experts: caches.shared[last].output,
                                       layout: caches.shared[last].outputLayout, gate: caches.gate[last][k].base + nE,
                                       gateStride: nE + nS, batch: batch, numExperts: nS, width: h, accumulate: !first)
                first = false
            }
            if first { caches.dSharedExperts.zero() }
            let (xs, lds) = sharedInput(last)
            sharedExperts[last].backward(dOutput: caches.dSharedExperts.base, input: xs, ldx: lds, dInput: nil, lddx: lds,
                                         batch: batch, params: params, grads: grads, cache: caches.shared[last])
            return
        }
        input.dx.base.update(repeating: 0, count: batch * input.width)
        for j in stride(from: last, through: 0, by: -1) {
            // Where this level's input gradients go.
            if j > 0 {
                for k in 0..<t { caches.dOut[j - 1][k].zero() }
                caches.dOutShared[j - 1].zero()
            }
            func dTaskIn(_ k: Int) -> (UnsafeMutablePointer<Float>, Int) {
                j == 0 ? (input.dx.base, input.width) : (caches.dOut[j - 1][k].base, h)
            }
            let dSharedIn: (UnsafeMutablePointer<Float>, Int) = j == 0 ? (input.dx.base, input.width)
                : (caches.dOutShared[j - 1].base, h)
            for k in 0..<t { caches.dTaskExperts[k].zero() }
            caches.dSharedExperts.zero()
            let dg = caches.dGate.base
            // dOut[j][k] of an inactive task is zero at the last level and the one below.
            for k in 0..<t where j < last - 1 || active.contains(k) {
                let g = caches.gate[j][k].base
                let dy = caches.dOut[j][k].base
                ExpertMixture.backward(dExperts: caches.dTaskExperts[k].base, dGate: dg, dOutput: dy, lddy: h,
                                       experts: caches.task[j][k].output, layout: caches.task[j][k].outputLayout,
                                       gate: g, gateStride: nE + nS, batch: batch, numExperts: nE, width: h)
                ExpertMixture.backward(dExperts: caches.dSharedExperts.base, dGate: dg + nE, dOutput: dy, lddy: h,
                                       experts: caches.shared[j].output, layout: caches.shared[j].outputLayout,
                                       gate: g + nE, gateStride: nE + nS, batch: batch, numExperts: nS, width: h)
                let (xk, ldk) = taskInput(j, k)
                let (dxk, lddk) = dTaskIn(k)
                gates[j][k].backward(dGate: dg, gate: g, input: xk, ldx: ldk, dInput: dxk, lddx: lddk, batch: batch,
                                     params: params, grads: grads)
            }
            let (xs, lds) = sharedInput(j)
            if j < last {
                let g = caches.sharedGate[j].base, w = t * nE + nS
                let dy = caches.dOutShared[j].base
                for k in 0..<t {
                    ExpertMixture.backward(dExperts: caches.dTaskExperts[k].base, dGate: dg + k * nE, dOutput: dy, lddy: h,
                                           experts: caches.task[j][k].output, layout: caches.task[j][k].outputLayout,
                                           gate: g + k * nE, gateStride: w, batch: batch, numExperts: nE, width: h)
                }
                ExpertMixture.backward(dExperts: caches.dSharedExperts.base, dGate: dg + t * nE, dOutput: dy, lddy: h,
                                       experts: caches.shared[j].output, layout: caches.shared[j].outputLayout,
                                       gate: g + t * nE, gateStride: w, batch: batch, numExperts: nS, width: h)
                sharedGates[j].backward(dGate: dg, gate: g, input: xs, ldx: lds, dInput: dSharedIn.0, lddx: dSharedIn.1,
                                        batch: batch, params: params, grads: grads)
            }
            // Below the last level every task's experts also feed the shared gate's mixture.
            for k in 0..<t where j < last || active.contains(k) {
                let (xk, ldk) = taskInput(j, k)
                let (dxk, lddk) = dTaskIn(k)
                taskExperts[j][k].backward(dOutput: caches.dTaskExperts[k].base, input: xk, ldx: ldk, dInput: dxk,
                                           lddx: lddk, accumulateInput: true, batch: batch, params: params, grads: grads,
                                           cache: caches.task[j][k])
            }
            sharedExperts[j].backward(dOutput: caches.dSharedExperts.base, input: xs, ldx: lds, dInput: dSharedIn.0,
                                      lddx: dSharedIn.1, accumulateInput: true, batch: batch, params: params, grads: grads,
                                      cache: caches.shared[j])
        }
        input.backward(batch: batch, into: embeddingGrad)
    }

    /// GradNorm's W may be any layer's weight of the last level's shared experts (by default
    /// the last, `levels.<L−1>.shared.experts.<l>.weight`).
    public func supportsGradNormTap(_ weight: TensorID) -> Bool {
        sharedExperts[numLayers - 1].weightTensors.contains(weight)
    }
}
