import Kernels
import Layers
import Models

/// The model's shape and layers (`embedding_dim`, `expert_units`, `activation`, …): everything
/// `TrainConfig.makeModel` needs besides the model kind and the features.
public struct ArchitectureConfig: Sendable, Codable, Equatable {
    /// Task types, one per label (default: all classification).
    public var taskTypes: [TaskType]?
    /// Embedding width E.
    public var embeddingDim = 16
    /// Standard deviation of the initial embedding values.
    public var embeddingInitStd: Float = 1e-4
    /// MMoE, PLE: each expert's widths.
    public var expertUnits = [256, 128]
    /// MMoE: number of experts K; PLE: experts per task.
    public var numExperts = 8
    /// Tower hidden widths (`tower_units`; SharedBottom's `task_hidden_units`).
    public var towerUnits = [64, 32]
    /// SharedBottom: the bottom MLP's widths.
    public var hiddenUnits = [256, 128]
    /// PLE: shared experts per level.
    public var numSharedExperts = 1
    /// PLE: extraction levels (1 = CGC).
    public var numLayers = 1
    /// AITM: the behavioural expectation calibrator's weight α.
    public var calibratorAlpha: Float = 0.6
    /// Hidden activation of experts, bottoms and towers.
    public var activation: Activation = .relu
    /// Batch normalisation in every MLP (after each hidden linear layer, before the activation).
    public var batchNorm = false
    /// Dropout probability after every hidden activation, training only.
    public var dropout: Float = 0

    /// The tutorial's MMoE shape.
    public init() {}

    /// The MLP options these settings describe.
    public var mlpOptions: MLPOptions { MLPOptions(batchNorm: batchNorm, dropout: dropout) }

    /// Reads the group's keys for `model` (a shape key of another model is refused by
    /// `TrainConfig.parse` first).
    /// - Throws: `ConfigError` naming the file, line and key of a value of the wrong type or
    ///   range, an unknown activation, or an empty list of layers the model needs.
    mutating func read(_ r: ConfigReader, model: ModelKind) throws {
        taskTypes = try r.list("task_types", "classification or regression") { TaskType(rawValue: $0) }
        embeddingDim = try r.int("embedding_dim", embeddingDim, in: 1...4096)
        embeddingInitStd = Float(try r.double("embedding_init_std", Double(embeddingInitStd), in: 0...10))
        for key in Self.modelKeyTable where key.models.contains(model) { try key.read(&self, r) }
        if [.mmoe, .ple].contains(model) && expertUnits.isEmpty { throw r.fail("expert_units", r.raw("expert_units"), "needs at least one layer") }
        if [.esmm, .aitm].contains(model) && towerUnits.isEmpty { throw r.fail("tower_units", r.raw("tower_units"), "needs at least one layer") }
        if model == .sharedBottom && hiddenUnits.isEmpty { throw r.fail("hidden_units", r.raw("hidden_units"), "needs at least one layer") }
        activation = try r.choice("activation", activation, "expected one of relu, sigmoid, tanh, identity")
        batchNorm = try r.bool("batch_norm", batchNorm)
        dropout = Float(try r.double("dropout", Double(dropout), in: 0...0.99))
    }

    /// The keys only some models read: which models, how each is read, its value, and whether
    /// it fixes a parameter shape. One table serves parsing (a key of another model is
    /// refused), the checkpoint fingerprint (the shape keys) and the bench's report.
    public static let modelKeyTable: [ModelKey] = [
        ModelKey("expert_units", [.mmoe, .ple], shape: true, read: { a, r in a.expertUnits = try r.units("expert_units", a.expertUnits) },
                 value: { .units($0.expertUnits) }),
        ModelKey("num_experts", [.mmoe, .ple], shape: true,
                 read: { a, r in a.numExperts = try r.int("num_experts", a.numExperts, in: 1...1024) }, value: { .count($0.numExperts) }),
        ModelKey("tower_units", [.mmoe, .ple, .esmm, .aitm], shape: true,
                 read: { a, r in a.towerUnits = try r.units("tower_units", a.towerUnits) }, value: { .units($0.towerUnits) }),
        ModelKey("hidden_units", [.sharedBottom], shape: true,
                 read: { a, r in a.hiddenUnits = try r.units("hidden_units", a.hiddenUnits) }, value: { .units($0.hiddenUnits) }),
        // SharedBottom's name for the towers' widths (the same setting as tower_units).
        ModelKey("task_hidden_units", [.sharedBottom], shape: false,
                 read: { a, r in a.towerUnits = try r.units("task_hidden_units", a.towerUnits) }, value: { .units($0.towerUnits) }),
        ModelKey("num_shared_experts", [.ple], shape: true,
                 read: { a, r in a.numSharedExperts = try r.int("num_shared_experts", a.numSharedExperts, in: 1...1024) },
                 value: { .count($0.numSharedExperts) }),
        ModelKey("num_layers", [.ple], shape: true,
                 read: { a, r in a.numLayers = try r.int("num_layers", a.numLayers, in: 1...64) }, value: { .count($0.numLayers) }),
        // A loss coefficient, not a shape: a resume may change it.
        ModelKey("calibrator_alpha", [.aitm], shape: false,
                 read: { a, r in a.calibratorAlpha = Float(try r.double("calibrator_alpha", Double(a.calibratorAlpha), in: 0...1000)) },
                 value: { .number($0.calibratorAlpha) }),
    ]
}
