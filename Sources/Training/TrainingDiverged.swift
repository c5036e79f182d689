import Collectives
import Foundation
import Datasets
import Kernels
import Layers
import Models

/// A task's loss became NaN or infinite: training stops before the update, naming the step,
/// the task and the last checkpoint (which predates the problem).
public struct TrainingDiverged: Error, CustomStringConvertible, Sendable {
    /// The step that produced the loss.
    public var step: Int
    /// The task.
    public var task: String
    /// The loss value.
    public var loss: Double
    /// The newest checkpoint, if any.
    public var lastCheckpoint: String?

    public var description: String {
        "loss of task '\(task)' is \(loss) at step \(step); stopped before updating the parameters. "
            + (lastCheckpoint.map { "Last good checkpoint: \($0)" } ?? "No checkpoint was written yet.")
    }
}
