/// The task-weighting strategy and its settings (`task_weights_strategy`, `task_weights`,
/// `gradnorm_*`, `relax_factor`, `beta`, `metabalance_*`).
public struct WeightingConfig: Sendable, Codable, Equatable {
    /// The strategy.
    public var strategy = TaskWeightingStrategy.fixed
    /// Fixed task weights.
    public var taskWeights: [Float]?
    /// GradNorm's asymmetry α.
    public var gradnormAlpha: Float = 1.5
    /// GradNorm's learning rate for the task weights.
    public var gradnormLR: Float = 0.01
    /// GradNorm's W (tensor names; default the model's last shared layer).
    public var gradnormLayers: [String]?
    /// MetaBalance's relax factor r.
    public var relaxFactor: Float = 0.7
    /// MetaBalance's moving-average factor β.
    public var beta: Float = 0.9
    /// MetaBalance's target task (default the first task).
    public var metabalanceTarget: String?
    /// MetaBalance's strategy A, B or C.
    public var metabalanceStrategy: MetaBalanceStrategy = .C

    /// Fixed equal weights.
    public init() {}

    /// The method these settings describe, for tasks `labels` (MetaBalance's target by name).
    public func method(labels: [String]) -> TaskWeightingMethod {
        switch strategy {
        case .uncertainty: return .uncertainty
        case .gradnorm: return .gradNorm(alpha: gradnormAlpha, learningRate: gradnormLR, tensors: gradnormLayers)
        case .metabalance:
            return .metaBalance(MetaBalance(relaxFactor: relaxFactor, beta: beta,
                                            target: metabalanceTarget.flatMap { labels.firstIndex(of: $0) } ?? 0,
                                            strategy: metabalanceStrategy))
        case .fixed: return .fixed(taskWeights)
        }
    }

    /// Reads the strategy and its settings; a setting of another strategy is refused.
    /// - Throws: `ConfigError` naming the file, line and key of an unknown strategy, a value of
    ///   the wrong type or range, or a setting the strategy does not read.
    mutating func read(_ r: ConfigReader) throws {
        taskWeights = try r.list("task_weights", "non-negative finite numbers") { Float($0).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }
        strategy = try r.choice("task_weights_strategy", strategy, { "unknown strategy '\($0)' (known: "
            + TaskWeightingStrategy.allCases.map(\.rawValue).joined(separator: ", ") + ")" })
        if taskWeights != nil && strategy != .fixed {
            throw r.fail("task_weights", r.raw("task_weights"), "only applies to task_weights_strategy: fixed")
        }
        gradnormAlpha = Float(try r.double("gradnorm_alpha", Double(gradnormAlpha), in: 0...100))
        gradnormLR = Float(try r.double("gradnorm_lr", Double(gradnormLR), in: 0...100))
        gradnormLayers = try r.list("gradnorm_layers", "tensor names") { $0.isEmpty ? nil : $0 }
        if gradnormLayers?.isEmpty == true {
            throw r.fail("gradnorm_layers", r.raw("gradnorm_layers"),
                         "needs at least one tensor name (leave the key out for the last shared layer's weight)")
        }
        relaxFactor = Float(try r.double("relax_factor", Double(relaxFactor), in: 0...1))
        beta = Float(try r.double("beta", Double(beta), in: 0...0.999999))
        metabalanceTarget = try r.string("metabalance_target")
        if let s = try r.string("metabalance_strategy") {
            guard let v = MetaBalanceStrategy(rawValue: s.uppercased()) else {
                throw r.fail("metabalance_strategy", r.raw("metabalance_strategy"), "expected A, B or C")
            }
            metabalanceStrategy = v
        }
        let owners: [(String, TaskWeightingStrategy)] = [
            ("gradnorm_alpha", .gradnorm), ("gradnorm_lr", .gradnorm), ("gradnorm_layers", .gradnorm),
            ("relax_factor", .metabalance), ("beta", .metabalance), ("metabalance_target", .metabalance),
            ("metabalance_strategy", .metabalance)]
        for (key, owner) in owners where r.has(key) && strategy != owner {
            throw r.fail(key, r.raw(key), "only applies to task_weights_strategy: \(owner.rawValue)")
        }
    }
}
