import Collectives
import Datasets
import Kernels
import Layers
import Models

/// What one epoch of training produced.
public struct EpochRecord: Sendable {
    /// The epoch, from 1.
    public var epoch: Int
    /// Mean training loss per task over the epoch.
    public var trainLoss: [Double]
    /// Validation metrics per task (empty without a validation split).
    public var validation: [TaskMetrics]
    /// Wall time of the epoch's training steps.
    public var seconds: Double
    /// Training throughput over all ranks.
    public var samplesPerSecond: Double
}

/// Trains a multi-task model data-parallel (DESIGN.md §4): every rank runs the same steps
/// on its slice of each global batch; gradients and per-task loss sums are all-reduced;
/// every rank applies the same update, so replicas stay identical.
///
/// ```
/// L_t = (1/B) Σ_{samples of the global batch} ℓ_t          L = Σ_t w_t · L_t
/// ```
public final class MTLTrainer: @unchecked Sendable {
    /// The model being trained.
    public let model: any MultiTaskModel
    /// The optimizer.
    public let optimizer: Adam
    /// How many passes over the training split.
    public let epochs: Int
    /// The global batch size B (summed over ranks).
    public let batchSize: Int
    /// Fixed task weights w_t.
    public let taskWeights: [Float]
    /// The learning rate of each task's own parameters (the base rate where not given).
    public let taskLearningRates: [Float]
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
    public var progress: ProgressLine? = ProgressLine()
    /// Steps taken so far.
    public private(set) var globalStep = 0
    /// Stop after this many steps in total (0 = no limit).
    public var maxSteps = 0
    /// Compare a checksum of every rank's parameters every this many steps (0 = never);
    /// a difference stops training with an error naming the step.
    public var replicaCheckEvery = 0
    /// Wall time spent inside collective calls during training steps.
    public private(set) var communicationSeconds = 0.0
    /// Wall time of all training steps.
    public private(set) var stepSeconds = 0.0

    private let grads: FloatBuffer
    private let embeddingGrad: SparseRowGradient
    private let localCapacity: Int
    private let sparse: Int32Buffer
    private let dense: FloatBuffer
    private let labels: FloatBuffer
    private let dLogits: FloatBuffer
    private let lossSums: UnsafeMutablePointer<Double>
    private var permutation: [Int] = []
    private let exchange: EmbeddingExchange?
    private var checksums: [UInt64]

    /// Binds the optimizer to the model and allocates every per-step buffer once.
    /// - taskSpecificLR: per task, its own learning rate or nil for the base rate.
    public init(model: any MultiTaskModel, optimizer: Adam, epochs: Int, batchSize: Int = 1024,
                taskWeights: [Float]? = nil, taskSpecificLR: [Float?]? = nil,
                communicator: any Communicator = LocalCommunicator(), seed: UInt64 = 0) {
        let t = model.numTasks
        precondition(epochs >= 0, "epochs must be ≥ 0, got \(epochs)")
        precondition(batchSize >= communicator.size, "batch \(batchSize) smaller than \(communicator.size) ranks")
        precondition(batchSize % communicator.size == 0,
                     "global batch \(batchSize) is not divisible by \(communicator.size) ranks")
        let weights = taskWeights ?? Array(repeating: 1, count: t)
        precondition(weights.count == t, "\(weights.count) task weights for \(t) tasks")
        let specific = taskSpecificLR ?? Array(repeating: nil, count: t)
        precondition(specific.count == t, "\(specific.count) task learning rates for \(t) tasks")
        self.model = model
        self.optimizer = optimizer
        self.epochs = epochs
        self.batchSize = batchSize
        self.taskWeights = weights
        self.taskLearningRates = specific.map { $0 ?? optimizer.learningRate }
        self.communicator = communicator
        self.seed = seed
        taskNames = (0..<t).map { "task\($0)" }
        let b = batchSize / communicator.size
        localCapacity = b
        model.prepare(batch: b)
        optimizer.bind(parameterCount: model.layout.count, embeddingCount: model.embeddings.weights.count)
        grads = FloatBuffer(count: model.layout.count)
        let f = model.features.numSparse
        // Touched rows per step: at most the global batch's ids (every rank's rows, merged).
        embeddingGrad = SparseRowGradient(rowCount: model.embeddings.rowCount, dim: model.embeddings.dim,
                                          capacity: min(batchSize * f, model.embeddings.rowCount))
        sparse = Int32Buffer(count: b * f)
        dense = FloatBuffer(count: b * model.features.numDense)
        labels = FloatBuffer(count: b * t)
        dLogits = FloatBuffer(count: b * t)
        lossSums = .allocate(capacity: t)
        lossSums.initialize(repeating: 0, count: t)
        exchange = communicator.size > 1
            ? EmbeddingExchange(communicator: communicator, embeddings: model.embeddings, globalBatch: batchSize) : nil
        checksums = Array(repeating: 0, count: communicator.size)
    }

    deinit { lossSums.deallocate() }

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
    public func trainStep(_ data: TabularDataset, globalRows: UnsafeBufferPointer<Int>, losses: inout [Double]) throws {
        let stepStart = monotonicSeconds()
        defer { stepSeconds += monotonicSeconds() - stepStart }
        let n = globalRows.count
        precondition(n > 0 && n <= batchSize, "global batch of \(n) rows, limit \(batchSize)")
        let t = model.numTasks
        let local = localRange(globalCount: n)
        let b = local.count
        precondition(b <= localCapacity, "local batch \(b) exceeds \(localCapacity)")
        data.gather(rows: UnsafeBufferPointer(rebasing: globalRows[local]), sparse: sparse.base, dense: dense.base,
                    labels: labels.base)
        let params = model.parameterView
        for i in 0..<t { lossSums[i] = 0 }
        grads.zero()
        embeddingGrad.reset()
        if b > 0 {
            model.forward(sparse: sparse.base, dense: dense.base, batch: b, params: params)
            model.loss(labels: labels.base, batch: b, scale: 1 / Float(n), dLogits: dLogits.base, lossSums: lossSums)
            for i in 0..<b {
                for task in 0..<t { dLogits.base[i * t + task] *= taskWeights[task] }
            }
            model.backward(dLogits: dLogits.base, batch: b, params: params, grads: model.layout.view(grads),
                           embeddingGrad: embeddingGrad)
        }
        if let exchange {
            let c0 = monotonicSeconds()
            try communicator.allReduceSum(grads.base, count: grads.count)
            try communicator.allReduceSum(lossSums, count: t)
            try exchange.exchange(embeddingGrad)
            communicationSeconds += monotonicSeconds() - c0
        }
        optimizer.beginStep()
        let layout = model.layout
        optimizer.update(params: model.parameters, grads: grads, range: 0..<layout.sharedCount, lr: optimizer.learningRate)
        for task in 0..<t {
            optimizer.update(params: model.parameters, grads: grads, range: layout.taskRanges[task],
                             lr: taskLearningRates[task])
        }
        optimizer.updateEmbeddings(model.embeddings, gradient: embeddingGrad, lr: optimizer.learningRate)
        globalStep += 1
        for i in 0..<t { losses[i] = lossSums[i] / Double(n) }
        if replicaCheckEvery > 0 && globalStep % replicaCheckEvery == 0 { try checkReplicas() }
    }

    /// A 64-bit FNV-1a hash of the parameters' and embeddings' bits.
    public func parameterChecksum() -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for buffer in [model.parameters, model.embeddings.weights] {
            for i in 0..<buffer.count {
                h = (h ^ UInt64(buffer.base[i].bitPattern)) &* 0x0000_0100_0000_01B3
            }
        }
        return h
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

    /// Trains for `epochs` epochs over `train`, evaluating `validation` on rank 0 after each.
    public func fit(train: TabularDataset, validation: TabularDataset? = nil) throws -> [EpochRecord] {
        let t = model.numTasks
        precondition(train.taskCount == t, "training data has \(train.taskCount) labels, model has \(t) tasks")
        taskNames = train.schema.labels
        try broadcastParameters()
        var history: [EpochRecord] = []
        let n = train.count
        let stepsPerEpoch = (n + batchSize - 1) / batchSize
        var losses = [Double](repeating: 0, count: t)
        var epochSums = [Double](repeating: 0, count: t)
        var running = [Double](repeating: 0, count: t)
        for epoch in 1...max(epochs, 1) where epochs > 0 {
            permutation = permutation(epoch: epoch, count: n)
            for i in 0..<t { epochSums[i] = 0; running[i] = 0 }
            let start = monotonicSeconds()
            var runningWeight = 0.0
            var seen = 0
            for step in 0..<stepsPerEpoch {
                if maxSteps > 0 && globalStep >= maxSteps { break }
                let lo = step * batchSize
                let hi = min(n, lo + batchSize)
                try permutation.withUnsafeBufferPointer { p in
                    try trainStep(train, globalRows: UnsafeBufferPointer(rebasing: p[lo..<hi]), losses: &losses)
                }
                seen += hi - lo
                for i in 0..<t {
                    epochSums[i] += losses[i] * Double(hi - lo)
                    running[i] = 0.98 * running[i] + 0.02 * losses[i]
                }
                runningWeight = 0.98 * runningWeight + 0.02
                if communicator.isRoot, let progress {
                    let elapsed = monotonicSeconds() - start
                    progress.update(epoch: epoch, step: step + 1, total: stepsPerEpoch,
                                    samplesPerSecond: Double(hi) / max(elapsed, 1e-9),
                                    losses: (0..<t).map { (taskNames[$0], running[$0] / runningWeight) })
                }
            }
            let seconds = monotonicSeconds() - start
            progress?.finish()
            var record = EpochRecord(epoch: epoch, trainLoss: epochSums.map { $0 / Double(max(seen, 1)) },
                                     validation: [], seconds: seconds,
                                     samplesPerSecond: Double(seen) / max(seconds, 1e-9))
            if let validation {
                record.validation = try evaluateMultiTask(model, validation, batchSize: evaluationBatchSize,
                                                          taskNames: taskNames, communicator: communicator)
            }
            if communicator.isRoot { log(epochSummary(record)) }
            history.append(record)
            if maxSteps > 0 && globalStep >= maxSteps { break }
        }
        return history
    }

    /// "epoch 1  12.3 s  10452 samples/s  train click 0.1520 purchase 0.0301  val click auc …".
    public func epochSummary(_ r: EpochRecord) -> String {
        var s = "epoch \(r.epoch)  \(format(r.seconds, 1)) s  \(Int(r.samplesPerSecond)) samples/s  train loss "
        s += zip(taskNames, r.trainLoss).map { "\($0) \(format($1, 5))" }.joined(separator: " ")
        if !r.validation.isEmpty {
            s += "  |  val " + r.validation.map { "\($0.task) \($0.summary)" }.joined(separator: "  ")
        }
        return s
    }
}

/// The ranks' parameters differ: a replica diverged (a bug, or a rank fed different data).
public struct ReplicaDivergence: Error, CustomStringConvertible, Sendable {
    /// The step after which the checksums were compared.
    public var step: Int
    /// The first rank whose checksum differs from rank 0's.
    public var rank: Int
    /// Every rank's checksum.
    public var checksums: [UInt64]

    public var description: String {
        "replicas diverged at step \(step): rank \(rank)'s parameter checksum differs from rank 0's "
            + "(\(checksums.map { String($0, radix: 16) }.joined(separator: ", ")))"
    }
}
