/// Where a run's files go and how often it reports (`output_dir`, `log_every`,
/// `monitor_every`, `eval_batch_size`).
public struct LoggingConfig: Sendable, Codable, Equatable {
    /// Where metrics, the run log and (by default) checkpoints are written.
    public var outputDirectory = "runs/default"
    /// Progress lines and run-log step lines every this many steps.
    public var logEvery = 100
    /// Monitor per-task gradients (cosine similarity) every this many steps (0 = off).
    public var monitorEvery = 100
    /// Rows per scoring batch.
    public var evaluationBatchSize = 4096

    /// `runs/default`, a line every 100 steps, gradients monitored every 100 steps.
    public init() {}

    /// Reads the group's keys.
    /// - Throws: `ConfigError` naming the file, line and key of a value of the wrong type or range.
    mutating func read(_ r: ConfigReader) throws {
        monitorEvery = try r.int("monitor_every", monitorEvery, in: 0...Int.max)
        outputDirectory = try r.string("output_dir", outputDirectory)!
        logEvery = try r.int("log_every", logEvery, in: 1...Int.max)
        evaluationBatchSize = try r.int("eval_batch_size", evaluationBatchSize, in: 1...(1 << 22))
    }
}
