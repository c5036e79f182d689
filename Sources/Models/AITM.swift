import Kernels
import Layers

/// Adaptive Information Transfer Multi-task: a tower per task on the shared embeddings, and
/// from each task to the next an adaptive information transfer (AIT) module that attends
/// over what the previous task transfers and what the current task's tower found; a
/// behavioural expectation calibrator keeps a later task's probability below the earlier's.
///
/// ```
/// q_t = Tower_t(x) ∈ ℝ^d                z_0 = q_0
/// p_t = ReLU(Transfer_t(z_{t−1}))       (t ≥ 1)
/// w_u = softmax_u(⟨h1(u), h2(u)⟩ / √d),  u ∈ {p_t, q_t};   z_t = Σ_u w_u · h3(u)
/// logit_t = Head_t(z_t)
/// L = Σ_t BCE(σ(logit_t), y_t) + α · (1/B) Σ_b Σ_{t≥1} max(σ(logit_t) − σ(logit_{t−1}), 0)
/// ```
/// Xi et al., "Modeling the Sequential Dependence among Audience Multi-step Conversions with
/// Multi-task Learning in Targeted Display Advertising", KDD 2021, §3.2–3.4 (eq. 1–6).
/// The calibrator term of the pair (t−1, t) belongs to task t's loss. Shared: the embeddings;
/// task t: `towers.<t>.*`, `transfer.<t>.*`, `ait.<t>.*`, `heads.<t>.*`.
/// GradNorm's W is therefore the touched embedding rows, below which nothing lies to skip:
/// the trainer keeps one full backward pass per task for it (no `GradNormTap`).
public final class AITM: MultiTaskModel, @unchecked Sendable {
    public let kind = "aitm"
    public let taskTypes: [TaskType]
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let context = ForwardContext()
    public let input: ModelInput
    /// Each task's tower (no output layer): q_t.
    public let towers: [MLP]
    /// Transfer_t (t ≥ 1; index 0 unused).
    public let transfers: [Linear]
    /// AIT's query, key and value maps per task (t ≥ 1).
    public let query: [Linear], key: [Linear], value: [Linear]
    /// Each task's output head.
    public let heads: [Linear]
    /// The calibrator weight α.
    public let alpha: Float
    let d: Int
    private var towerCaches: [MLPCache] = []
    private var z: [FloatBuffer] = [], dz: [FloatBuffer] = []
    private var p: [FloatBuffer] = []            // (B, d): ReLU(transfer) per task
    private var pq: [FloatBuffer] = []           // (2B, d): [p_t ; q_t]
    private var qkv: [(FloatBuffer, FloatBuffer, FloatBuffer)] = []   // (2B, d) each
    private var attention: [FloatBuffer] = []    // (B, 2): w_p, w_q
    private var dPQ = FloatBuffer(count: 0), dQ = FloatBuffer(count: 0), dK = FloatBuffer(count: 0)
    private var dV = FloatBuffer(count: 0), dQuery = FloatBuffer(count: 0), dHead = FloatBuffer(count: 0)
    private var logitBuffer = FloatBuffer(count: 0)
    private var capacity = 0
    /// The calibrator's sum over the last `loss` call (α included), for reports.
    public private(set) var lastCalibratorSum = 0.0

    /// Builds the model; `towerUnits`' last width is d, the width of every AIT vector.
    public init(features: Features, towerUnits: [Int], numTasks: Int = 2, alpha: Float = 0.6,
                activation: Activation = .relu, options: MLPOptions = MLPOptions(), embeddingInitStd: Float = 1e-4) {
        precondition(!towerUnits.isEmpty && numTasks >= 1, "AITM needs tower units and tasks")
        precondition(alpha >= 0, "calibrator weight must be ≥ 0, got \(alpha)")
        taskTypes = Array(repeating: .classification, count: numTasks)
        self.alpha = alpha
        d = towerUnits[towerUnits.count - 1]
        let layout = ParameterLayout(numTasks: numTasks)
        self.layout = layout
        input = ModelInput(features: features, embeddingInitStd: embeddingInitStd)
        let width = features.inputWidth, d = self.d
        towers = (0..<numTasks).map {
            MLP("towers.\($0)", inputSize: width, units: towerUnits, activation: activation, options: options,
                role: .task($0), layout: layout)
        }
        var tr: [Linear] = [], qu: [Linear] = [], ke: [Linear] = [], va: [Linear] = []
        for t in 0..<numTasks where t >= 1 {
            tr.append(Linear("transfer.\(t)", inputSize: d, outputSize: d, role: .task(t), layout: layout))
            qu.append(Linear("ait.\(t).query", inputSize: d, outputSize: d, role: .task(t), layout: layout))
            ke.append(Linear("ait.\(t).key", inputSize: d, outputSize: d, role: .task(t), layout: layout))
            va.append(Linear("ait.\(t).value", inputSize: d, outputSize: d, role: .task(t), layout: layout))
        }
        transfers = tr
        query = qu
        key = ke
        value = va
        heads = (0..<numTasks).map { Linear("heads.\($0)", inputSize: d, outputSize: 1, role: .task($0), layout: layout) }
        parameters = context.finalize(layout)
    }

    public var logits: UnsafeMutablePointer<Float> { logitBuffer.base }

    public func prepare(batch: Int) {
        input.prepare(batch: batch)
        guard batch > capacity else { return }
        capacity = batch
        let t = numTasks
        towerCaches = towers.map { $0.makeCache(batch: batch, context: context) }
        z = (0..<t).map { _ in FloatBuffer(count: batch * d) }
        dz = (0..<t).map { _ in FloatBuffer(count: batch * d) }
        p = (0..<t).map { _ in FloatBuffer(count: batch * d) }
        pq = (0..<t).map { _ in FloatBuffer(count: 2 * batch * d) }
        qkv = (0..<t).map { _ in (FloatBuffer(count: 2 * batch * d), FloatBuffer(count: 2 * batch * d), FloatBuffer(count: 2 * batch * d)) }
        attention = (0..<t).map { _ in FloatBuffer(count: batch * 2) }
        for b in [\AITM.dPQ, \AITM.dQ, \AITM.dK, \AITM.dV, \AITM.dQuery] { self[keyPath: b] = FloatBuffer(count: 2 * batch * d) }
        dHead = FloatBuffer(count: batch)
        logitBuffer = FloatBuffer(count: batch * t)
    }

    public func forward(sparse: UnsafePointer<Int32>, dense: UnsafePointer<Float>, batch: Int, params: ArenaView) {
        precondition(batch <= capacity, "batch \(batch) exceeds prepared \(capacity)")
        let t = numTasks, d = self.d, scale = 1 / Float(d).squareRoot()
        input.forward(sparse: sparse, dense: dense, batch: batch)
        for k in 0..<t {
            towers[k].forward(input: input.x.base, ldx: input.width, batch: batch, params: params, cache: towerCaches[k])
            let q = towerCaches[k].output
            if k == 0 {
                z[0].base.update(from: q, count: batch * d)
            } else {
                let i = k - 1
                transfers[i].forward(output: p[k].base, ldy: d, input: z[k - 1].base, ldx: d, batch: batch, params: params)
                Activation.relu.forward(p[k].base, count: batch * d)
                let both = pq[k].base
                both.update(from: p[k].base, count: batch * d)
                (both + batch * d).update(from: q, count: batch * d)
                let (qq, kk, vv) = qkv[k]
                query[i].forward(output: qq.base, ldy: d, input: both, ldx: d, batch: 2 * batch, params: params)
                key[i].forward(output: kk.base, ldy: d, input: both, ldx: d, batch: 2 * batch, params: params)
                value[i].forward(output: vv.base, ldy: d, input: both, ldx: d, batch: 2 * batch, params: params)
                let w = attention[k].base, out = z[k].base
                for b in 0..<batch {
                    let sp = Float(Ops.dot(d, qq.base + b * d, kk.base + b * d)) * scale
                    let sq = Float(Ops.dot(d, qq.base + (batch + b) * d, kk.base + (batch + b) * d)) * scale
                    let m = max(sp, sq)
                    let ep = ScalarMath.exp(sp - m), eq = ScalarMath.exp(sq - m)
                    let wp = ep / (ep + eq), wq = eq / (ep + eq)
                    w[b * 2] = wp
                    w[b * 2 + 1] = wq
                    let vp = vv.base + b * d, vq = vv.base + (batch + b) * d, o = out + b * d
                    for j in 0..<d { o[j] = wp * vp[j] + wq * vq[j] }
                }
            }
            heads[k].forward(output: dHead.base, ldy: 1, input: z[k].base, ldx: d, batch: batch, params: params)
            for b in 0..<batch { logits[b * t + k] = dHead.base[b] }
        }
    }

    /// BCE per task on its logit; task t ≥ 1 also carries α·max(σ(l_t) − σ(l_{t−1}), 0), whose
    /// gradient reaches logits t and t − 1.
    public func loss(labels: UnsafePointer<Float>, batch: Int, options: LossOptions,
                     dLogits blocks: UnsafeMutablePointer<Float>, lossSums: UnsafeMutablePointer<Double>) {
        let t = numTasks
        blocks.update(repeating: 0, count: t * batch * t)
        var calibrator = 0.0
        for task in 0..<t {
            let dl = blocks + task * batch * t
            lossSums[task] = Losses.weightedBinaryCrossEntropyWithLogits(
                logits: logits, labels: labels, mask: options.masks, dLogits: dl, batch: batch, tasks: t, task: task,
                scale: options.scales[task], positiveWeight: options.positiveWeights[task])
            guard task >= 1, alpha > 0 else { continue }
            let s = options.scales[task]
            for b in 0..<batch {
                let hi = ScalarMath.sigmoid(logits[b * t + task]), lo = ScalarMath.sigmoid(logits[b * t + task - 1])
                guard hi > lo else { continue }
                let term = Double(alpha * (hi - lo))
                lossSums[task] += term
                calibrator += term
                dl[b * t + task] += alpha * hi * (1 - hi) * s
                dl[b * t + task - 1] -= alpha * lo * (1 - lo) * s
            }
        }
        lastCalibratorSum = calibrator
    }

    public func backward(dLogits: UnsafeMutablePointer<Float>, batch: Int, params: ArenaView, grads: ArenaView,
                         embeddingGrad: SparseRowGradient) {
        let t = numTasks, d = self.d, scale = 1 / Float(d).squareRoot()
        // Heads first (every dz_t gets its head's gradient), then the AIT chain from the last task.
        for k in 0..<t {
            for b in 0..<batch { dHead.base[b] = dLogits[b * t + k] }
            heads[k].backward(dInput: dz[k].base, lddx: d, dOutput: dHead.base, lddy: 1, input: z[k].base, ldx: d,
                              batch: batch, params: params, grads: grads)
        }
        input.dx.base.update(repeating: 0, count: batch * input.width)
        for k in stride(from: t - 1, through: 0, by: -1) {
            let dq: UnsafeMutablePointer<Float>
            if k == 0 {
                dq = dz[0].base
            } else {
                let i = k - 1
                let (qq, kk, vv) = qkv[k]
                let w = attention[k].base
                let g = dz[k].base
                // z = w_p V_p + w_q V_q: dV_u = w_u dz; dw_u = ⟨V_u, dz⟩; softmax; d(score)/dQ = K/√d, /dK = Q/√d.
                for b in 0..<batch {
                    let wp = w[b * 2], wq = w[b * 2 + 1]
                    let vp = vv.base + b * d, vq = vv.base + (batch + b) * d, gz = g + b * d
                    let dwp = Float(Ops.dot(d, vp, gz)), dwq = Float(Ops.dot(d, vq, gz))
                    let dot = wp * dwp + wq * dwq
                    let dsp = wp * (dwp - dot) * scale, dsq = wq * (dwq - dot) * scale
                    for j in 0..<d {
                        dV.base[b * d + j] = wp * gz[j]
                        dV.base[(batch + b) * d + j] = wq * gz[j]
                        dQuery.base[b * d + j] = dsp * kk.base[b * d + j]
                        dQuery.base[(batch + b) * d + j] = dsq * kk.base[(batch + b) * d + j]
                        dK.base[b * d + j] = dsp * qq.base[b * d + j]
                        dK.base[(batch + b) * d + j] = dsq * qq.base[(batch + b) * d + j]
                    }
                }
                let both = pq[k].base
                value[i].backward(dInput: dPQ.base, lddx: d, dOutput: dV.base, lddy: d, input: both, ldx: d,
                                  batch: 2 * batch, params: params, grads: grads)
                query[i].backward(dInput: dPQ.base, lddx: d, accumulateInput: true, dOutput: dQuery.base, lddy: d,
                                  input: both, ldx: d, batch: 2 * batch, params: params, grads: grads)
                key[i].backward(dInput: dPQ.base, lddx: d, accumulateInput: true, dOutput: dK.base, lddy: d,
                                input: both, ldx: d, batch: 2 * batch, params: params, grads: grads)
                // dPQ = [dp ; dq]: dp flows through ReLU and the transfer into dz_{k−1}.
                let dp = dPQ.base
                Activation.relu.backward(output: p[k].base, gradient: dp, count: batch * d)
                transfers[i].backward(dInput: dz[k - 1].base, lddx: d, accumulateInput: true, dOutput: dp, lddy: d,
                                      input: z[k - 1].base, ldx: d, batch: batch, params: params, grads: grads)
                dq = dPQ.base + batch * d
            }
            towers[k].backward(dOutput: dq, input: input.x.base, ldx: input.width, dInput: input.dx.base,
                               lddx: input.width, accumulateInput: true, batch: batch, params: params, grads: grads,
                               cache: towerCaches[k])
        }
        input.backward(batch: batch, into: embeddingGrad)
    }
}
