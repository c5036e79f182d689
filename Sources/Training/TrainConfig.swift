import Datasets
import Kernels
import Layers
import Models

/// A training run, as read from a YAML config (snake_case keys, see `Configs/`), in typed
/// groups: the model kind and its architecture, the data, the optimizer, the schedule,
/// checkpoints, task weighting and logging, plus the per-task and runtime settings. Each group
/// reads its own keys; `parse` reads them in turn, then checks what spans groups.
public struct TrainConfig: Sendable, Codable, Equatable {
    /// The architecture's kind.
    public var model: ModelKind = .mmoe
    /// Seed of parameter initialisation, data order and dropout.
    public var seed: UInt64 = 2022
    /// The data.
    public var data = DataConfig()
    /// The model's shape and layers.
    public var architecture = ArchitectureConfig()
    /// Adam and the tasks' own learning rates.
    public var optimizer = OptimizerConfig()
    /// Batches, epochs, step limit, early stopping.
    public var schedule = TrainingSchedule()
    /// Checkpoints.
    public var checkpointing = CheckpointConfig()
    /// Task weighting.
    public var weighting = WeightingConfig()
    /// Output folder and reporting.
    public var logging = LoggingConfig()
    /// Task name → the column whose value 1 marks the task's sample space (another task's label
    /// or one of `data.mask_columns`).
    public var taskSampleSpace: [String: String] = [:]
    /// Task name → positive-class weight.
    public var posWeight: [String: Float] = [:]
    /// BLAS threads per rank (0 = cores ÷ ranks).
    public var threads = 0
    /// OpenBLAS's kernel set (`blas_core`: auto, keep or a core name; nil when the key is
    /// absent: `RECHUB_BLAS_CORE`, else auto). See `BLASCore`.
    public var blasCore: BLASCorePolicy?
    /// The library behind every product (`gemm_backend`: openblas, onednn or mkl; nil when the
    /// key is absent: openblas). See `GEMMEngine`.
    public var gemmBackend: GEMMBackend?
    /// The products' input precision (`precision`: fp32 or bf16, bf16 with oneDNN or MKL only;
    /// nil when the key is absent: fp32). See `GEMMPrecision`.
    public var precision: GEMMPrecision?
    /// Where MKL is (`mkl_library`: libmkl_rt's path or its folder; nil: the places
    /// `GEMMEngine.libraryCandidates` lists).
    public var mklLibrary: String?
    /// Where oneDNN is (`onednn_library`: libdnnl's path or its folder; nil: the places
    /// `GEMMEngine.libraryCandidates` lists).
    public var onednnLibrary: String?
    /// The config document this was parsed from (after overrides), as YAML; checkpoints keep it
    /// so that a resume can re-read it with new overrides.
    public var sourceYAML = ""

    /// The built-in defaults: MMoE of the tutorial's shape on generated Ali-CCP-shaped data.
    public init() {}

    /// The task-weighting method these settings describe.
    public var taskWeightingMethod: TaskWeightingMethod { weighting.method(labels: data.labels) }

    /// The kind of each label column the run reads: the tasks' (binary for classification,
    /// real for regression), then the mask columns' (binary).
    public var labelKinds: [LabelKind] {
        (architecture.taskTypes ?? Array(repeating: .classification, count: data.labels.count)).map { $0 == .classification ? .binary : .real }
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
        o.epochs = schedule.epochs
        o.batchSize = schedule.batchSize
        o.taskWeighting = taskWeightingMethod
        o.taskLearningRates = data.labels.map { optimizer.taskLearningRates[$0] }
        o.seed = seed
        o.evaluationBatchSize = logging.evaluationBatchSize
        o.maxSteps = schedule.maxSteps
        o.dropLast = schedule.dropLast
        o.monitorEvery = logging.monitorEvery
        o.logEvery = logging.logEvery
        o.sampleSpaces = sampleSpaceColumns
        o.positiveWeights = data.labels.map { posWeight[$0] ?? 1 }
        o.replicaCheckEvery = schedule.checkReplicasEvery
        o.earlyStopTask = schedule.earlyStopTask.flatMap { data.labels.firstIndex(of: $0) }
        o.patience = schedule.earlyStopPatience
        o.checkpointEvery = checkpointing.every
        return o
    }

    /// Refuses `gradnorm_layers` naming a tensor `model` does not have, or one of a task's own
    /// (GradNorm balances the tasks' gradient norms on shared weights; Chen et al., ICML 2018, §3).
    /// - Throws: `ConfigError` naming `gradnorm_layers`, the tensor and the model's shared weights.
    public func checkGradNormLayers(of model: any MultiTaskModel) throws {
        guard weighting.strategy == .gradnorm, let names = weighting.gradnormLayers else { return }
        let shared = model.layout.tensors.filter { $0.role == .shared && $0.name.hasSuffix(".weight") }.map(\.name)
        for name in names where model.layout.tensor(named: name)?.role != .shared {
            let what = model.layout.tensor(named: name) == nil ? "is not a tensor of \(model.kind)" : "is a task's own tensor, not shared"
            throw ConfigError(file: "config", key: "gradnorm_layers",
                              message: "'\(name)' \(what); its shared weights: "
                                  + shared.prefix(12).joined(separator: ", ") + (shared.count > 12 ? ", …" : ""))
        }
    }

    /// Builds the configured model over `features` (the one place a config becomes a model:
    /// training, the bench, and a checkpoint's model).
    public func makeModel(features: Features) -> any MultiTaskModel {
        let t = data.labels.count
        let a = architecture
        switch model {
        case .mmoe:
            return MMoE(features: features, expertUnits: a.expertUnits, numExperts: a.numExperts,
                        numTasks: t, towerUnits: a.towerUnits, taskTypes: a.taskTypes,
                        expertActivation: a.activation, towerActivation: a.activation,
                        options: a.mlpOptions, embeddingInitStd: a.embeddingInitStd)
        case .sharedBottom:
            return SharedBottom(features: features, hiddenUnits: a.hiddenUnits, taskHiddenUnits: a.towerUnits,
                                numTasks: t, taskTypes: a.taskTypes, activation: a.activation,
                                options: a.mlpOptions, embeddingInitStd: a.embeddingInitStd)
        case .esmm:
            return ESMM(features: features, towerUnits: a.towerUnits, activation: a.activation,
                        options: a.mlpOptions, embeddingInitStd: a.embeddingInitStd)
        case .ple:
            return PLE(features: features, expertUnits: a.expertUnits, numExperts: a.numExperts,
                       numLayers: a.numLayers, numSharedExperts: a.numSharedExperts,
                       taskTypes: a.taskTypes ?? Array(repeating: .classification, count: t),
                       towerUnits: a.towerUnits, activation: a.activation, options: a.mlpOptions,
                       embeddingInitStd: a.embeddingInitStd)
        case .aitm:
            return AITM(features: features, towerUnits: a.towerUnits, numTasks: t, alpha: a.calibratorAlpha,
                        activation: a.activation, options: a.mlpOptions, embeddingInitStd: a.embeddingInitStd)
        }
    }

    /// Keys that only some models read, and which (from `modelKeyTable`).
    public static var modelKeys: [String: [ModelKind]] {
        Dictionary(uniqueKeysWithValues: ArchitectureConfig.modelKeyTable.map { ($0.name, $0.models) })
    }

    /// The model keys of this config's model with their values, in the table's order.
    public var modelKeyValues: [(name: String, value: ModelKeyValue)] {
        ArchitectureConfig.modelKeyTable.filter { $0.models.contains(model) }.map { ($0.name, $0.value(architecture)) }
    }

    /// Parses a config document (after `--set` overrides), checking every key and value: each
    /// group reads its own keys (model kind, data, architecture, optimizer, schedule,
    /// checkpoints, weighting, per-task settings, logging, runtime), then the checks that span
    /// groups.
    /// - Throws: `ConfigError` naming the file, line and key of the first unknown key, value of
    ///   the wrong type or range, or setting that contradicts another (or a missing `data.train`).
    public static func parse(_ root: ConfigNode) throws -> TrainConfig {
        var c = TrainConfig()
        c.sourceYAML = root.yaml()
        let r = try ConfigReader(root)
        try c.readModelKind(r)
        c.seed = UInt64(try r.int("seed", Int(c.seed), in: 0...Int.max))
        if let d = try r.section("data") { c.data = try parseData(d) }
        try c.architecture.read(r, model: c.model)
        try c.optimizer.read(r, labels: c.data.labels)
        try c.schedule.read(r)
        try c.checkpointing.read(r)
        try c.weighting.read(r)
        try c.readPerTaskSettings(r)
        try c.logging.read(r)
        try c.readRuntime(r)
        try r.finish(known: Array(modelKeys.keys))
        try c.checkAgainstLabels(r, file: root.origin.file)
        try checkDanglingNullPaths(root)
        return c
    }

    /// A key `--set` set to null inside a mapping the config lacks is checked as the readers of
    /// that mapping would check it: the config is parsed again with the mapping present and
    /// empty, and an "unknown key" for that path is thrown (any other outcome of that probe,
    /// such as an empty `data.generate` clashing with CSVs, is not this key's error).
    /// - Throws: `ConfigError` (file `--set`) naming the unknown key, with "did you mean".
    private static func checkDanglingNullPaths(_ root: ConfigNode) throws {
        guard case .map(let pairs, var origin) = root, !origin.danglingNullPaths.isEmpty else { return }
        let paths = origin.danglingNullPaths
        origin.danglingNullPaths = []
        let plain = ConfigNode.map(pairs, origin: origin)
        for path in paths {
            let parent = path.split(separator: ".").dropLast().joined(separator: ".")
            let probe = try plain.setting("\(parent)={}").setting("\(path)=null")
            do {
                _ = try parse(probe)
            } catch let e as ConfigError where e.key == path && e.message.hasPrefix("unknown key") {
                throw e
            } catch {}
        }
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

    /// Settings keyed by task name: sample spaces and positive weights.
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
    }

    /// BLAS threads, the BLAS core, the GEMM backend and precision.
    private mutating func readRuntime(_ r: ConfigReader) throws {
        threads = try r.int("threads", threads, in: 0...1024)
        if let core = try r.string("blas_core") {
            do { blasCore = try BLASCorePolicy(parsing: core) } catch let e as BLASLoadError {
                throw r.fail("blas_core", r.raw("blas_core"), e.message)
            }
        }
        if let name = try r.string("gemm_backend") {
            guard let b = GEMMBackend(rawValue: name) else {
                throw r.fail("gemm_backend", r.raw("gemm_backend"),
                             "unknown backend '\(name)' (known: \(GEMMBackend.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            gemmBackend = b
        }
        if let name = try r.string("precision") {
            guard let p = GEMMPrecision(rawValue: name) else {
                throw r.fail("precision", r.raw("precision"),
                             "unknown precision '\(name)' (known: \(GEMMPrecision.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            precision = p
        }
        mklLibrary = try r.string("mkl_library")
        if mklLibrary != nil && gemmBackend != .mkl {
            throw r.fail("mkl_library", r.raw("mkl_library"), "only read with gemm_backend: mkl")
        }
        onednnLibrary = try r.string("onednn_library")
        if onednnLibrary != nil && gemmBackend != .onednn {
            throw r.fail("onednn_library", r.raw("onednn_library"), "only read with gemm_backend: onednn")
        }
        if precision == .bf16 && (gemmBackend ?? .openblas) == .openblas {
            throw r.fail("precision", r.raw("precision"),
                         "bf16 needs gemm_backend: onednn or mkl (OpenBLAS 0.3.21 has no bf16 product; install oneDNN "
                         + "with `bash Launch/setup_onednn.sh`); to run on OpenBLAS, set precision: fp32 too")
        }
    }

    /// The place this config names for its backend's library (`mkl_library`, `onednn_library`).
    public var gemmLibrary: String? {
        get { gemmBackend == .mkl ? mklLibrary : gemmBackend == .onednn ? onednnLibrary : nil }
        set {
            switch gemmBackend {
            case .mkl: mklLibrary = newValue
            case .onednn: onednnLibrary = newValue
            default: break
            }
        }
    }

    /// "<gemm_backend> <precision>" as configured ("openblas fp32" when the keys are absent).
    public var products: String { "\((gemmBackend ?? .openblas).rawValue) \((precision ?? .fp32).rawValue)" }

    /// Checks the GEMM settings against this CPU and loads their libraries (OpenBLAS with
    /// `blas_core`, and MKL or oneDNN), for a job running `threads` BLAS threads.
    /// - Throws: `GEMMBackendError`, `BLASLoadError`.
    public func loadGEMM(threads: Int) throws -> GEMMSelection {
        try BLASCore.load(policy: blasCore)
        return try GEMMEngine.load(backend: gemmBackend ?? .openblas, precision: precision ?? .fp32,
                                   library: gemmLibrary, threads: threads)
    }

    /// The checks that span groups: data.train present, and every per-task setting against
    /// the labels (ESMM's two tasks, task names, list lengths).
    private func checkAgainstLabels(_ r: ConfigReader, file: String) throws {
        if data.train == nil {
            throw ConfigError(file: file, key: "data.train", message: "missing: give data.train (a CSV) or data.generate")
        }
        let t = data.labels.count
        if model == .esmm && t != 2 {
            // Named where the labels were written (a --set, a file's line), else the config.
            let written = r.raw("data")?.value(at: "labels")?.origin
            throw ConfigError(file: written?.file ?? file, key: "data.labels", line: written?.line,
                              message: "ESMM needs exactly two labels, click then purchase (got \(data.labels))")
        }
        if [.esmm, .aitm].contains(model), let types = architecture.taskTypes, types.contains(.regression) {
            throw r.fail("task_types", r.raw("task_types"), "\(model.rawValue) tasks are all classification")
        }
        let labels = data.labels.joined(separator: ", ")
        if let task = weighting.metabalanceTarget, !data.labels.contains(task) {
            throw r.fail("metabalance_target", r.raw("metabalance_target"), "'\(task)' is not a task (labels: \(labels))")
        }
        if let task = schedule.earlyStopTask, !data.labels.contains(task) {
            throw r.fail("earlystop_task", r.raw("earlystop_task"), "'\(task)' is not a task (labels: \(labels))")
        }
        if let types = architecture.taskTypes, types.count != t {
            throw r.fail("task_types", r.raw("task_types"), "has \(types.count) entries for \(t) labels \(data.labels)")
        }
        if let w = weighting.taskWeights, w.count != t {
            throw r.fail("task_weights", r.raw("task_weights"), "has \(w.count) entries for \(t) labels \(data.labels)")
        }
        if let w = weighting.taskWeights, !w.isEmpty, w.allSatisfy({ $0 == 0 }) {
            throw r.fail("task_weights", r.raw("task_weights"), "are all 0: no task's loss would train the model "
                         + "(give at least one task a positive weight)")
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
        if data.sparse?.isEmpty == true {
            throw d.fail("sparse", d.raw("sparse"), "needs at least one id column: every model embeds one "
                         + "(leave the key out to take the CSV header's)")
        }
        data.dense = try d.list("dense", "column names") { $0.isEmpty ? nil : $0 }
        // Each table's ids are int32.
        data.vocabularySizes = try d.list("vocabulary_sizes", "positive integers below 2147483647") {
            Int($0).flatMap { $0 > 0 && $0 < Int(Int32.max) ? $0 : nil }
        }
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
            // Generated data and the user's CSVs do not mix: the run would train on one and
            // report the generated test split's oracle AUC beside another split's AUC.
            if let (key, path) = [("train", data.train), ("val", data.validation), ("test", data.test)]
                .first(where: { $0.1 != nil }) {
                throw d.fail("generate", d.raw("generate"),
                             "given with data.\(key) (\(path!)): data.generate writes its own train, val and test CSVs "
                             + "into data.generate.dir; give one or the other (--set data.generate=null to use your CSVs)")
            }
            data.generate = gen
            let base = gen.directory.hasSuffix("/") ? gen.directory : gen.directory + "/"
            data.train = base + "train.csv"
            data.validation = base + "val.csv"
            data.test = base + "test.csv"
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
