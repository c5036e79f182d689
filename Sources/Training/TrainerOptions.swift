/// The trainer's settings, given at construction (`MTLTrainer(model:optimizer:options:)`).
/// The hooks (checkpoint, log, progress line, step and epoch reports, stop requests, the
/// profiler) stay properties of the trainer, set by whoever listens.
public struct TrainerOptions: Sendable {
    /// Passes over the training split.
    public var epochs = 1
    /// The global batch size B (summed over ranks; must divide evenly over them).
    public var batchSize = 1024
    /// How the tasks' losses and gradients are combined.
    public var taskWeighting = TaskWeightingMethod.fixed(nil)
    /// Per task, its own parameters' learning rate, or nil for the optimizer's base rate.
    public var taskLearningRates: [Float?]?
    /// Seed of the per-epoch data permutation and of dropout.
    public var seed: UInt64 = 0
    /// Rows per scoring batch during evaluation.
    public var evaluationBatchSize = 4096
    /// Stop after this many steps in total (0 = no limit).
    public var maxSteps = 0
    /// Skip each epoch's last, partial batch.
    public var dropLast = false
    /// Compute each task's shared gradient separately every this many steps, for the cosine
    /// between tasks (0 = never).
    public var monitorEvery = 0
    /// Report a step through `onStep` every this many steps (0 = only monitored steps).
    public var logEvery = 0
    /// Per task, the label column whose value 1 marks its sample space (nil: every row).
    public var sampleSpaces: [Int?]?
    /// Per task, the positive-class weight (nil: 1 for every task).
    public var positiveWeights: [Float]?
    /// Compare a checksum of every rank's parameters every this many steps (0 = never).
    public var replicaCheckEvery = 0
    /// The task whose validation AUC drives early stopping (nil = none).
    public var earlyStopTask: Int?
    /// Epochs without improvement before stopping.
    public var patience = 2
    /// Offer a checkpoint every this many steps (0 = only at epoch ends).
    public var checkpointEvery = 0

    /// The defaults: one epoch of batch 1024, fixed equal weights, nothing monitored.
    public init() {}
}
