/// Adam's settings (`learning_rate`, `weight_decay`, `adam_beta1`, …) and each task's own
/// learning rate (`task_specific_lr`), which become the optimizer's parameter groups.
public struct OptimizerConfig: Sendable, Codable, Equatable {
    /// Adam's base learning rate.
    public var learningRate: Float = 1e-3
    /// L2 weight decay.
    public var weightDecay: Float = 0
    /// Adam β₁.
    public var beta1: Float = 0.9
    /// Adam β₂.
    public var beta2: Float = 0.999
    /// Adam ε.
    public var epsilon: Float = 1e-8
    /// Lazy (touched rows) or dense embedding updates.
    public var embeddingUpdate: EmbeddingUpdate = .lazy
    /// Learning rate of each task's own parameters, by task name.
    public var taskLearningRates: [String: Float] = [:]

    /// torch.optim.Adam's defaults, lr 1e-3.
    public init() {}

    /// The optimizer these settings describe.
    public func makeAdam() -> Adam {
        Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay,
             embeddingUpdate: embeddingUpdate)
    }

    /// Reads the group's keys; `task_specific_lr` is keyed by the task names `labels`.
    /// - Throws: `ConfigError` naming the file, line and key of a value of the wrong type or
    ///   range, or of a task that is not a label.
    mutating func read(_ r: ConfigReader, labels: [String]) throws {
        learningRate = Float(try r.double("learning_rate", Double(learningRate), in: 0...10))
        weightDecay = Float(try r.double("weight_decay", Double(weightDecay), in: 0...10))
        beta1 = Float(try r.double("adam_beta1", Double(beta1), in: 0...0.999999))
        beta2 = Float(try r.double("adam_beta2", Double(beta2), in: 0...0.999999))
        epsilon = Float(try r.double("adam_epsilon", Double(epsilon), in: 0...1))
        embeddingUpdate = try r.choice("embedding_update", embeddingUpdate, "expected lazy or dense")
        if let lr = try r.section("task_specific_lr") {
            for task in labels where lr.has(task) {
                taskLearningRates[task] = Float(try lr.double(task, 0, in: 0...10))
            }
            try lr.finish(known: labels)
        }
    }
}
