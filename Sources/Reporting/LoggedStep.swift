/// One `"kind": "step"` line of `train_log.jsonl`: written every `log_every` steps and on
/// every monitored step.
///
/// ```
/// {"kind": "step", "step": 300, "epoch": 1, "losses": {"click": 0.41, "purchase": 0.05},
///  "weights": {"click": 1.0, "purchase": 1.0}, "samples_per_second": 11800.5,
///  "cosines": {"click,purchase": -0.12}}
/// ```
public struct LoggedStep: Sendable, Equatable {
    /// The global optimizer step (1-based) after which the line was written.
    public var step: Int
    /// The epoch (1-based) the step belongs to.
    public var epoch: Int
    /// Each task's mean training loss over the steps since the previous step line of the epoch.
    public var losses: [String: Double]
    /// The task weights after the step.
    public var weights: [String: Double]
    /// Throughput over all ranks since the epoch (or the resumed run) began, samples per second.
    public var samplesPerSecond: Double?
    /// Cosine similarity of the tasks' shared gradients per task pair "a,b" (monitored steps only).
    public var cosines: [String: Double]

    /// Reads one step line.
    /// - Throws: `ReportError.badField` naming the file, line and field.
    init(_ r: JSONObjectReader) throws {
        step = try r.int("step")
        epoch = try r.int("epoch")
        losses = try r.numberMap("losses")
        weights = try r.optionalNumberMap("weights")
        samplesPerSecond = try r.optionalNumber("samples_per_second")
        cosines = try r.optionalNumberMap("cosines")
    }
}
