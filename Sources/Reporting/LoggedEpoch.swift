/// One `"kind": "epoch"` line of `train_log.jsonl`: written after each epoch's validation.
///
/// ```
/// {"kind": "epoch", "epoch": 1, "step": 977, "train_loss": {"click": 0.41, …},
///  "validation": {"click": {"auc": 0.70, "logloss": 0.41}, "purchase (on click = 1)": {"auc": 0.6}},
///  "samples_per_second": 11800.5, "seconds": 84.2}
/// ```
public struct LoggedEpoch: Sendable, Equatable {
    /// The epoch (1-based).
    public var epoch: Int
    /// The global step at the epoch's end.
    public var step: Int
    /// Each task's mean training loss over the epoch.
    public var trainLoss: [String: Double]
    /// Validation metrics per scored series (a task, or a task over its sample space), each a
    /// map of metric name (`auc`, `logloss`, `mse`) to value; an undefined metric is absent, and
    /// the map is empty without a validation split.
    public var validation: [String: [String: Double]]
    /// Training throughput over all ranks for the epoch, samples per second.
    public var samplesPerSecond: Double?
    /// The epoch's wall time, seconds.
    public var seconds: Double?

    /// Reads one epoch line.
    /// - Throws: `ReportError.badField` naming the file, line and field.
    init(_ r: JSONObjectReader) throws {
        epoch = try r.int("epoch")
        step = try r.int("step")
        trainLoss = try r.optionalNumberMap("train_loss")
        var validation: [String: [String: Double]] = [:]
        if let v = try r.optionalObject("validation") {
            for key in v.keys {
                let metrics = try v.object(key)
                validation[key] = try Dictionary(uniqueKeysWithValues: metrics.keys.map { ($0, try metrics.number($0)) })
            }
        }
        self.validation = validation
        samplesPerSecond = try r.optionalNumber("samples_per_second")
        seconds = try r.optionalNumber("seconds")
    }
}
