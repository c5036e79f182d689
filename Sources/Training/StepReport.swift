/// What the trainer reports on rank 0 every `logEvery` steps and on every monitored step
/// (`monitorEvery`): the lines of `train_log.jsonl` and the TensorBoard curves (`RunLog`).
public struct StepReport: Sendable, Equatable {
    /// The global step just taken (from 1).
    public var step: Int
    /// Its epoch (from 1).
    public var epoch: Int
    /// Each task's mean training loss, per sample, over the steps since the previous report
    /// of this epoch (the epoch's start, or the previous report); by task position.
    public var losses: [Double]
    /// Each task's loss weight after the step.
    public var weights: [Float]
    /// Training samples per second over all ranks since the epoch, or the resumed run, began.
    public var samplesPerSecond: Double
    /// On monitored steps, the cosine similarity of the tasks' shared gradients at this step,
    /// pairs (0,1), (0,2), …, (1,2), …; nil on other steps.
    public var cosines: [Double]?

    /// A report of step `step`.
    public init(step: Int, epoch: Int, losses: [Double], weights: [Float], samplesPerSecond: Double,
                cosines: [Double]? = nil) {
        self.step = step
        self.epoch = epoch
        self.losses = losses
        self.weights = weights
        self.samplesPerSecond = samplesPerSecond
        self.cosines = cosines
    }
}
