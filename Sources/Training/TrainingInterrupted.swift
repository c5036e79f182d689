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
    /// Whether rank 0 confirmed writing a checkpoint of this step (every rank learns it from
    /// rank 0 before it leaves).
    public var checkpointWritten = false

    public init(signal: Int32, step: Int, lastCheckpoint: String?, checkpointsOn: Bool = true,
                checkpointWritten: Bool = false) {
        self.signal = signal
        self.step = step
        self.lastCheckpoint = lastCheckpoint
        self.checkpointsOn = checkpointsOn
        self.checkpointWritten = checkpointWritten
    }

    public var description: String {
        let names = [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGUSR1: "SIGUSR1"]
        let name = names[signal] ?? "signal \(signal)"
        let saved: String
        if !checkpointsOn {
            saved = "checkpoints are off, nothing was saved"
        } else if checkpointWritten {
            saved = lastCheckpoint.map { "its state is in \($0) (continue with --resume)" }
                ?? "rank 0 wrote its checkpoint of this step (continue with --resume)"
        } else {
            saved = "no checkpoint of this step was written"
                + (lastCheckpoint.map { "; the newest is \($0)" } ?? "")
        }
        return "stopped by \(name) after step \(step); " + saved
    }
}
