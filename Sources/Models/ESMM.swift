import Kernels
import Layers

/// Entire Space Multi-task Model: CTR and CVR towers on one shared embedding input, trained
/// on all impressions through pCTCVR = pCTR × pCVR, so CVR is learned without the sample
/// selection bias of training on clicks only.
///
/// ```
/// x = input(ids, dense)                             (B, F·E + D)
/// z_ctr = Tower_0(x),  z_cvr = Tower_1(x)           logits (B, 2)
/// pCTR = σ(z_ctr),  pCVR = σ(z_cvr),  pCTCVR = pCTR · pCVR
/// L = BCE(pCTR, click) + BCE(pCTCVR, click ∧ purchase)        (no direct CVR loss)
/// ```
/// Ma et al., "Entire Space Multi-Task Model: An Effective Approach for Estimating
/// Post-Click Conversion Rate", SIGIR 2018, §2.2–2.3. Labels: column 0 click, column 1
/// purchase (the CTCVR label is derived as click AND purchase, never read). Predictions are
/// (pCTR, pCTCVR); `auxiliaryPredictions` gives pCVR, evaluated on clicked impressions only.
/// Shared: the embeddings; task t: `towers.<t>.*`.
/// GradNorm's W is therefore the touched embedding rows, below which nothing lies to skip:
/// the trainer keeps one full backward pass per task for it (no `GradNormTap`).
public final class ESMM: MultiTaskModel, @unchecked Sendable {
    public let kind = "esmm"
    public let taskTypes: [TaskType] = [.classification, .classification]
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let context = ForwardContext()
    public let input: ModelInput
    /// The CTR tower (task 0) and the CVR tower (task 1).
    public let towers: TaskTowers
    private var logitBuffer = FloatBuffer(count: 0)
    private var dX = FloatBuffer(count: 0)
    private var capacity = 0

    /// Builds the model; `towerUnits` are both towers' hidden widths.
    public init(features: Features, towerUnits: [Int], activation: Activation = .relu, options: MLPOptions = MLPOptions(),
                embeddingInitStd: Float = 1e-4) {
        layout = ParameterLayout(numTasks: 2)
        input = ModelInput(features: features, embeddingInitStd: embeddingInitStd)
        towers = TaskTowers(inputSize: features.inputWidth, units: towerUnits, activation: activation, options: options,
                            numTasks: 2, layout: layout)
        parameters = context.finalize(layout)
    }

    /// The tutorial's spelling: `ESMM(features:hiddenUnits:towerUnits:embeddingDim:)`, where the
    /// towers' widths are `hiddenUnits` followed by `towerUnits` and every field is embedded
    /// with width `embeddingDim`.
    public convenience init(features: Features, hiddenUnits: [Int], towerUnits: [Int], embeddingDim: Int) {
        var f = features
        f.embeddingDim = embeddingDim
        self.init(features: f, towerUnits: hiddenUnits + towerUnits)
    }

    public var logits: UnsafeMutablePointer<Float> { logitBuffer.base }

    public func prepare(batch: Int) {
        input.prepare(batch: batch)
        towers.prepare(batch: batch, context: context)
        guard batch > capacity else { return }
        capacity = batch
        logitBuffer = FloatBuffer(count: batch * 2)
    }

    public func forward(sparse: UnsafePointer<Int32>, dense: UnsafePointer<Float>, batch: Int, params: ArenaView) {
        precondition(batch <= capacity, "batch \(batch) exceeds prepared \(capacity)")
        input.forward(sparse: sparse, dense: dense, batch: batch)
        for t in 0..<2 {
            towers.forward(task: t, input: input.x.base, ldh: input.width, batch: batch, params: params, logits: logits)
        }
    }

    public func backward(dLogits: UnsafeMutablePointer<Float>, batch: Int, params: ArenaView, grads: ArenaView,
                         embeddingGrad: SparseRowGradient) {
        // A tower whose logit column is all zeros (the CTR tower in the CTCVR loss's per-task
        // pass is not one: that loss reaches both logits) adds nothing and is skipped.
        let active = TaskSet(nonZeroColumnsOf: dLogits, batch: batch, tasks: 2)
        var first = true
        for t in 0..<2 where active.contains(t) {
            towers.backward(task: t, dLogits: dLogits, input: input.x.base, ldh: input.width, dInput: input.dx.base,
                            lddx: input.width, accumulateInput: !first, batch: batch, params: params, grads: grads)
            first = false
        }
        if first { input.dx.base.update(repeating: 0, count: batch * input.width) }
        input.backward(batch: batch, into: embeddingGrad)
    }

    /// Task 0: BCE of pCTR against click (on the logit). Task 1: BCE of pCTCVR = pCTR·pCVR
    /// against click ∧ purchase, as `torch.nn.BCELoss` computes it (log p and log1p(−p)
    /// clamped at −100, its backward (p − y)/max(p(1 − p), 1e-12)); the gradient reaches both
    /// logits:
    ///
    /// ```
    /// p = a·c, a = σ(z_ctr), c = σ(z_cvr)
    /// ∂ℓ/∂z_ctr = (∂ℓ/∂p)·a(1−a)·c     ∂ℓ/∂z_cvr = (∂ℓ/∂p)·c(1−c)·a
    /// ```
    /// Positive weights and sample-space masks do not apply (ESMM's point is the entire space).
    public func loss(labels: UnsafePointer<Float>, batch: Int, options: LossOptions,
                     dLogits blocks: UnsafeMutablePointer<Float>, lossSums: UnsafeMutablePointer<Double>) {
        blocks.update(repeating: 0, count: 2 * batch * 2)
        let ctr = blocks, ctcvr = blocks + batch * 2
        let s0 = options.scales[0], s1 = options.scales[1]
        var sumCTR = 0.0, sumCTCVR = 0.0
        for b in 0..<batch {
            let z1 = logits[b * 2], z2 = logits[b * 2 + 1]
            let click = labels[b * 2], y = click * labels[b * 2 + 1]
            let az = abs(z1)
            sumCTR += Double(max(z1, 0) - z1 * click + ScalarMath.log1p(ScalarMath.exp(-az)))
            let a = ScalarMath.sigmoid(z1), c = ScalarMath.sigmoid(z2)
            ctr[b * 2] = (a - click) * s0
            let p = a * c
            let logP = max(ScalarMath.log(p), -100), log1mP = max(ScalarMath.log1p(-p), -100)
            sumCTCVR -= Double(y * logP + (1 - y) * log1mP)
            let dp: Float = (p - y) / max(p * (1 - p), 1e-12)
            ctcvr[b * 2] = dp * a * (1 - a) * c * s1
            ctcvr[b * 2 + 1] = dp * c * (1 - c) * a * s1
        }
        lossSums[0] = sumCTR
        lossSums[1] = sumCTCVR
    }

    /// (pCTR, pCTCVR) per row.
    public func predictions(batch: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<batch {
            let a = ScalarMath.sigmoid(logits[b * 2]), c = ScalarMath.sigmoid(logits[b * 2 + 1])
            out[b * 2] = a
            out[b * 2 + 1] = a * c
        }
    }

    public var auxiliaryMetrics: [AuxiliaryMetric] {
        [AuxiliaryMetric(name: "cvr", output: 0, label: 1, onlyWhereLabel: 0)]
    }

    /// pCVR per row, (B, 1).
    public func auxiliaryPredictions(batch: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<batch { out[b] = ScalarMath.sigmoid(logits[b * 2 + 1]) }
    }
}
