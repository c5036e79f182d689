import Kernels
import Layers

/// A multi-task model with hand-written forward and backward passes over a parameter arena.
///
/// The trainer owns the arenas (parameters, gradients, optimizer state) laid out by
/// `layout`, and the embedding tables live in `input.embeddings`. A step is:
/// `forward` → `loss` (fills dLogits) → `backward` (adds into the gradients).
public protocol MultiTaskModel: AnyObject, Sendable {
    /// A short name of the architecture (`mmoe`, `shared_bottom`, …).
    var kind: String { get }
    /// Loss type of each of the T tasks.
    var taskTypes: [TaskType] { get }
    /// The layout of the dense parameters.
    var layout: ParameterLayout { get }
    /// The dense parameters, laid out by `layout`.
    var parameters: FloatBuffer { get }
    /// The embedding input.
    var input: ModelInput { get }
    /// The model's outputs after `forward`: one logit (or regression value) per task, (B, T).
    var logits: UnsafeMutablePointer<Float> { get }
    /// Training or inference mode, batch-norm running statistics, dropout seeding.
    var context: ForwardContext { get }

    /// Allocates every per-batch buffer for up to `batch` rows (no-op when already large enough).
    func prepare(batch: Int)

    /// Computes `logits` (B, T). - sparse: (B, F) ids;  dense: (B, D).
    func forward(sparse: UnsafePointer<Int32>, dense: UnsafePointer<Float>, batch: Int, params: ArenaView)

    /// Back-propagates `dLogits` (B, T) (may be overwritten): adds the dense parameter
    /// gradients into `grads` and the embedding gradients into `embeddingGrad`.
    func backward(dLogits: UnsafeMutablePointer<Float>, batch: Int, params: ArenaView, grads: ArenaView,
                  embeddingGrad: SparseRowGradient)

    /// Each task's prediction from the last `forward`, (B, T).
    func predictions(batch: Int, into out: UnsafeMutablePointer<Float>)

    /// Extra evaluated outputs beside the tasks (ESMM's pCVR), with how each is scored.
    var auxiliaryMetrics: [AuxiliaryMetric] { get }

    /// The extra outputs of the last `forward`, (B, auxiliaryMetrics.count).
    func auxiliaryPredictions(batch: Int, into out: UnsafeMutablePointer<Float>)

    /// Per-task loss sums of the last `forward` against `labels` (B, T), and each task's
    /// gradient with respect to all the logits: `dLogits` holds T blocks of (B, T), block t
    /// being `scales[t] × ∂(task t's loss sum)/∂logits`. The default treats tasks as
    /// independent (block t is zero but for column t: BCE or squared error); models whose
    /// task losses share outputs (ESMM's pCTCVR = pCTR × pCVR, AITM's calibrator) override it.
    func loss(labels: UnsafePointer<Float>, batch: Int, options: LossOptions,
              dLogits: UnsafeMutablePointer<Float>, lossSums: UnsafeMutablePointer<Double>)

    /// Whether `backward` honours a `GradNormTap` on `weight` (GradNorm's W): true for the
    /// weight of a layer of the model's last shared block, the block only the task heads
    /// read, whose per-task gradient needs no layer below it. False for ESMM and AITM, whose
    /// only shared parameters are the embeddings (the default).
    func supportsGradNormTap(_ weight: TensorID) -> Bool
}

extension MultiTaskModel {
    /// T, the number of tasks.
    public var numTasks: Int { taskTypes.count }
    /// The embedding tables.
    public var embeddings: FieldEmbeddings { input.embeddings }
    /// The features the model reads.
    public var features: Features { input.features }
    /// No extra outputs by default.
    public var auxiliaryMetrics: [AuxiliaryMetric] { [] }

    /// No extra outputs by default.
    public func auxiliaryPredictions(batch: Int, into out: UnsafeMutablePointer<Float>) {}

    /// No GradNorm tap by default.
    public func supportsGradNormTap(_ weight: TensorID) -> Bool { false }

    /// A view of `parameters` for `forward` and `backward`.
    public var parameterView: ArenaView { layout.view(parameters) }

    /// Draws the initial dense parameters, then the embeddings, from `rng`.
    public func initialize(rng: inout SeededRandom) {
        layout.initialize(parameters, rng: &rng)
        embeddings.initialize(rng: &rng)
    }

    /// Draws the initial parameters from a generator seeded with `seed`.
    public func initialize(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        initialize(rng: &rng)
    }

    /// The shared and task-specific dense tensors (DESIGN.md §2); embeddings are shared.
    public func sharedTaskLayers() -> (shared: [TensorSpec], task: [[TensorSpec]]) {
        let shared = layout.tensors.filter { $0.role == .shared }
        let task = (0..<numTasks).map { t in layout.tensors.filter { $0.role == .task(t) } }
        return (shared, task)
    }

    /// Per-task losses of the last `forward` against `labels` (B, T), every task with gradient
    /// scale `scale` and weight 1: `dLogits` (B, T) receives ∂(Σ_t loss_t)/∂logits × scale.
    /// (A convenience for tests and tools; the trainer uses the per-task blocks.)
    public func loss(labels: UnsafePointer<Float>, batch: Int, scale: Float,
                     dLogits: UnsafeMutablePointer<Float>, lossSums: UnsafeMutablePointer<Double>) {
        let t = numTasks
        let scales = [Float](repeating: scale, count: t), ones = [Float](repeating: 1, count: t)
        var blocks = [Float](repeating: 0, count: t * batch * t)
        scales.withUnsafeBufferPointer { sp in
            ones.withUnsafeBufferPointer { op in
                blocks.withUnsafeMutableBufferPointer { bp in
                    loss(labels: labels, batch: batch,
                         options: LossOptions(scales: sp.baseAddress!, positiveWeights: op.baseAddress!, masks: nil),
                         dLogits: bp.baseAddress!, lossSums: lossSums)
                }
            }
        }
        for i in 0..<(batch * t) {
            var g: Float = 0
            for task in 0..<t { g += blocks[task * batch * t + i] }
            dLogits[i] = g
        }
    }

    /// Per-task losses with scales, positive weights and masks (see `LossOptions`).
    public func loss(labels: UnsafePointer<Float>, batch: Int, options: LossOptions,
                     dLogits blocks: UnsafeMutablePointer<Float>, lossSums: UnsafeMutablePointer<Double>) {
        let t = numTasks
        blocks.update(repeating: 0, count: t * batch * t)
        for task in 0..<t {
            let dLogits = blocks + task * batch * t
            switch taskTypes[task] {
            case .classification:
                lossSums[task] = Losses.weightedBinaryCrossEntropyWithLogits(
                    logits: logits, labels: labels, mask: options.masks, dLogits: dLogits, batch: batch, tasks: t,
                    task: task, scale: options.scales[task], positiveWeight: options.positiveWeights[task])
            case .regression:
                lossSums[task] = Losses.squaredError(
                    outputs: logits, labels: labels, dOutputs: dLogits, batch: batch, tasks: t, task: task,
                    scale: options.scales[task])
                if let m = options.masks {
                    var masked = 0.0
                    for i in 0..<batch {
                        let k = i * t + task
                        dLogits[k] *= m[k]
                        let d = Double(logits[k] - labels[k])
                        masked += Double(m[k]) * d * d
                    }
                    lossSums[task] = masked
                }
            }
        }
    }

    /// Each task's prediction from the last `forward`, (B, T): a probability for
    /// classification tasks, the raw value for regression tasks.
    public func predictions(batch: Int, into out: UnsafeMutablePointer<Float>) {
        let t = numTasks
        for b in 0..<batch {
            for task in 0..<t {
                let z = logits[b * t + task]
                out[b * t + task] = taskTypes[task] == .classification ? ScalarMath.sigmoid(z) : z
            }
        }
    }
}
