import Collectives
import Datasets
import Evaluation
import Foundation
import Kernels
import Layers
import Models

/// The result of a training run.
public struct JobResult: Sendable {
    /// One record per epoch.
    public var history: [EpochRecord]
    /// Test metrics per task (rank 0; empty without a test split).
    public var test: [TaskMetrics]
    /// The generated data's report, when the config generated data.
    public var generation: GenerationReport?
    /// Wall time of the whole job.
    public var seconds: Double
    /// Out-of-vocabulary ids of every split.
    public var outOfVocabulary: [OutOfVocabularyReport] = []
}
