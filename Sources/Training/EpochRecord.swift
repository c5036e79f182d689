import Collectives
import Foundation
import Datasets
import Kernels
import Layers
import Models

/// What one epoch of training produced.
public struct EpochRecord: Sendable, Codable, Equatable {
    /// The epoch, from 1.
    public var epoch: Int
    /// Mean training loss per task over the epoch.
    public var trainLoss: [Double]
    /// Validation metrics per task (empty without a validation split).
    public var validation: [TaskMetrics]
    /// Wall time of the epoch's training steps.
    public var seconds: Double
    /// Training throughput over all ranks.
    public var samplesPerSecond: Double
    /// Each task's loss weight at the end of the epoch.
    public var taskWeights: [Float] = []
    /// Mean cosine similarity of the tasks' shared gradients over the epoch's monitored steps,
    /// pairs (0,1), (0,2), …; empty when no step was monitored.
    public var gradientCosines: [Double] = []
}
