/// Whether, where and how often checkpoints are written (`checkpoints`, `checkpoint_dir`,
/// `checkpoint_every`, `keep_last`).
public struct CheckpointConfig: Sendable, Codable, Equatable {
    /// Whether to write checkpoints at all.
    public var enabled = true
    /// Where checkpoints go (default `<output_dir>/checkpoints`).
    public var directory: String?
    /// Also checkpoint every this many steps inside an epoch (0 = only at epoch ends).
    public var every = 0
    /// How many step checkpoints to keep.
    public var keepLast = 3

    /// At every epoch end, into the output folder, the last three kept.
    public init() {}

    /// Reads the group's keys.
    /// - Throws: `ConfigError` naming the file, line and key of a value of the wrong type or range.
    mutating func read(_ r: ConfigReader) throws {
        directory = try r.string("checkpoint_dir")
        every = try r.int("checkpoint_every", every, in: 0...Int.max)
        keepLast = try r.int("keep_last", keepLast, in: 1...100_000)
        enabled = try r.bool("checkpoints", enabled)
    }
}
