import ArgumentParser

/// `--checkpoint FILE`: the options of every command that works from a checkpoint alone
/// (evaluate, predict, export).
struct CheckpointOptions: ParsableArguments {
    @Option(help: "A checkpoint file (.rhck).") var checkpoint: String

    func validate() throws {
        guard !checkpoint.isEmpty else { throw ValidationError("--checkpoint needs a file name") }
    }
}

/// `--batch-size N`: rows per scoring batch, for the commands that score a CSV.
struct ScoringOptions: ParsableArguments {
    @Option(name: .customLong("batch-size"), help: "Rows per scoring batch.") var batchSize: Int = 4096

    func validate() throws {
        guard (1...(1 << 22)).contains(batchSize) else {
            throw ValidationError("--batch-size \(batchSize) is outside 1...\(1 << 22)")
        }
    }
}
