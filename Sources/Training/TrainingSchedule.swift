/// How long and in what batches training runs (`batch_size`, `epochs`, `max_steps`,
/// `drop_last`, early stopping, replica checks).
public struct TrainingSchedule: Sendable, Codable, Equatable {
    /// Global batch size.
    public var batchSize = 1024
    /// Epochs.
    public var epochs = 1
    /// Stop after this many optimizer steps in total (0 = no limit).
    public var maxSteps = 0
    /// Skip each epoch's last, partial batch (`drop_last`).
    public var dropLast = false
    /// Compare a checksum of every rank's parameters every this many steps (0 = never).
    public var checkReplicasEvery = 0
    /// The task (label name) whose validation AUC drives early stopping (nil = off).
    public var earlyStopTask: String?
    /// Epochs without improvement before stopping.
    public var earlyStopPatience = 2

    /// One epoch of batch 1024.
    public init() {}

    /// Reads the group's keys.
    /// - Throws: `ConfigError` naming the file, line and key of a value of the wrong type or range.
    mutating func read(_ r: ConfigReader) throws {
        batchSize = try r.int("batch_size", batchSize, in: 1...(1 << 22))
        epochs = try r.int("epochs", epochs, in: 0...100_000)
        maxSteps = try r.int("max_steps", maxSteps, in: 0...Int.max)
        checkReplicasEvery = try r.int("check_replicas_every", checkReplicasEvery, in: 0...Int.max)
        dropLast = try r.bool("drop_last", dropLast)
        earlyStopTask = try r.string("earlystop_task")
        earlyStopPatience = try r.int("earlystop_patience", earlyStopPatience, in: 1...100_000)
    }
}
