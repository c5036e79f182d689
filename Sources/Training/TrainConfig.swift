import Datasets
import Kernels
import Layers
import Models

/// A training run, as read from a YAML config (snake_case keys, see `Configs/`).
public struct TrainConfig: Sendable, Codable, Equatable {
    /// The architecture.
    public var model: ModelKind = .mmoe
    /// Seed of parameter initialisation and data order.
    public var seed: UInt64 = 2022
    /// The data.
    public var data = DataConfig()
    /// Task types, one per label (default: all classification).
    public var taskTypes: [TaskType]?
    /// Embedding width E.
    public var embeddingDim = 16
    /// Standard deviation of the initial embedding values.
    public var embeddingInitStd: Float = 1e-4
    /// MMoE: each expert's widths.
    public var expertUnits = [256, 128]
    /// MMoE: number of experts K.
    public var numExperts = 8
    /// Tower hidden widths (MMoE `tower_units`; SharedBottom `task_hidden_units`).
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
    /// Skip each epoch's last, partial batch (`drop_last`).
    public var dropLast = false
    /// Dropout probability after every hidden activation, training only.
    public var dropout: Float = 0

    /// The MLP options these settings describe.
    public var mlpOptions: MLPOptions { MLPOptions(batchNorm: batchNorm, dropout: dropout) }
    /// Adam's base learning rate.
    public var learningRate: Float = 1e-3
    /// L2 weight decay.
    public var weightDecay: Float = 0
    /// Adam β₁.
    public var adamBeta1: Float = 0.9
    /// Adam β₂.
    public var adamBeta2: Float = 0.999
    /// Adam ε.
    public var adamEpsilon: Float = 1e-8
    /// Lazy (touched rows) or dense embedding updates.
    public var embeddingUpdate: EmbeddingUpdate = .lazy
    /// Global batch size.
    public var batchSize = 1024
    /// Epochs.
    public var epochs = 1
    /// Stop after this many optimizer steps in total (0 = no limit).
    public var maxSteps = 0
    /// Compare a checksum of every rank's parameters every this many steps (0 = never).
    public var checkReplicasEvery = 0
    /// Where checkpoints go (default `<output_dir>/checkpoints`).
    public var checkpointDirectory: String?
    /// Also checkpoint every this many steps inside an epoch (0 = only at epoch ends).
    public var checkpointEvery = 0
    /// How many step checkpoints to keep.
    public var keepLast = 3
    /// Whether to write checkpoints at all.
    public var checkpoints = true
    /// The task (label name) whose validation AUC drives early stopping (nil = off).
    public var earlyStopTask: String?
    /// Epochs without improvement before stopping.
    public var earlyStopPatience = 2
    /// Fixed task weights.
    public var taskWeights: [Float]?
    /// The task-weighting strategy (`task_weights_strategy`).
    public var taskWeightsStrategy = TaskWeightingStrategy.fixed
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
    /// Task name → the column whose value 1 marks the task's sample space (another task's label
    /// or one of `data.mask_columns`).
    public var taskSampleSpace: [String: String] = [:]
    /// Task name → positive-class weight.
    public var posWeight: [String: Float] = [:]
    /// Monitor per-task gradients (cosine similarity) every this many steps (0 = off).
    public var monitorEvery = 100
    /// Learning rate of each task's own parameters, by task name.
    public var taskSpecificLR: [String: Float] = [:]
    /// BLAS threads per rank (0 = cores ÷ ranks).
    public var threads = 0
    /// OpenBLAS's kernel set (`blas_core`: auto, keep or a core name; nil when the key is
    /// absent: `RECHUB_BLAS_CORE`, else auto). See `BLASCore`.
    public var blasCore: BLASCorePolicy?
    /// Where metrics are written.
    public var outputDirectory = "runs/default"
    /// Plain progress lines every this many steps (when not on a terminal).
    public var logEvery = 100
    /// Rows per scoring batch.
    public var evaluationBatchSize = 4096
    /// The config document this was parsed from (after overrides), as YAML; checkpoints keep it
    /// so that a resume can re-read it with new overrides.
    public var sourceYAML = ""

    /// The built-in defaults: MMoE of the tutorial's shape on generated Ali-CCP-shaped data.
    public init() {}

    /// The task-weighting method these settings describe.
    public var taskWeightingMethod: TaskWeightingMethod {
        switch taskWeightsStrategy {
        case .uncertainty: return .uncertainty
        case .gradnorm: return .gradNorm(alpha: gradnormAlpha, learningRate: gradnormLR, tensors: gradnormLayers)
        case .metabalance:
            return .metaBalance(MetaBalance(relaxFactor: relaxFactor, beta: beta,
                                            target: metabalanceTarget.flatMap { data.labels.firstIndex(of: $0) } ?? 0,
                                            strategy: metabalanceStrategy))
        case .fixed: return .fixed(taskWeights)
        }
    }

    /// The kind of each label column the run reads: the tasks' (binary for classification,
    /// real for regression), then the mask columns' (binary).
    public var labelKinds: [LabelKind] {
        (taskTypes ?? Array(repeating: .classification, count: data.labels.count)).map { $0 == .classification ? .binary : .real }
            + data.maskColumns.map { _ in .binary }
    }

    /// Each task's sample-space column among the label columns read (the tasks', then the
    /// mask columns'), or nil for every row (`task_sample_space`).
    public var sampleSpaceColumns: [Int?] {
        let columns = data.labels + data.maskColumns
        return data.labels.map { task in taskSampleSpace[task].flatMap { columns.firstIndex(of: $0) } }
    }

    /// The trainer's settings this config describes (checkpointing's cadence included; whether
    /// checkpoints are written at all is the job's choice).
    public var trainerOptions: TrainerOptions {
        var o = TrainerOptions()
        o.epochs = epochs
        o.batchSize = batchSize
        o.taskWeighting = taskWeightingMethod
        o.taskLearningRates = data.labels.map { taskSpecificLR[$0] }
        o.seed = seed
        o.evaluationBatchSize = evaluationBatchSize
        o.maxSteps = maxSteps
        o.dropLast = dropLast
        o.monitorEvery = monitorEvery
        o.logEvery = logEvery
        o.sampleSpaces = sampleSpaceColumns
        o.positiveWeights = data.labels.map { posWeight[$0] ?? 1 }
        o.replicaCheckEvery = checkReplicasEvery
        o.earlyStopTask = earlyStopTask.flatMap { data.labels.firstIndex(of: $0) }
        o.patience = earlyStopPatience
        o.checkpointEvery = checkpointEvery
        return o
    }

    /// Builds the configured model over `features` (the one place a config becomes a model:
    /// training, the bench, and a checkpoint's model).
    public func makeModel(features: Features) -> any MultiTaskModel {
        let t = data.labels.count
        switch model {
        case .mmoe:
            return MMoE(features: features, expertUnits: expertUnits, numExperts: numExperts,
                        numTasks: t, towerUnits: towerUnits, taskTypes: taskTypes,
                        expertActivation: activation, towerActivation: activation,
                        options: mlpOptions, embeddingInitStd: embeddingInitStd)
        case .sharedBottom:
            return SharedBottom(features: features, hiddenUnits: hiddenUnits, taskHiddenUnits: towerUnits,
                                numTasks: t, taskTypes: taskTypes, activation: activation,
                                options: mlpOptions, embeddingInitStd: embeddingInitStd)
        case .esmm:
            return ESMM(features: features, towerUnits: towerUnits, activation: activation,
                        options: mlpOptions, embeddingInitStd: embeddingInitStd)
        case .ple:
            return PLE(features: features, expertUnits: expertUnits, numExperts: numExperts,
                       numLayers: numLayers, numSharedExperts: numSharedExperts,
                       taskTypes: taskTypes ?? Array(repeating: .classification, count: t),
                       towerUnits: towerUnits, activation: activation, options: mlpOptions,
                       embeddingInitStd: embeddingInitStd)
        case .aitm:
            return AITM(features: features, towerUnits: towerUnits, numTasks: t, alpha: calibratorAlpha,
                        activation: activation, options: mlpOptions, embeddingInitStd: embeddingInitStd)
        }
    }

    /// The keys only some models read: which models, how each is read, its value, and whether
    /// it fixes a parameter shape. One table serves parsing (a key of another model is
    /// refused), the checkpoint fingerprint (the shape keys) and the bench's report.
    public static let modelKeyTable: [ModelKey] = [
        ModelKey("expert_units", [.mmoe, .ple], shape: true, read: { c, r in c.expertUnits = try r.units("expert_units", c.expertUnits) },
                 value: { .units($0.expertUnits) }),
        ModelKey("num_experts", [.mmoe, .ple], shape: true,
                 read: { c, r in c.numExperts = try r.int("num_experts", c.numExperts, in: 1...1024) }, value: { .count($0.numExperts) }),
        ModelKey("tower_units", [.mmoe, .ple, .esmm, .aitm], shape: true,
                 read: { c, r in c.towerUnits = try r.units("tower_units", c.towerUnits) }, value: { .units($0.towerUnits) }),
        ModelKey("hidden_units", [.sharedBottom], shape: true,
                 read: { c, r in c.hiddenUnits = try r.units("hidden_units", c.hiddenUnits) }, value: { .units($0.hiddenUnits) }),
        // SharedBottom's name for the towers' widths (the same setting as tower_units).
        ModelKey("task_hidden_units", [.sharedBottom], shape: false,
                 read: { c, r in c.towerUnits = try r.units("task_hidden_units", c.towerUnits) }, value: { .units($0.towerUnits) }),
        ModelKey("num_shared_experts", [.ple], shape: true,
                 read: { c, r in c.numSharedExperts = try r.int("num_shared_experts", c.numSharedExperts, in: 1...1024) },
                 value: { .count($0.numSharedExperts) }),
        ModelKey("num_layers", [.ple], shape: true,
                 read: { c, r in c.numLayers = try r.int("num_layers", c.numLayers, in: 1...64) }, value: { .count($0.numLayers) }),
        // A loss coefficient, not a shape: a resume may change it.
        ModelKey("calibrator_alpha", [.aitm], shape: false,
                 read: { c, r in c.calibratorAlpha = Float(try r.double("calibrator_alpha", Double(c.calibratorAlpha), in: 0...1000)) },
                 value: { .number($0.calibratorAlpha) }),
    ]

    /// Keys that only some models read, and which (from `modelKeyTable`).
    public static var modelKeys: [String: [ModelKind]] {
        Dictionary(uniqueKeysWithValues: modelKeyTable.map { ($0.name, $0.models) })
    }

    /// The model keys of this config's model with their values, in the table's order.
    public var modelKeyValues: [(name: String, value: ModelKeyValue)] {
        Self.modelKeyTable.filter { $0.models.contains(model) }.map { ($0.name, $0.value(self)) }
    }

    /// Parses a config document (after `--set` overrides), checking every key and value: one
    /// reader per group of settings (model, data, optimizer, schedule, checkpoints, weighting,
    /// per-task settings, runtime), then the checks that span groups.
    /// - Throws: `ConfigError` naming the file, line and key of the first unknown key, value of
    ///   the wrong type or range, or setting that contradicts another (or a missing `data.train`).
    public static func parse(_ root: ConfigNode) throws -> TrainConfig {
        var c = TrainConfig()
        c.sourceYAML = root.yaml()
        let r = try ConfigReader(root)
        try c.readModelKind(r)
        c.seed = UInt64(try r.int("seed", Int(c.seed), in: 0...Int.max))
        if let d = try r.section("data") { c.data = try parseData(d) }
        try c.readArchitecture(r)
        try c.readOptimizer(r)
        try c.readSchedule(r)
        try c.readCheckpoints(r)
        try c.readWeighting(r)
        try c.readPerTaskSettings(r)
        try c.readRuntime(r)
        try r.finish(known: Array(modelKeys.keys))
        try c.checkAgainstLabels(r, file: root.origin.file)
        return c
    }

    /// `model`, and no key that only other models read.
    private mutating func readModelKind(_ r: ConfigReader) throws {
        if let name = try r.string("model") {
            guard let kind = ModelKind(rawValue: name) else {
                throw r.fail("model", r.raw("model"),
                             "unknown model '\(name)' (known: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            model = kind
        }
        for (key, kinds) in Self.modelKeys.sorted(by: { $0.key < $1.key }) where r.has(key) && !kinds.contains(model) {
            throw r.fail(key, r.raw(key), "not used by model '\(model.rawValue)' (used by \(kinds.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    /// Task types, embeddings, the model's shape keys, activation, batch norm and dropout.
    private mutating func readArchitecture(_ r: ConfigReader) throws {
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

    /// Adam's learning rate, weight decay, betas and epsilon, and the embedding update.
    private mutating func readOptimizer(_ r: ConfigReader) throws {
        learningRate = Float(try r.double("learning_rate", Double(learningRate), in: 0...10))
        weightDecay = Float(try r.double("weight_decay", Double(weightDecay), in: 0...10))
        adamBeta1 = Float(try r.double("adam_beta1", Double(adamBeta1), in: 0...0.999999))
        adamBeta2 = Float(try r.double("adam_beta2", Double(adamBeta2), in: 0...0.999999))
        adamEpsilon = Float(try r.double("adam_epsilon", Double(adamEpsilon), in: 0...1))
        embeddingUpdate = try r.choice("embedding_update", embeddingUpdate, "expected lazy or dense")
    }

    /// Batch size, epochs, step limit, partial batches, replica checks and early stopping.
    private mutating func readSchedule(_ r: ConfigReader) throws {
        batchSize = try r.int("batch_size", batchSize, in: 1...(1 << 22))
        epochs = try r.int("epochs", epochs, in: 0...100_000)
        maxSteps = try r.int("max_steps", maxSteps, in: 0...Int.max)
        checkReplicasEvery = try r.int("check_replicas_every", checkReplicasEvery, in: 0...Int.max)
        dropLast = try r.bool("drop_last", dropLast)
        earlyStopTask = try r.string("earlystop_task")
        earlyStopPatience = try r.int("earlystop_patience", earlyStopPatience, in: 1...100_000)
    }

    /// Where and how often checkpoints are written.
    private mutating func readCheckpoints(_ r: ConfigReader) throws {
        checkpointDirectory = try r.string("checkpoint_dir")
        checkpointEvery = try r.int("checkpoint_every", checkpointEvery, in: 0...Int.max)
        keepLast = try r.int("keep_last", keepLast, in: 1...100_000)
        checkpoints = try r.bool("checkpoints", checkpoints)
    }

    /// The strategy and its settings; a setting of another strategy is refused.
    private mutating func readWeighting(_ r: ConfigReader) throws {
        taskWeights = try r.list("task_weights", "non-negative numbers") { Float($0).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }
        taskWeightsStrategy = try r.choice("task_weights_strategy", taskWeightsStrategy, { "unknown strategy '\($0)' (known: "
            + TaskWeightingStrategy.allCases.map(\.rawValue).joined(separator: ", ") + ")" })
        if taskWeights != nil && taskWeightsStrategy != .fixed {
            throw r.fail("task_weights", r.raw("task_weights"), "only applies to task_weights_strategy: fixed")
        }
        gradnormAlpha = Float(try r.double("gradnorm_alpha", Double(gradnormAlpha), in: 0...100))
        gradnormLR = Float(try r.double("gradnorm_lr", Double(gradnormLR), in: 0...100))
        gradnormLayers = try r.list("gradnorm_layers", "tensor names") { $0.isEmpty ? nil : $0 }
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
        for (key, owner) in owners where r.has(key) && taskWeightsStrategy != owner {
            throw r.fail(key, r.raw(key), "only applies to task_weights_strategy: \(owner.rawValue)")
        }
    }

    /// Settings keyed by task name: sample spaces, positive weights, own learning rates.
    private mutating func readPerTaskSettings(_ r: ConfigReader) throws {
        if let space = try r.section("task_sample_space") {
            let columns = data.labels + data.maskColumns
            for task in data.labels where space.has(task) {
                let column = try space.string(task)!
                guard columns.contains(column), column != task else {
                    throw space.fail(task, space.raw(task), "'\(column)' is not another task's label or a data.mask_columns entry")
                }
                taskSampleSpace[task] = column
            }
            try space.finish(known: data.labels)
        }
        if let pw = try r.section("pos_weight") {
            for task in data.labels where pw.has(task) {
                posWeight[task] = Float(try pw.double(task, 1, in: 1e-6...1e6))
            }
            try pw.finish(known: data.labels)
        }
        if let lr = try r.section("task_specific_lr") {
            for task in data.labels where lr.has(task) {
                taskSpecificLR[task] = Float(try lr.double(task, 0, in: 0...10))
            }
            try lr.finish(known: data.labels)
        }
    }

    /// Monitoring, threads, the BLAS core, where results go, logging and scoring batches.
    private mutating func readRuntime(_ r: ConfigReader) throws {
        monitorEvery = try r.int("monitor_every", monitorEvery, in: 0...Int.max)
        threads = try r.int("threads", threads, in: 0...1024)
        if let core = try r.string("blas_core") {
            do { blasCore = try BLASCorePolicy(parsing: core) } catch let e as BLASLoadError {
                throw r.fail("blas_core", r.raw("blas_core"), e.message)
            }
        }
        outputDirectory = try r.string("output_dir", outputDirectory)!
        logEvery = try r.int("log_every", logEvery, in: 1...Int.max)
        evaluationBatchSize = try r.int("eval_batch_size", evaluationBatchSize, in: 1...(1 << 22))
    }

    /// The checks that span groups: data.train present, and every per-task setting against
    /// the labels (ESMM's two tasks, task names, list lengths).
    private func checkAgainstLabels(_ r: ConfigReader, file: String) throws {
        if data.train == nil {
            throw ConfigError(file: file, key: "data.train", message: "missing: give data.train (a CSV) or data.generate")
        }
        let t = data.labels.count
        if model == .esmm && t != 2 {
            throw ConfigError(file: file, key: "data.labels",
                              message: "ESMM needs exactly two labels, click then purchase (got \(data.labels))")
        }
        if [.esmm, .aitm].contains(model), let types = taskTypes, types.contains(.regression) {
            throw r.fail("task_types", r.raw("task_types"), "\(model.rawValue) tasks are all classification")
        }
        let labels = data.labels.joined(separator: ", ")
        if let task = metabalanceTarget, !data.labels.contains(task) {
            throw r.fail("metabalance_target", r.raw("metabalance_target"), "'\(task)' is not a task (labels: \(labels))")
        }
        if let task = earlyStopTask, !data.labels.contains(task) {
            throw r.fail("earlystop_task", r.raw("earlystop_task"), "'\(task)' is not a task (labels: \(labels))")
        }
        if let types = taskTypes, types.count != t {
            throw r.fail("task_types", r.raw("task_types"), "has \(types.count) entries for \(t) labels \(data.labels)")
        }
        if let w = taskWeights, w.count != t {
            throw r.fail("task_weights", r.raw("task_weights"), "has \(w.count) entries for \(t) labels \(data.labels)")
        }
    }

    static func parseData(_ d: ConfigReader) throws -> DataConfig {
        var data = DataConfig()
        data.train = try d.string("train")
        data.validation = try d.string("val")
        data.test = try d.string("test")
        if let labels = try d.list("labels", "column names", { $0.isEmpty ? nil : $0 }) {
            guard !labels.isEmpty else { throw d.fail("labels", d.raw("labels"), "needs at least one label column") }
            data.labels = labels
        }
        data.maskColumns = try d.list("mask_columns", "column names") { $0.isEmpty ? nil : $0 } ?? []
        data.sparse = try d.list("sparse", "column names") { $0.isEmpty ? nil : $0 }
        data.dense = try d.list("dense", "column names") { $0.isEmpty ? nil : $0 }
        data.vocabularySizes = try d.list("vocabulary_sizes", "positive integers") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        data.cache = try d.bool("cache", data.cache)
        data.cacheDirectory = try d.string("cache_dir")
        if let g = try d.section("generate") {
            var gen = GenerateConfig()
            gen.trainRows = try g.int("rows", gen.trainRows, in: GenerateConfig.rowsRange)
            gen.validationRows = try g.int("val_rows", gen.validationRows, in: GenerateConfig.rowsRange)
            gen.testRows = try g.int("test_rows", gen.testRows, in: GenerateConfig.rowsRange)
            gen.seed = UInt64(try g.int("seed", Int(gen.seed), in: 0...Int.max))
            gen.scale = try g.double("scale", gen.scale, in: GenerateConfig.scaleRange)
            gen.directory = try g.string("dir", gen.directory)!
            gen.clickRate = try g.double("click_rate", gen.clickRate, in: GenerateConfig.clickRateRange)
            gen.purchaseRateGivenClick = try g.double("purchase_rate", gen.purchaseRateGivenClick,
                                                      in: GenerateConfig.purchaseRateRange)
            gen.selectionBias = try g.double("selection_bias", gen.selectionBias, in: GenerateConfig.selectionBiasRange)
            try g.finish()
            data.generate = gen
            let base = gen.directory.hasSuffix("/") ? gen.directory : gen.directory + "/"
            data.train = data.train ?? base + "train.csv"
            data.validation = data.validation ?? base + "val.csv"
            data.test = data.test ?? base + "test.csv"
        }
        try d.finish()
        if data.train == nil {
            throw d.fail("train", nil, "missing: give data.train (a CSV) or data.generate")
        }
        if let s = data.sparse, let v = data.vocabularySizes, s.count != v.count {
            throw d.fail("vocabulary_sizes", d.raw("vocabulary_sizes"), "has \(v.count) entries for \(s.count) sparse columns")
        }
        return data
    }
}
