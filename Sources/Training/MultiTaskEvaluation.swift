import Collectives
import Datasets
import Evaluation
import Kernels
import Models

/// One task's metrics over a whole split.
public struct TaskMetrics: Sendable, Equatable, Codable {
    /// The task's name (its label column).
    public var task: String
    /// Exact ROC AUC; nil when the split holds one class only (or for regression tasks).
    public var auc: Double?
    /// Mean binary cross-entropy, clipped as scikit-learn does (nil for regression tasks).
    public var logLoss: Double?
    /// Mean squared error (regression tasks only).
    public var mse: Double?
    /// Samples scored.
    public var count: Int
    /// Positive labels among them (classification tasks).
    public var positives: Int
    /// The model's task scored (its index); nil for an auxiliary series (ESMM's CVR).
    public var taskIndex: Int?
    /// The label column whose value 1 selects the rows scored (a task's sample space, or the
    /// clicks ESMM's CVR is scored on); nil when every row is.
    public var onlyWhere: String?

    /// The metrics of one series over `count` rows.
    public init(task: String, auc: Double?, logLoss: Double?, mse: Double? = nil, count: Int, positives: Int,
                taskIndex: Int? = nil, onlyWhere: String? = nil) {
        self.task = task
        self.auc = auc
        self.logLoss = logLoss
        self.mse = mse
        self.count = count
        self.positives = positives
        self.taskIndex = taskIndex
        self.onlyWhere = onlyWhere
    }

    /// "auc 0.7312 logloss 0.1543" or "auc undefined (one class) …".
    public var summary: String {
        if let mse { return "mse \(format(mse, 6))" }
        let a = auc.map { format($0, 4) } ?? "undefined (one class)"
        return "auc \(a) logloss \(logLoss.map { format($0, 5) } ?? "-")"
    }
}

/// Per-task predictions of `model` over every row of `dataset`, (N, T) row-major.
///
/// With several ranks, scoring is sharded: scoring batch j (of `batchSize` rows, the same
/// boundaries as alone) goes to rank j mod S, and the scores are gathered onto every rank in
/// row order, so the result equals the single-process scores bit for bit. Every rank first
/// takes rank 0's model state (batch norm's running statistics, which each rank keeps from
/// its own shards in training): the statistics a checkpoint keeps, so that what a run reports
/// is what `evaluate` and the ONNX export compute from its checkpoint (as PyTorch's DDP,
/// which broadcasts rank 0's buffers).
/// - Throws: `CommunicatorError` when broadcasting the state or gathering the scores fails
///   (never with one rank).
public func predictMultiTask(_ model: any MultiTaskModel, _ dataset: TabularDataset, batchSize: Int = 4096,
                             communicator: any Communicator = LocalCommunicator()) throws -> [Float] {
    let t = model.numTasks
    let (all, width) = try scoreAll(model, dataset, batchSize: batchSize, communicator: communicator)
    if width == t { return all }
    var out = [Float](repeating: 0, count: dataset.count * t)
    for i in 0..<dataset.count { for j in 0..<t { out[i * t + j] = all[i * width + j] } }
    return out
}

/// Scores every row: the T task predictions followed by the model's auxiliary outputs, (N, T + A).
func scoreAll(_ model: any MultiTaskModel, _ dataset: TabularDataset, batchSize: Int,
              communicator: any Communicator) throws -> ([Float], Int) {
    let n = dataset.count
    let tasks = model.numTasks, aux = model.auxiliaryMetrics.count
    let t = tasks + aux
    let f = dataset.sparseFieldCount, d = dataset.denseCount
    precondition(f == model.features.numSparse && d == model.features.numDense,
                 "dataset has \(f) sparse / \(d) dense columns, model expects \(model.features.numSparse) / \(model.features.numDense)")
    let b = max(1, min(batchSize, n))
    let size = communicator.size, rank = communicator.rank
    let state = model.context.state
    if size > 1 && state.count > 0 { try communicator.broadcast(state.base, count: state.count, root: 0) }
    model.prepare(batch: b)
    model.context.isTraining = false
    let sparse = Int32Buffer(count: b * f)
    let dense = FloatBuffer(count: b * d)
    let labels = FloatBuffer(count: b * max(dataset.taskCount, 1))
    var rows = [Int](repeating: 0, count: b)
    let batches = (n + b - 1) / b
    // This rank's batches, concatenated in batch order.
    var mine: [Float] = []
    mine.reserveCapacity(((batches + size - 1) / size) * b * t)
    var out = [Float](repeating: 0, count: b * t)
    var taskOut = [Float](repeating: 0, count: b * tasks)
    var auxOut = [Float](repeating: 0, count: b * max(aux, 1))
    for j in stride(from: rank, to: batches, by: size) {
        let start = j * b
        let count = min(b, n - start)
        for i in 0..<count { rows[i] = start + i }
        rows.withUnsafeBufferPointer { r in
            dataset.gather(rows: UnsafeBufferPointer(rebasing: r[0..<count]), sparse: sparse.base, dense: dense.base,
                           labels: labels.base)
        }
        model.forward(sparse: sparse.base, dense: dense.base, batch: count, params: model.parameterView)
        if aux == 0 {
            out.withUnsafeMutableBufferPointer { model.predictions(batch: count, into: $0.baseAddress!) }
        } else {
            taskOut.withUnsafeMutableBufferPointer { model.predictions(batch: count, into: $0.baseAddress!) }
            auxOut.withUnsafeMutableBufferPointer { model.auxiliaryPredictions(batch: count, into: $0.baseAddress!) }
            for r in 0..<count {
                for c in 0..<tasks { out[r * t + c] = taskOut[r * tasks + c] }
                for c in 0..<aux { out[r * t + tasks + c] = auxOut[r * aux + c] }
            }
        }
        mine.append(contentsOf: out[0..<(count * t)])
    }
    if size == 1 { return (mine, t) }
    let gathered = try mine.withUnsafeBufferPointer { try communicator.allGatherV($0.baseAddress!, count: mine.count) }
    // Gathered in rank order: rank r's batches r, r+S, …; put every batch back in place.
    var result = [Float](repeating: 0, count: n * t)
    var offset = 0
    for r in 0..<size {
        for j in stride(from: r, to: batches, by: size) {
            let count = min(b, n - j * b) * t
            result.withUnsafeMutableBufferPointer { dst in
                gathered.withUnsafeBufferPointer { src in
                    (dst.baseAddress! + j * b * t).update(from: src.baseAddress! + offset, count: count)
                }
            }
            offset += count
        }
    }
    return (result, t)
}

/// Per-task AUC and LogLoss (MSE for regression tasks) of `model` on a whole split, exactly.
///
/// Task t is scored against the dataset's label column t; `taskNames` defaults to the
/// dataset's label names. A task with a sample space (`sampleSpaces[t]`, a label column index,
/// as `task_sample_space` sets it) is also scored over the rows of its space only, reported
/// after the tasks and the model's auxiliary metrics as "task (on column = 1)".
public func evaluateMultiTask(_ model: any MultiTaskModel, _ dataset: TabularDataset, batchSize: Int = 4096,
                              taskNames: [String]? = nil, sampleSpaces: [Int?] = []) -> [TaskMetrics] {
    // A local communicator cannot fail.
    try! evaluateMultiTask(model, dataset, batchSize: batchSize, taskNames: taskNames, sampleSpaces: sampleSpaces,
                           communicator: LocalCommunicator())
}

/// `evaluateMultiTask` over several ranks: scoring is sharded (see `predictMultiTask`) and
/// rank 0 computes the metrics, exactly equal to the single-process ones; other ranks get [].
/// - Throws: `CommunicatorError` when gathering the scores fails (never with one rank).
public func evaluateMultiTask(_ model: any MultiTaskModel, _ dataset: TabularDataset, batchSize: Int = 4096,
                              taskNames: [String]? = nil, sampleSpaces: [Int?] = [],
                              communicator: any Communicator) throws -> [TaskMetrics] {
    let t = model.numTasks
    precondition(dataset.taskCount >= t, "dataset has \(dataset.taskCount) label columns, model \(t) tasks")
    let names = taskNames ?? dataset.schema.labels
    func columnName(_ c: Int) -> String {
        c < names.count ? names[c] : (dataset.schema.labels.indices.contains(c) ? dataset.schema.labels[c] : "label \(c)")
    }
    let (predictions, width) = try scoreAll(model, dataset, batchSize: batchSize, communicator: communicator)
    guard communicator.isRoot else { return [] }
    let n = dataset.count
    var results: [TaskMetrics] = []
    var column = [Float](repeating: 0, count: n)
    for task in 0..<t {
        for i in 0..<n { column[i] = predictions[i * width + task] }
        let labels = dataset.labels(task: task)
        if model.taskTypes[task] == .regression {
            results.append(TaskMetrics(task: names[task], auc: nil, logLoss: nil,
                                       mse: meanSquaredError(predictions: column, labels: labels),
                                       count: n, positives: 0, taskIndex: task))
        } else {
            let m = binaryMetrics(scores: column, labels: labels)
            results.append(TaskMetrics(task: names[task], auc: m.auc, logLoss: m.logLoss, mse: nil,
                                       count: m.count, positives: m.positives, taskIndex: task))
        }
    }
    for (k, extra) in model.auxiliaryMetrics.enumerated() {
        let labels = dataset.labels(task: extra.label)
        let keep = extra.onlyWhereLabel.map { dataset.labels(task: $0) }
        var scores: [Float] = [], ys: [Float] = []
        for i in 0..<n where keep == nil || keep![i] == 1 {
            scores.append(predictions[i * width + t + k])
            ys.append(labels[i])
        }
        let m = binaryMetrics(scores: scores, labels: ys)
        let suffix = extra.onlyWhereLabel.map { " (on \(columnName($0)) = 1)" } ?? ""
        results.append(TaskMetrics(task: extra.name + suffix, auc: m.auc, logLoss: m.logLoss, mse: nil,
                                   count: m.count, positives: m.positives, onlyWhere: extra.onlyWhereLabel.map(columnName)))
    }
    for (task, space) in sampleSpaces.enumerated() where task < t {
        guard let space, model.taskTypes[task] != .regression else { continue }
        precondition(space < dataset.taskCount, "sample space column \(space) of task \(task) is not loaded")
        let labels = dataset.labels(task: task), keep = dataset.labels(task: space)
        var scores: [Float] = [], ys: [Float] = []
        for i in 0..<n where keep[i] == 1 {
            scores.append(predictions[i * width + task])
            ys.append(labels[i])
        }
        let m = binaryMetrics(scores: scores, labels: ys)
        results.append(TaskMetrics(task: "\(names[task]) (on \(columnName(space)) = 1)", auc: m.auc, logLoss: m.logLoss,
                                   mse: nil, count: m.count, positives: m.positives, taskIndex: task,
                                   onlyWhere: columnName(space)))
    }
    return results
}
