import Collectives
import Foundation
import Datasets
import Kernels
import Layers
import Models

/// The moments at which the trainer offers to write a checkpoint.
public enum CheckpointMoment: Sendable {
    /// Every `checkpointEvery` steps inside an epoch.
    case step
    /// After an epoch and its validation.
    case epochEnd
    /// After an epoch that improved the early-stopping metric.
    case best
}
