import Collectives
import Foundation
import Datasets
import Kernels
import Layers
import Models

/// Training stopped on a signal (SIGINT, SIGTERM) after finishing a step and writing a
/// checkpoint, on every rank; resume with `--resume`.
public struct TrainingInterrupted: Error, CustomStringConvertible, Sendable {
    /// The signal number.
    public var signal: Int32
    /// The last step taken.
    public var step: Int
    /// The checkpoint holding that step (rank 0, when checkpoints are on).
    public var lastCheckpoint: String?
    /// Whether a checkpoint was offered (rank 0 writes it).
    public var checkpointsOn = true

    public var description: String {
        let name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)"
        let saved = lastCheckpoint.map { "its state is in \($0) (continue with --resume)" }
            ?? (checkpointsOn ? "rank 0 wrote its checkpoint" : "checkpoints are off, nothing was saved")
        return "stopped by \(name) after step \(step); " + saved
    }
}
