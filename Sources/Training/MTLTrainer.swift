import Collectives
import Foundation
import Datasets
import Kernels
import Layers
import Models

/// Trains a multi-task model data-parallel (DESIGN.md §4): every rank runs the same steps
/// on its slice of each global batch; gradients and per-task loss sums are all-reduced;
/// every rank applies the same update, so replicas stay identical.
///
/// ```
/// L_t = (1/B) Σ_{samples of the global batch} ℓ_t          L = Σ_t w_t · L_t
/// ```
///
/// The backward phase by strategy:
/// - fixed, uncertainty: one pass of Σ_t w_t L_t.
/// - GradNorm (W one layer's weight of the last shared block: SharedBottom, MMoE, PLE): the
///   weights are known before the step, so one combined pass gives every gradient but W's
///   weight product; then per task only its head down to W's output and dW_i = dZ_iᵀ·X
///   (`GradNormTap`); W's gradient is Σ_i w_i dW_i after the all-reduce, which carries the
///   (T, |W|) per-task gradients with the dense gradient, so GradNorm reads global norms.
///   ESMM and AITM share only embeddings (W = their touched rows): nothing lies below W to
///   skip, so they keep one full pass per task, as does a W no model can tap.
/// - MetaBalance, and monitored steps: one full pass per task (`perTaskBackward`).
public final class MTLTrainer: @unchecked Sendable {
    /// The model being trained.
    public let model: any MultiTaskModel
    /// The optimizer.
    public let optimizer: Adam
    /// How many passes over the training split.
    public let epochs: Int
    /// The global batch size B (summed over ranks).
    public let batchSize: Int
    /// How the tasks' losses and gradients are combined (fixed weights by default).
    public let taskWeighting: TaskWeighting
    /// The learning rate of each task's own parameters (the base rate where not given): the
    /// optimizer's task parameter groups', which own them.
    public var taskLearningRates: [Float] { optimizer.parameterGroups.dropFirst().map(\.learningRate) }
    /// The ranks taking part.
    public let communicator: any Communicator
    /// Seed of the per-epoch data permutation.
    public let seed: UInt64
    /// Task names for reports (default `task0`, `task1`, …; `fit` uses the label names).
    public var taskNames: [String]
    /// Rows per scoring batch during evaluation.
    public var evaluationBatchSize = 4096
    /// Called on rank 0 with each report line (epoch summaries); default prints.
    public var log: (String) -> Void = { printLine($0) }
    /// The progress line (rank 0); nil for silence.
    public var progressLine: ProgressLine? = ProgressLine()
    /// Where training stands (restored from a checkpoint to resume).
    public var progress = TrainingProgress()
    /// Call `onCheckpoint(.step)` every this many steps (0 = never); epoch ends always call it.
    public var checkpointEvery = 0
    /// Called at checkpoint moments on every rank (rank 0 writes).
    public var onCheckpoint: ((MTLTrainer, CheckpointMoment) throws -> Void)?
    /// The task whose validation AUC drives early stopping (nil = no early stopping).
    public var earlyStopTask: Int?
    /// Epochs without improvement before stopping.
    public var patience = 2
    /// The best epoch's weights (parameters, embeddings) and model state (batch norm's running
    /// statistics), kept while early stopping is on.
    public private(set) var bestWeights: (parameters: FloatBuffer, embeddings: FloatBuffer, state: FloatBuffer)?
    /// The newest checkpoint written, named in divergence errors.
    public var lastCheckpoint: String?
    /// Steps taken so far: `progress.globalStep`, the one step count (checkpoints, the run
    /// log, dropout seeds and `maxSteps` read it; a resume restores it).
    public var globalStep: Int { progress.globalStep }
    /// Stop after this many steps in total (0 = no limit).
    public var maxSteps = 0
    /// Skip each epoch's last, partial batch (as `DataLoader(drop_last=True)`): for batch
    /// normalisation, whose statistics over one row per rank are degenerate.
    public var dropLast = false

    /// Polled after every step: a signal number (SIGINT, SIGTERM) when the process was asked to
    /// stop, else 0. On a request (on any rank) every rank finishes the step, a checkpoint is
    /// offered and `fit` throws `TrainingInterrupted`. Nil: never polled.
    public var stopRequest: (() -> Int32)?

    /// The stop request of any rank (SIGTERM over SIGINT over SIGUSR1 over any other), agreed by
    /// all ranks with one 32-byte all-reduce per step when a request can arrive; nil when none.
    func stopSignalOnEveryRank() throws -> Int32? {
        guard let stopRequest else { return nil }
        let mine = stopRequest()
        let known: [Int32] = [SIGTERM, SIGINT, SIGUSR1]
        for (i, s) in known.enumerated() { stopVotes[i] = mine == s ? 1 : 0 }
        stopVotes[3] = mine != 0 && !known.contains(mine) ? 1 : 0
        if communicator.size > 1 { try communicator.allReduceSum(stopVotes, count: 4) }
        if let i = known.indices.first(where: { stopVotes[$0] > 0 }) { return known[i] }
        return stopVotes[3] > 0 ? (mine != 0 ? mine : SIGTERM) : nil
    }

    /// After a stop's checkpoint: rank 0 tells every rank whether it wrote one at this step
    /// (an all-reduce, so no rank leaves, and ends the job, while rank 0 is still writing).
    /// - Throws: a communication failure.
    private func checkpointWrittenOnRoot(since before: String?) throws -> Bool {
        let wrote = communicator.isRoot && onCheckpoint != nil && lastCheckpoint != nil && lastCheckpoint != before
        guard communicator.size > 1 else { return wrote }
        stopVotes[0] = wrote ? 1 : 0
        try communicator.allReduceSum(stopVotes, count: 1)
        return stopVotes[0] > 0
    }

    private let stopVotes: UnsafeMutablePointer<Double> = {
        let p = UnsafeMutablePointer<Double>.allocate(capacity: 4)
        p.initialize(repeating: 0, count: 4)
        return p
    }()

    /// Compare a checksum of every rank's parameters every this many steps (0 = never);
    /// a difference stops training with an error naming the step.
    public var replicaCheckEvery = 0
    /// Wall time spent inside collective calls during training steps.
    public private(set) var communicationSeconds = 0.0
    /// Wall time of all training steps.
    public private(set) var stepSeconds = 0.0
    /// Times each phase of every step while set (`rechub bench --profile`).
    public var profiler: StepProfiler? {
        didSet { GEMMProfile.enabled = profiler != nil }
    }
    /// Compute each task's shared gradient separately every this many steps, to report the
    /// cosine similarity between tasks' gradients (0 = never). These steps take one full
    /// backward pass per task whatever the strategy.
    public var monitorEvery = 0
    /// Report every this many steps through `onStep` (0 = only monitored steps).
    public var logEvery = 0
    /// Called on rank 0 from `fit` after every `logEvery`-th step, every monitored step and
    /// each epoch's last step (the run's `train_log.jsonl` and TensorBoard curves); an error stops training.
    public var onStep: ((StepReport) throws -> Void)?
    /// Called on rank 0 from `fit` after each epoch's validation, with the global step.
    public var onEpoch: ((EpochRecord, _ step: Int) throws -> Void)?
    /// The column (in the data's label columns) whose value 1 marks task t's sample space
    /// (PLE §4.3), or nil for every sample.
    public var sampleSpaces: [Int?]
    /// Positive-class weight of each task (1 = none).
    public var positiveWeights: [Float] {
        get { Array(UnsafeBufferPointer(start: posWeights, count: model.numTasks)) }
        set {
            precondition(newValue.count == model.numTasks, "\(newValue.count) positive weights for \(model.numTasks) tasks")
            for i in 0..<newValue.count { posWeights[i] = newValue[i] }
        }
    }
    /// The last monitored cosine similarities between task gradients, pairs (0,1), (0,2), …, (1,2), ….
    public private(set) var lastCosines: [Double] = []

    /// The gradient arena (layout.count floats), followed on GradNorm's fast path by the
    /// per-task gradients of W, (T, |W|): one buffer, so one all-reduce carries both.
    private let grads: FloatBuffer
    /// GradNorm's W when the fast path applies: one tensor the model can tap (`GradNormTap`).
    private let gradNormW: (id: TensorID, offset: Int, count: Int)?
    /// Runs GradNorm with one full backward pass per task, as before the fast path (tests
    /// compare the two).
    var forceFullPerTaskPasses = false
    private var warnedGradNormFloor = false
    /// Whether GradNorm steps that are not monitored take the fast path.
    var usesGradNormFastPath: Bool { gradNormW != nil && !forceFullPerTaskPasses }
    /// The per-task path's task-parameter gradients: Σ_i w_i ∇L_i over the passes (reduced
    /// in `perTaskReduce`'s tail), and one pass's when the weights differ.
    private var perTaskTaskScratch: FloatBuffer?
    private let embeddingGrad: SparseRowGradient
    /// `[embeddingGrad]`, made once (an array literal per step would allocate).
    private let embeddingGradList: [SparseRowGradient]
    private let localCapacity: Int
    private let sparse: Int32Buffer
    private let dense: FloatBuffer
    private var rawLabels: FloatBuffer
    private let labels: FloatBuffer
    private let masks: FloatBuffer
    private let dLogits: FloatBuffer
    private let dLogitsBlocks: FloatBuffer
    private let lossSums: UnsafeMutablePointer<Double>
    private let counts: UnsafeMutablePointer<Double>
    private let scales: UnsafeMutablePointer<Float>
    private let posWeights: UnsafeMutablePointer<Float>
    private var perTaskReduce: FloatBuffer?
    /// The task-parameter part of `perTaskReduce`, indexed by the full arena offset.
    private var perTaskTaskPart: UnsafeMutablePointer<Float> {
        perTaskReduce!.base + model.numTasks * model.layout.sharedCount - model.layout.sharedCount
    }
    /// Whether this step's batch has sample-space masks.
    private var usesMasks = false
    private var perTaskEmbedding: [SparseRowGradient] = []
    private var cosineSums: [Double] = []
    private var cosineCount = 0
    private var permutation: [Int] = []
    private let exchange: EmbeddingExchange?
    private var checksums: [UInt64]

    /// Binds the optimizer to the model and allocates every per-step buffer once.
    /// - taskSpecificLR: per task, its own learning rate or nil for the base rate.
    /// - taskWeighting: the strategy; `taskWeights` alone means fixed weights.
    public init(model: any MultiTaskModel, optimizer: Adam, epochs: Int, batchSize: Int = 1024,
                taskWeighting: TaskWeightingMethod? = nil, taskWeights: [Float]? = nil, taskSpecificLR: [Float?]? = nil,
                communicator: any Communicator = LocalCommunicator(), seed: UInt64 = 0) {
        let t = model.numTasks
        precondition(epochs >= 0, "epochs must be ≥ 0, got \(epochs)")
        precondition(batchSize >= communicator.size, "batch \(batchSize) smaller than \(communicator.size) ranks")
        precondition(batchSize % communicator.size == 0,
                     "global batch \(batchSize) is not divisible by \(communicator.size) ranks")
        precondition(taskWeights == nil || taskWeights!.count == t, "\(taskWeights!.count) task weights for \(t) tasks")
        precondition(taskWeighting == nil || taskWeights == nil || taskWeighting == .fixed(taskWeights),
                     "task weights go with the fixed strategy only")
        let specific = taskSpecificLR ?? Array(repeating: nil, count: t)
        precondition(specific.count == t, "\(specific.count) task learning rates for \(t) tasks")
        self.model = model
        self.optimizer = optimizer
        self.epochs = epochs
        self.batchSize = batchSize
        self.taskWeighting = TaskWeighting(taskWeighting ?? .fixed(taskWeights), model: model)
        self.taskWeighting.adamHyperparameters = (optimizer.beta1, optimizer.beta2, optimizer.epsilon)
        sampleSpaces = Array(repeating: nil, count: t)
        self.communicator = communicator
        self.seed = seed
        taskNames = (0..<t).map { "task\($0)" }
        let b = batchSize / communicator.size
        localCapacity = b
        model.prepare(batch: b)
        optimizer.bind(parameterCount: model.layout.count, embeddingCount: model.embeddings.weights.count)
        optimizer.setParameterGroups(
            [.init(name: "shared", range: 0..<model.layout.sharedCount, learningRate: optimizer.learningRate)]
            + (0..<t).map { .init(name: "task \($0)", range: model.layout.taskRanges[$0],
                                  learningRate: specific[$0] ?? optimizer.learningRate) })
        var tap: (id: TensorID, offset: Int, count: Int)?
        let names = self.taskWeighting.gradNormTensorNames
        if case .gradNorm = self.taskWeighting.method, names.count == 1, let id = model.layout.id(named: names[0]),
           model.supportsGradNormTap(id) {
            tap = (id, model.layout[id].offset, model.layout[id].count)
        }
        gradNormW = tap
        grads = Self.reductionBuffer(count: model.layout.count + (tap.map { t * $0.count } ?? 0), communicator)
        let f = model.features.numSparse
        // Touched rows per step: at most the global batch's ids (every rank's rows, merged).
        embeddingGrad = SparseRowGradient(rowCount: model.embeddings.rowCount, dim: model.embeddings.dim,
                                          capacity: min(batchSize * f, model.embeddings.rowCount))
        embeddingGradList = [embeddingGrad]
        sparse = Int32Buffer(count: b * f)
        dense = FloatBuffer(count: b * model.features.numDense)
        rawLabels = FloatBuffer(count: b * t)
        labels = FloatBuffer(count: b * t)
        masks = FloatBuffer(count: b * t)
        dLogits = FloatBuffer(count: b * t)
        dLogitsBlocks = FloatBuffer(count: t * b * t)
        lossSums = .allocate(capacity: t)
        lossSums.initialize(repeating: 0, count: t)
        counts = .allocate(capacity: t)
        counts.initialize(repeating: 0, count: t)
        scales = .allocate(capacity: t)
        scales.initialize(repeating: 1, count: t)
        posWeights = .allocate(capacity: t)
        posWeights.initialize(repeating: 1, count: t)
        exchange = communicator.size > 1
            ? EmbeddingExchange(communicator: communicator, embeddings: model.embeddings, globalBatch: batchSize) : nil
        checksums = Array(repeating: 0, count: communicator.size)
    }

    /// A trainer with every setting in `options` (see `TrainerOptions`).
    public convenience init(model: any MultiTaskModel, optimizer: Adam, options o: TrainerOptions,
                            communicator: any Communicator = LocalCommunicator()) {
        self.init(model: model, optimizer: optimizer, epochs: o.epochs, batchSize: o.batchSize, taskWeighting: o.taskWeighting,
                  taskSpecificLR: o.taskLearningRates, communicator: communicator, seed: o.seed)
        evaluationBatchSize = o.evaluationBatchSize
        maxSteps = o.maxSteps
        dropLast = o.dropLast
        monitorEvery = o.monitorEvery
        logEvery = o.logEvery
        if let s = o.sampleSpaces { sampleSpaces = s }
        if let w = o.positiveWeights { positiveWeights = w }
        replicaCheckEvery = o.replicaCheckEvery
        earlyStopTask = o.earlyStopTask
        patience = o.patience
        checkpointEvery = o.checkpointEvery
    }

    deinit {
        stopVotes.deallocate()
        lossSums.deallocate()
        counts.deallocate()
        scales.deallocate()
        posWeights.deallocate()
    }

    /// A gradient arena all-reduced every step: in the communicator's shared memory when it has
    /// some (ranks of one node then sum it in place), else ordinary memory. Collective.
    private static func reductionBuffer(count: Int, _ communicator: any Communicator) -> FloatBuffer {
        guard let memory = communicator.allocateReductionBuffer(count: count) else { return FloatBuffer(count: count) }
        return FloatBuffer(wrapping: memory, count: count, owner: communicator)
    }

    /// Allocates the per-task buffers (T shared-gradient arenas fused with the task part, and T
    /// sparse embedding gradients) the first time a step needs them.
    private func preparePerTask() {
        guard perTaskReduce == nil else { return }
        let layout = model.layout, t = model.numTasks
        perTaskReduce = Self.reductionBuffer(count: t * layout.sharedCount + (layout.count - layout.sharedCount),
                                             communicator)
        perTaskTaskScratch = FloatBuffer(count: layout.count - layout.sharedCount)
        perTaskEmbedding = (0..<t).map { _ in
            SparseRowGradient(rowCount: model.embeddings.rowCount, dim: model.embeddings.dim,
                              capacity: embeddingGrad.capacity)
        }
        cosineSums = Array(repeating: 0, count: t * (t - 1) / 2)
    }

    /// Installs early-stopping best weights and state (when resuming from a checkpoint).
    public func setBestWeights(parameters: FloatBuffer, embeddings: FloatBuffer, state: FloatBuffer) {
        precondition(parameters.count == model.parameters.count && embeddings.count == model.embeddings.weights.count
                     && state.count == model.context.state.count, "best weights of the wrong size")
        bestWeights = (parameters, embeddings, state)
    }

    /// Buffers for best weights and state of this model's sizes.
    private func makeBestWeights() -> (parameters: FloatBuffer, embeddings: FloatBuffer, state: FloatBuffer) {
        (FloatBuffer(count: model.parameters.count), FloatBuffer(count: model.embeddings.weights.count),
         FloatBuffer(count: model.context.state.count))
    }

    /// Copies rank 0's whole training state (parameters, embeddings, Adam, progress, best
    /// weights) to every rank, after rank 0 restored a checkpoint.
    public func broadcastState() throws {
        guard communicator.size > 1 else { return }
        try broadcastParameters()
        for b in [optimizer.m, optimizer.v, optimizer.embeddingM, optimizer.embeddingV, model.context.state] {
            try communicator.broadcast(b.base, count: b.count, root: 0)
        }
        var header: [Int64] = [Int64(optimizer.step), 0, bestWeights == nil ? 0 : 1]
        let encoded = communicator.isRoot ? (try JSONEncoder().encode(ProgressAndWeighting(progress: progress,
                                                                                        weighting: taskWeighting.state))) : Data()
        header[1] = Int64(encoded.count)
        try header.withUnsafeMutableBytes { try communicator.broadcast(bytes: $0.baseAddress!, count: 24, root: 0) }
        optimizer.step = Int(header[0])
        var bytes = [UInt8](encoded)
        if !communicator.isRoot { bytes = Array(repeating: 0, count: Int(header[1])) }
        try bytes.withUnsafeMutableBytes { try communicator.broadcast(bytes: $0.baseAddress!, count: $0.count, root: 0) }
        if !communicator.isRoot {
            let both = try JSONDecoder().decode(ProgressAndWeighting.self, from: Data(bytes))
            progress = both.progress
            taskWeighting.restore(both.weighting)
        }
        if header[2] == 1 {
            if bestWeights == nil { bestWeights = makeBestWeights() }
            for b in [bestWeights!.parameters, bestWeights!.embeddings, bestWeights!.state] {
                try communicator.broadcast(b.base, count: b.count, root: 0)
            }
        }
    }

    /// Makes every rank's replica equal to rank 0's (parameters and embeddings).
    public func broadcastParameters() throws {
        try communicator.broadcast(model.parameters.base, count: model.parameters.count, root: 0)
        try communicator.broadcast(model.embeddings.weights.base, count: model.embeddings.weights.count, root: 0)
    }

    /// The data order of `epoch` (from 1): a seeded permutation of `0..<n`, the same on every rank.
    public func permutation(epoch: Int, count n: Int) -> [Int] {
        var order = Array(0..<n)
        var rng = SeededRandom.derived(seed: seed, stream: UInt64(epoch))
        rng.shuffle(&order)
        return order
    }

    /// This rank's slice of a global batch of `n` rows: `[r·n/S, (r+1)·n/S)`.
    public func localRange(globalCount n: Int) -> Range<Int> {
        let s = communicator.size, r = communicator.rank
        return (r * n / s)..<((r + 1) * n / s)
    }

    /// One optimizer step on a global batch (row indices into `data`; this rank uses its slice).
    /// - Returns: the global mean loss of each task on the batch.
    @discardableResult
    public func trainStep(_ data: TabularDataset, globalRows: UnsafeBufferPointer<Int>) throws -> [Double] {
        var out = [Double](repeating: 0, count: model.numTasks)
        try trainStep(data, globalRows: globalRows, losses: &out)
        return out
    }

    /// One optimizer step writing the per-task mean losses into `losses` (no allocation).
    ///
    /// gather → forward and loss → backward (one combined pass, GradNorm's taps, or one pass
    /// per task) → reduce over ranks → combine per the strategy → guard → update → after-step.
    /// - Throws: `CommunicatorError` from a collective; `TrainingDiverged` when a task's loss
    ///   is not finite (nothing is updated then); `ReplicaDivergence` from a replica check.
    public func trainStep(_ data: TabularDataset, globalRows: UnsafeBufferPointer<Int>, losses: inout [Double]) throws {
        let stepStart = monotonicSeconds()
        defer { stepSeconds += monotonicSeconds() - stepStart }
        profiler?.beginStep()
        let b = try gather(data, globalRows: globalRows)
        profiler?.end(.gather)
        let plan = planStep()
        let context = model.context
        context.isTraining = true
        context.step = globalStep
        context.firstSample = localRange(globalCount: globalRows.count).lowerBound
        context.seed = seed
        defer { context.isTraining = false }
        forwardAndLoss(batch: b, plan: plan)
        if plan.perTask {
            perTaskBackward(batch: b)
            profiler?.end(.backward)
            try reduce(perTaskReduce!, embeddings: perTaskEmbedding)
            profiler?.end(.reduce)
            combinePerTask(monitored: plan.monitored)
            profiler?.end(.combine)
        } else {
            combinedBackward(batch: b, tap: plan.tap)
            profiler?.end(.backward)
            try reduce(grads, embeddings: embeddingGradList)
            profiler?.end(.reduce)
            if let tap = plan.tap {
                // W's own product was skipped in the combined pass: Σ_i w_i ∇_W L_i (linearity).
                taskWeighting.combineGradNorm(perTaskW: grads.base + model.layout.count, count: tap.count,
                                              into: grads.base + tap.offset)
                profiler?.end(.combine)
            }
        }
        try guardLosses()
        update()
        profiler?.end(.update)
        progress.globalStep += 1
        for i in 0..<model.numTasks { losses[i] = counts[i] > 0 ? lossSums[i] / counts[i] : 0 }
        try afterStep(losses: losses, plan: plan)
        profiler?.end(.after)
    }

    /// How this step's backward pass runs.
    struct StepPlan {
        /// Whether this step reports per-task gradient cosines (`monitorEvery`).
        var monitored: Bool
        /// GradNorm's fast path: W's tensor, when this step takes it.
        var tap: (id: TensorID, offset: Int, count: Int)?
        /// One backward pass per task (MetaBalance; GradNorm without the fast path; monitored steps).
        var perTask: Bool
    }

    private func planStep() -> StepPlan {
        let monitored = monitorEvery > 0 && (globalStep + 1) % monitorEvery == 0
        // GradNorm's fast path: W alone per task (monitored steps need every shared tensor).
        let tap = monitored || forceFullPerTaskPasses ? nil : gradNormW
        return StepPlan(monitored: monitored, tap: tap,
                        perTask: (taskWeighting.needsPerTaskGradients && tap == nil) || monitored)
    }

    /// Gathers this rank's slice of the global batch into the input buffers, the task labels
    /// (B, T) and the sample-space masks (B, T); sets each task's global sample count and loss
    /// scale 1 / count (an all-reduce when a task has a sample space). Returns the local batch.
    private func gather(_ data: TabularDataset, globalRows: UnsafeBufferPointer<Int>) throws -> Int {
        let n = globalRows.count
        precondition(n > 0 && n <= batchSize, "global batch of \(n) rows, limit \(batchSize)")
        let t = model.numTasks
        let local = localRange(globalCount: n)
        let b = local.count
        precondition(b <= localCapacity, "local batch \(b) exceeds \(localCapacity)")
        let columns = data.taskCount
        precondition(columns >= t, "data has \(columns) label columns for \(t) tasks")
        if rawLabels.count < localCapacity * columns { rawLabels = FloatBuffer(count: localCapacity * columns) }
        data.gather(rows: UnsafeBufferPointer(rebasing: globalRows[local]), sparse: sparse.base, dense: dense.base,
                    labels: rawLabels.base)
        var anyMask = false
        for task in 0..<t {
            counts[task] = Double(b)
            if sampleSpaces[task] != nil { anyMask = true }
        }
        for i in 0..<b {
            for task in 0..<t {
                labels.base[i * t + task] = rawLabels.base[i * columns + task]
                if let m = sampleSpaces[task] { masks.base[i * t + task] = rawLabels.base[i * columns + m] }
            }
        }
        usesMasks = anyMask
        if anyMask {
            for task in 0..<t {
                guard let m = sampleSpaces[task] else { continue }
                var c = 0.0
                for i in 0..<b { c += Double(rawLabels.base[i * columns + m]) }
                counts[task] = c
            }
            for task in 0..<t where sampleSpaces[task] == nil { masks.baseFill(task: task, tasks: t, batch: b) }
            // The sample-space sizes of the global batch, before any gradient is scaled.
            if communicator.size > 1 {
                let c0 = monotonicSeconds()
                try communicator.allReduceSum(counts, count: t)
                communicationSeconds += monotonicSeconds() - c0
            }
        } else {
            for task in 0..<t { counts[task] = Double(n) }
        }
        for task in 0..<t { scales[task] = counts[task] > 0 ? Float(1 / counts[task]) : 0 }
        return b
    }

    /// The forward pass and each task's loss: per-task loss sums, and each task's dLogits
    /// block (T blocks of (B, T)). Clears the gradients the backward passes add into.
    private func forwardAndLoss(batch b: Int, plan: StepPlan) {
        for i in 0..<model.numTasks { lossSums[i] = 0 }
        if plan.perTask { preparePerTask() }
        // The per-task path overwrites every gradient in `combine`; the others add into zeros.
        if !plan.perTask { grads.zero() }
        embeddingGrad.reset()
        if b > 0 {
            model.forward(sparse: sparse.base, dense: dense.base, batch: b, params: model.parameterView)
            profiler?.end(.forward)
            model.loss(labels: labels.base, batch: b,
                       options: LossOptions(scales: scales, positiveWeights: posWeights, masks: usesMasks ? masks.base : nil),
                       dLogits: dLogitsBlocks.base, lossSums: lossSums)
        }
        profiler?.end(.loss)
    }

    /// One backward pass of Σ_t w_t L_t (the weights are known before the step). With
    /// GradNorm's tap, that pass skips W's weight product, and per task only its head down
    /// to W and dW_i = dZ_iᵀ·X are run, into the (T, |W|) block after the gradient arena.
    private func combinedBackward(batch b: Int, tap: (id: TensorID, offset: Int, count: Int)?) {
        let layout = model.layout, t = model.numTasks
        let params = model.parameterView
        let gradView = ArenaView(shared: grads.base, task: grads.base, sharedCount: layout.sharedCount,
                                 offsets: layout.offsets)
        if b > 0 {
            taskWeighting.weightedSum(dLogitsBlocks.base, count: b * t, into: dLogits.base)
            if let tap { model.context.gradNormTap = GradNormTap(weight: tap.id, mode: .combined) }
            model.backward(dLogits: dLogits.base, batch: b, params: params, grads: gradView, embeddingGrad: embeddingGrad)
        }
        guard let tap else { return }
        let perTaskW = grads.base + layout.count
        perTaskW.update(repeating: 0, count: t * tap.count)
        if b > 0 {
            for task in 0..<t {
                model.context.gradNormTap = GradNormTap(weight: tap.id, mode: .perTask, dWeight: perTaskW + task * tap.count)
                model.backward(dLogits: dLogitsBlocks.base + task * b * t, batch: b, params: params, grads: gradView,
                               embeddingGrad: embeddingGrad)
            }
        }
        model.context.gradNormTap = GradNormTap()
    }

    /// The per-task path (MetaBalance; GradNorm when W is the embeddings or several tensors,
    /// or on monitored steps): one backward pass per task, its shared gradients into its own
    /// arena of `perTaskReduce`, its embedding rows into its own sparse gradient.
    ///
    /// Task parameters get Σ_i w_i ∇L_i, which is not w_t ∇L_t when a task's loss reaches
    /// another task's logits (ESMM's CTCVR, AITM's calibrator): with unequal weights each pass
    /// writes into a scratch that is added with its weight. Heads whose dLogits column is all
    /// zeros are skipped inside the models (`TaskSet`).
    private func perTaskBackward(batch b: Int) {
        let layout = model.layout, t = model.numTasks
        let reduce = perTaskReduce!, scratch = perTaskTaskScratch!
        let s = layout.sharedCount
        let equal = taskWeighting.weightsAreEqual
        let scratchPart = scratch.base - s           // indexed by the full offset
        reduce.zero()
        for task in 0..<t {
            perTaskEmbedding[task].reset()
            guard b > 0 else { continue }
            if !equal { scratch.zero() }
            let view = ArenaView(shared: reduce.base + task * s, task: equal ? perTaskTaskPart : scratchPart,
                                 sharedCount: s, offsets: layout.offsets)
            model.backward(dLogits: dLogitsBlocks.base + task * b * t, batch: b, params: model.parameterView,
                           grads: view, embeddingGrad: perTaskEmbedding[task])
            if !equal { taskWeighting.addWeighted(task: task, scratch.count, scratch.base, into: perTaskTaskPart + s) }
        }
    }

    /// Sums `dense`, the loss sums and each sparse embedding gradient over the ranks (nothing
    /// alone): one all-reduce of the dense gradients, one of the loss sums, one exchange per
    /// sparse gradient.
    private func reduce(_ dense: FloatBuffer, embeddings: [SparseRowGradient]) throws {
        guard let exchange else { return }
        let c0 = monotonicSeconds()
        try communicator.allReduceSum(dense.base, count: dense.count)
        try communicator.allReduceSum(lossSums, count: model.numTasks)
        for g in embeddings { try exchange.exchange(g) }
        communicationSeconds += monotonicSeconds() - c0
    }

    /// The strategy combines the reduced per-task gradients into `grads` and `embeddingGrad`;
    /// on monitored steps the cosines between tasks' shared gradients are taken first.
    private func combinePerTask(monitored: Bool) {
        let reduce = perTaskReduce!
        let s = model.layout.sharedCount
        // Cosines only where asked for: MetaBalance's every step is per-task, not monitored.
        if monitored { computeCosines(reduce, sharedCount: s) }
        taskWeighting.combineShared(perTask: reduce.base, sharedCount: s, into: grads.base)
        taskWeighting.combineTaskParameters(perTaskTaskPart + s, count: model.layout.count - s, into: grads.base + s)
        taskWeighting.combineEmbeddings(perTask: perTaskEmbedding, embeddings: model.embeddings, into: embeddingGrad)
    }

    /// Stops before the update when a task's global loss is not finite.
    private func guardLosses() throws {
        for task in 0..<model.numTasks where !lossSums[task].isFinite {
            throw TrainingDiverged(step: globalStep + 1, task: taskNames[task],
                                   loss: lossSums[task] / max(counts[task], 1), lastCheckpoint: lastCheckpoint)
        }
    }

    /// Adam on its parameter groups (the shared parameters, then each task's own at its
    /// learning rate) and the touched embedding rows.
    private func update() {
        optimizer.step(params: model.parameters, grads: grads, embeddings: model.embeddings, embeddingGradient: embeddingGrad)
    }

    /// The strategy's own update from this step (GradNorm's and uncertainty weighting's
    /// weights, MetaBalance's norm averages), the one-time GradNorm floor warning, and the
    /// replica check when due.
    private func afterStep(losses: [Double], plan: StepPlan) throws {
        if let tap = plan.tap, !plan.perTask {
            taskWeighting.afterGradNormStep(losses: losses, perTaskW: grads.base + model.layout.count, count: tap.count)
        } else {
            taskWeighting.afterStep(losses: losses, perTask: plan.perTask ? UnsafePointer(perTaskReduce!.base) : nil,
                                    perTaskEmbeddings: plan.perTask ? perTaskEmbedding : [],
                                    sharedCount: model.layout.sharedCount, lr: optimizer.learningRate)
        }
        if !warnedGradNormFloor && taskWeighting.gradNormFloorHits > 0 {
            warnedGradNormFloor = true
            if communicator.isRoot { warnGradNormFloor() }
        }
        if replicaCheckEvery > 0 && globalStep % replicaCheckEvery == 0 { try checkReplicas() }
    }

    /// Says once (rank 0) that GradNorm's weight floor acted: its learning rate is large.
    private func warnGradNormFloor() {
        progressLine?.finish()
        var rate = "?"
        if case .gradNorm(_, let lr, _) = taskWeighting.method { rate = "\(lr)" }
        log("warning: GradNorm took a task weight below its floor (\(TaskWeighting.gradNormWeightFloor) of the mean) "
            + "at step \(globalStep); weights now "
            + taskWeighting.lossWeights.map { format(Double($0), 4) }.joined(separator: " ")
            + ". gradnorm_lr \(rate) may be too large (said once)")
    }

    /// Cosine similarity of every pair of tasks' gradients on the shared parameters (dense
    /// shared tensors and embedding rows), from the reduced per-task gradients.
    private func computeCosines(_ reduce: FloatBuffer, sharedCount s: Int) {
        let t = model.numTasks, e = model.embeddings.dim
        // Empty until the first monitored step (reports show no cosine before one).
        if lastCosines.count != cosineSums.count { lastCosines = cosineSums }
        var k = 0
        for a in 0..<t {
            for c in (a + 1)..<t {
                var dot = Ops.dot(s, reduce.base + a * s, reduce.base + c * s)
                var na = Ops.sumOfSquares(s, reduce.base + a * s)
                var nc = Ops.sumOfSquares(s, reduce.base + c * s)
                let ga = perTaskEmbedding[a], gc = perTaskEmbedding[c]
                for r in 0..<ga.count {
                    na += Ops.sumOfSquares(e, ga.values.base + r * e)
                    if let slot = gc.slot(of: ga.rows[r]) { dot += Ops.dot(e, ga.values.base + r * e, gc.values.base + slot * e) }
                }
                for r in 0..<gc.count { nc += Ops.sumOfSquares(e, gc.values.base + r * e) }
                let cos = na > 0 && nc > 0 ? dot / (na.squareRoot() * nc.squareRoot()) : 0
                lastCosines[k] = cos
                cosineSums[k] += cos
                k += 1
            }
        }
        cosineCount += 1
    }

    /// The mean cosine similarities since the last call (per pair), then resets the sums.
    func takeMeanCosines() -> [Double] {
        guard cosineCount > 0 else { return [] }
        let mean = cosineSums.map { $0 / Double(cosineCount) }
        for i in cosineSums.indices { cosineSums[i] = 0 }
        cosineCount = 0
        return mean
    }

    /// A 64-bit FNV-1a hash of the parameters' and embeddings' bits.
    public func parameterChecksum() -> UInt64 {
        var h = FNV1a()
        for buffer in [model.parameters, model.embeddings.weights] {
            for i in 0..<buffer.count { h.combine(UInt64(buffer.base[i].bitPattern)) }
        }
        return h.value
    }

    /// Stops with an error naming the step when the ranks' parameters differ.
    public func checkReplicas() throws {
        var mine = parameterChecksum()
        try checksums.withUnsafeMutableBytes { all in
            try communicator.allGather(bytes: &mine, count: 8, into: all.baseAddress!)
        }
        if let bad = checksums.firstIndex(where: { $0 != checksums[0] }) {
            throw ReplicaDivergence(step: globalStep, rank: bad, checksums: checksums)
        }
    }

    /// Trains over `train` from where `progress` stands (the start, or a resumed checkpoint)
    /// until `epochs` epochs, `maxSteps` steps, or early stopping; evaluates `validation` after
    /// each epoch (scoring sharded, metrics on rank 0). With early stopping, the best epoch's
    /// weights are restored at the end.
    /// Why `fit` would train no step from the current progress (all `epochs` done, early
    /// stopping ended the run, or `maxSteps` reached), or nil when it has steps to run: what a
    /// resume of a finished run should say.
    public var finishedBecause: String? {
        if progress.stopped { return "early stopping ended it at epoch \(progress.epoch - 1)" }
        if epochs == 0 { return "epochs is 0 (raise it to train on)" }
        if progress.epoch > epochs { return "all \(epochs) epoch(s) are done (raise epochs to train on)" }
        if maxSteps > 0 && progress.globalStep >= maxSteps {
            return "max_steps \(maxSteps) is reached (raise max_steps to train on)"
        }
        return nil
    }

    public func fit(train: TabularDataset, validation: TabularDataset? = nil) throws -> [EpochRecord] {
        let t = model.numTasks
        precondition(train.taskCount >= t, "training data has \(train.taskCount) label columns, model has \(t) tasks")
        taskNames = Array(train.schema.labels.prefix(t))
        if progress.globalStep == 0 { try broadcastParameters() }
        let n = train.count
        let stepsPerEpoch = dropLast ? max(n / batchSize, 1) : (n + batchSize - 1) / batchSize
        progress.prepareSums(tasks: t)
        var losses = [Double](repeating: 0, count: t)
        while progress.epoch <= epochs && !progress.stopped {
            permutation = permutation(epoch: progress.epoch, count: n)
            var meter = EpochMeter(tasks: t)
            while progress.stepInEpoch < stepsPerEpoch {
                if maxSteps > 0 && globalStep >= maxSteps { break }
                let lo = progress.stepInEpoch * batchSize
                let rows = min(n, lo + batchSize) - lo
                try permutation.withUnsafeBufferPointer { p in
                    try trainStep(train, globalRows: UnsafeBufferPointer(rebasing: p[lo..<(lo + rows)]), losses: &losses)
                }
                progress.record(losses: losses, rows: rows)
                meter.record(losses: losses, rows: rows)
                try afterFitStep(meter: meter, stepsPerEpoch: stepsPerEpoch)
            }
            progressLine?.finish()
            if progress.stepInEpoch < stepsPerEpoch { break }  // max_steps reached mid-epoch
            try endEpoch(meter: meter, validation: validation)
            // A request that came during the validation or the epoch's checkpoint stops here,
            // before the next epoch's first step (or the run's test evaluation): its state is
            // that checkpoint.
            if let signal = try stopSignalOnEveryRank() {
                let saved = try checkpointWrittenOnRoot(since: nil)
                throw TrainingInterrupted(signal: signal, step: globalStep, lastCheckpoint: lastCheckpoint,
                                          checkpointsOn: onCheckpoint != nil, checkpointWritten: saved)
            }
            if maxSteps > 0 && globalStep >= maxSteps { break }
        }
        restoreBestWeights()
        return progress.history
    }

    /// What one pass of `fit` has seen this epoch: rows, the start time, and the decaying
    /// running losses the progress line shows.
    struct EpochMeter {
        let start = monotonicSeconds()
        var seen = 0
        var running: [Double]
        var runningWeight = 0.0

        init(tasks t: Int) { running = Array(repeating: 0, count: t) }

        mutating func record(losses: [Double], rows: Int) {
            seen += rows
            for i in 0..<running.count { running[i] = 0.98 * running[i] + 0.02 * losses[i] }
            runningWeight = 0.98 * runningWeight + 0.02
        }

        var samplesPerSecond: Double { Double(seen) / max(monotonicSeconds() - start, 1e-9) }
    }

    /// After each step of `fit`: the progress line, the step report when due (and at the
    /// epoch's last step), a checkpoint
    /// when due, and a stop (signal or `maxSteps` mid-epoch) with the last steps kept.
    private func afterFitStep(meter: EpochMeter, stepsPerEpoch: Int) throws {
        let t = model.numTasks
        if communicator.isRoot, let progressLine {
            progressLine.update(epoch: progress.epoch, step: progress.stepInEpoch, total: stepsPerEpoch,
                                samplesPerSecond: meter.samplesPerSecond,
                                losses: (0..<t).map { (taskNames[$0], meter.running[$0] / meter.runningWeight) },
                                extra: monitorSummary())
        }
        // Every log_every-th and monitored step, each epoch's last, and the run's last at
        // max_steps (so every step's loss reaches the run log, the curves end where training does).
        if (logEvery > 0 && globalStep % logEvery == 0) || (monitorEvery > 0 && globalStep % monitorEvery == 0)
            || progress.stepInEpoch == stepsPerEpoch || (maxSteps > 0 && globalStep == maxSteps) {
            try reportStep(epoch: progress.epoch, samplesPerSecond: meter.samplesPerSecond)
        }
        var wrote = false
        let before = lastCheckpoint
        if checkpointEvery > 0 && globalStep % checkpointEvery == 0 && progress.stepInEpoch < stepsPerEpoch {
            try onCheckpoint?(self, .step)
            wrote = true
        }
        if let signal = try stopSignalOnEveryRank() {
            // Finish the step, keep it, and stop on every rank alike.
            progressLine?.finish()
            if !wrote { try onCheckpoint?(self, .step) }
            let saved = try checkpointWrittenOnRoot(since: before)
            throw TrainingInterrupted(signal: signal, step: globalStep, lastCheckpoint: lastCheckpoint,
                                      checkpointsOn: onCheckpoint != nil, checkpointWritten: saved)
        }
        if maxSteps > 0 && globalStep >= maxSteps && progress.stepInEpoch < stepsPerEpoch && !wrote {
            try onCheckpoint?(self, .step)  // max_steps mid-epoch: the last steps are kept too
        }
    }

    /// The end of an epoch: its record (validation scored, sharded), the summary line and the
    /// epoch report on rank 0, the next epoch's start, early stopping, and the checkpoints.
    private func endEpoch(meter: EpochMeter, validation: TabularDataset?) throws {
        let seconds = monotonicSeconds() - meter.start
        var record = EpochRecord(epoch: progress.epoch,
                                 trainLoss: progress.epochLossSums.map { $0 / Double(max(progress.epochSeen, 1)) },
                                 validation: [], seconds: seconds,
                                 samplesPerSecond: Double(meter.seen) / max(seconds, 1e-9),
                                 taskWeights: taskWeighting.lossWeights, gradientCosines: takeMeanCosines())
        if let validation {
            record.validation = try evaluateMultiTask(model, validation, batchSize: evaluationBatchSize,
                                                      taskNames: taskNames, sampleSpaces: sampleSpaces,
                                                      communicator: communicator)
        }
        if communicator.isRoot {
            log(epochSummary(record))
            try onEpoch?(record, globalStep)
        }
        progress.history.append(record)
        progress.startNextEpoch()
        let improved = try updateEarlyStopping(record)
        try onCheckpoint?(self, .epochEnd)
        if improved { try onCheckpoint?(self, .best) }
    }

    /// With early stopping, the best epoch's weights replace the last ones.
    private func restoreBestWeights() {
        guard let task = earlyStopTask, let best = bestWeights else { return }
        model.parameters.base.update(from: best.parameters.base, count: best.parameters.count)
        model.embeddings.weights.base.update(from: best.embeddings.base, count: best.embeddings.count)
        model.context.state.copy(from: best.state)
        if communicator.isRoot, let e = progress.bestEpoch {
            log("restored the best weights (epoch \(e), \(taskNames[task]) AUC \(format(progress.bestScore ?? .nan, 4)))")
        }
    }

    /// Hands rank 0's `onStep` the report of the step just taken (the mean losses since the
    /// previous report of the epoch, the weights, and the cosines on a monitored step), then
    /// starts the next report's window (every rank, so that checkpoints carry it).
    private func reportStep(epoch: Int, samplesPerSecond: Double) throws {
        let t = model.numTasks
        if communicator.isRoot, let onStep {
            let seen = Double(max(progress.windowSeen, 1))
            let monitored = monitorEvery > 0 && globalStep % monitorEvery == 0
            try onStep(StepReport(step: globalStep, epoch: epoch, losses: progress.windowLossSums.map { $0 / seen },
                                  weights: taskWeighting.lossWeights, samplesPerSecond: samplesPerSecond,
                                  cosines: monitored ? lastCosines : nil))
        }
        progress.windowSeen = 0
        for i in 0..<t { progress.windowLossSums[i] = 0 }
    }

    /// The validation metrics of `task` as early stopping reads them: over its sample space
    /// when it has one (see `evaluateMultiTask`), else over all rows; nil when not scored.
    public func validationMetrics(ofTask task: Int, in record: EpochRecord) -> TaskMetrics? {
        let spaced = sampleSpaces.indices.contains(task) && sampleSpaces[task] != nil
        return record.validation.first { $0.taskIndex == task && ($0.onlyWhere != nil) == spaced }
    }

    /// Tracks the early-stopping task's validation AUC (over its sample space when it has one);
    /// keeps a copy of the best weights and stops after `patience` epochs without improvement.
    /// Returns whether this epoch is the best.
    private func updateEarlyStopping(_ record: EpochRecord) throws -> Bool {
        guard let task = earlyStopTask else { return false }
        let metrics = validationMetrics(ofTask: task, in: record)
        // Rank 0 holds the metrics; every rank must take the same decision.
        var score = communicator.isRoot ? metrics?.auc ?? -1 : 0
        try withUnsafeMutablePointer(to: &score) { try communicator.broadcast(bytes: $0, count: 8, root: 0) }
        guard score >= 0 else { return false }
        if progress.bestScore == nil || score > progress.bestScore! {
            progress.bestScore = score
            progress.bestEpoch = record.epoch
            progress.epochsWithoutImprovement = 0
            let copy = bestWeights ?? makeBestWeights()
            copy.parameters.copy(from: model.parameters)
            copy.embeddings.copy(from: model.embeddings.weights)
            copy.state.copy(from: model.context.state)
            bestWeights = copy
            return true
        }
        progress.epochsWithoutImprovement += 1
        if progress.epochsWithoutImprovement >= patience {
            progress.stopped = true
            if communicator.isRoot {
                let name = metrics?.task ?? taskNames[task]
                log("early stopping: no \(name) AUC improvement for \(patience) epoch(s)")
            }
        }
        return false
    }

    /// "weights 1.02 0.98  cos(click,purchase) 0.13" when weights are learned or gradients monitored.
    func monitorSummary(cosines: [Double]? = nil) -> String {
        var parts: [String] = []
        if taskWeighting.method != .fixed(nil) {
            parts.append("weights " + taskWeighting.lossWeights.map { format(Double($0), 3) }.joined(separator: " "))
        }
        let c = cosines ?? lastCosines
        if !c.isEmpty {
            var k = 0
            var pairs: [String] = []
            for a in 0..<model.numTasks {
                for b in (a + 1)..<model.numTasks {
                    pairs.append("cos(\(taskNames[a]),\(taskNames[b])) \(format(c[k], 3))")
                    k += 1
                }
            }
            parts.append(pairs.joined(separator: " "))
        }
        return parts.joined(separator: "  ")
    }

    /// "epoch 1  12.3 s  10452 samples/s  train click 0.1520 purchase 0.0301  val click auc …".
    public func epochSummary(_ r: EpochRecord) -> String {
        var s = "epoch \(r.epoch)  \(format(r.seconds, 1)) s  \(Int(r.samplesPerSecond)) samples/s  train loss "
        s += zip(taskNames, r.trainLoss).map { "\($0) \(format($1, 5))" }.joined(separator: " ")
        let monitor = monitorSummary(cosines: r.gradientCosines)
        if !monitor.isEmpty { s += "  " + monitor }
        if !r.validation.isEmpty {
            s += "  |  val " + r.validation.map { "\($0.task) \($0.summary)" }.joined(separator: "  ")
        }
        return s
    }
}

extension FloatBuffer {
    /// Sets column `task` of a (B, T) matrix to 1.
    @inline(__always)
    func baseFill(task: Int, tasks t: Int, batch b: Int) {
        for i in 0..<b { base[i * t + task] = 1 }
    }
}

/// The small state rank 0 broadcasts after a resume.
struct ProgressAndWeighting: Codable {
    var progress: TrainingProgress
    var weighting: TaskWeightingState
}
