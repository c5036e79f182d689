import Collectives
import Datasets
import Evaluation
import Foundation
import Kernels
import Layers
import Models
import TensorBoard

/// A whole run from a `TrainConfig`: data (generated if asked), model, training,
/// validation each epoch, test at the end. Rank 0 writes the output folder: `run.json` before
/// the first step (`RunInfo`), `train_log.jsonl` and a TensorBoard event file as training goes
/// (`RunLog`), and `metrics.json` at the end.
public struct TrainingJob {
    /// The run's settings.
    public let config: TrainConfig
    /// The ranks taking part.
    public let communicator: any Communicator
    /// Where rank 0's report lines go.
    public var log: (String) -> Void = { printLine($0) }
    /// When set, rank 0 writes the final parameters there (see `saveParameters`).
    public var saveParametersPath: String?
    /// When set, continue from the newest valid checkpoint in this folder.
    public var resumeDirectory: String?

    /// The folder checkpoints go to.
    public var checkpointDirectory: String {
        config.checkpointing.directory ?? (config.logging.outputDirectory as NSString).appendingPathComponent("checkpoints")
    }

    /// Prepares a run.
    public init(config: TrainConfig, communicator: any Communicator = LocalCommunicator()) {
        self.config = config
        self.communicator = communicator
    }

    func say(_ s: String) { if communicator.isRoot { log(s) } }

    /// The schema of a CSV under this config: labels, then sparse and dense columns.
    /// - Throws: what `CSVReader.header` throws for an unreadable file or header; `ConfigError`
    ///   when no column is a sparse (id) field.
    public func schema(for url: URL) throws -> DatasetSchema {
        let header = try CSVReader.header(of: url)
        let d = config.data
        let kinds = config.labelKinds
        let labelColumns = d.labels + d.maskColumns
        var schema: DatasetSchema
        switch (d.sparse, d.dense) {
        case let (s?, de?):
            schema = DatasetSchema(labels: labelColumns, labelKinds: kinds, sparse: s, dense: de)
        case let (nil, de?):
            schema = DatasetSchema.explicitDense(header: header, labels: labelColumns, dense: de, labelKinds: kinds)
        case let (s?, nil):
            let taken = Set(labelColumns).union(s)
            schema = DatasetSchema(labels: labelColumns, labelKinds: kinds, sparse: s,
                                   dense: header.filter { !taken.contains($0) })
        case (nil, nil):
            schema = DatasetSchema.aliCCPRule(header: header, labels: labelColumns, labelKinds: kinds)
        }
        schema.vocabularySizes = d.vocabularySizes
        // Every model embeds at least one id field (Features): none is a config error, not a trap.
        if schema.sparse.isEmpty {
            throw ConfigError(file: d.sparse != nil ? "config" : url.path, key: d.sparse != nil ? "data.sparse" : "",
                              message: d.sparse != nil ? "no sparse column: a model needs at least one id field"
                                  : "no sparse (id) column among \(header.joined(separator: ", ")): a model needs at least "
                                  + "one; name them in data.sparse")
        }
        return schema
    }

    /// Loads one CSV through the binary cache (when enabled).
    public func load(_ path: String, schema: DatasetSchema, vocabulary: [Int]?) throws -> TabularDataset {
        let url = URL(fileURLWithPath: path)
        let cache = DatasetCache(directory: config.data.cacheDirectory.map { URL(fileURLWithPath: $0) },
                                 isEnabled: config.data.cache)
        let (dataset, status) = try cache.load(url, schema: schema, vocabulary: vocabulary)
        if case .written(_, _?) = status { say(status.description) }  // a stale cache was rebuilt: say why
        return dataset
    }

    /// Builds the configured model over `features` (`TrainConfig.makeModel`).
    public func makeModel(features: Features) -> any MultiTaskModel { config.makeModel(features: features) }

    /// BLAS threads per rank when the config says 0: the cores this process may use (its CPU
    /// affinity: taskset, a container's cpuset, mpirun's binding) ÷ this node's ranks (OpenMPI's
    /// local size when launched by mpirun, else all ranks), at least 1. Never more threads than
    /// cores; ranks bound to several cores each may use more with `threads`.
    func defaultThreads() -> Int {
        let local = MPICommunicator.launcherLocalSize ?? communicator.size
        return max(1, CPUFeatures.usableCores / max(local, 1))
    }

    /// A note when the BLAS threads outnumber the cores they can run on: more threads than the
    /// cores this rank may use (`rankCores`, its CPU affinity), or `ranksOnNode` × `threads`
    /// more than the node's `nodeCores`. Threads that share a core slow every product down
    /// (OpenBLAS's threads spin while they wait), so the run is slower than with fewer.
    public static func oversubscription(ranksOnNode: Int, threads: Int, nodeCores: Int, rankCores: Int) -> String? {
        func count(_ n: Int, _ what: String) -> String { "\(n) \(what)\(n == 1 ? "" : "s")" }
        let fitting = max(1, min(rankCores, nodeCores / max(ranksOnNode, 1)))
        let fewer = fitting == 1 ? "set threads to 1" : "set threads to \(fitting) or fewer"
        if threads > rankCores {
            return "\(count(threads, "BLAS thread")) on the \(count(rankCores, "core")) this rank may use: they share "
                + "cores and run slower (\(fewer))"
        }
        if ranksOnNode * threads > nodeCores {
            let fix = threads > fitting ? fewer : "start at most \(nodeCores) ranks per node"
            return "\(count(ranksOnNode, "rank")) × \(count(threads, "BLAS thread")) on this node's "
                + "\(count(nodeCores, "core")): they share cores and run slower (\(fix))"
        }
        return nil
    }

    /// Refuses early stopping that could never act: the monitored task's validation labels
    /// (over its sample space, when it has one) must hold both classes, or its AUC is undefined
    /// every epoch.
    /// - Throws: `ConfigError` naming `earlystop_task` and the validation file.
    func checkEarlyStopping(validation: TabularDataset?) throws {
        guard let task = config.schedule.earlyStopTask, let column = config.data.labels.firstIndex(of: task) else { return }
        if config.architecture.taskTypes?[column] == .regression {
            throw ConfigError(file: "config", key: "earlystop_task",
                              message: "\(task) is a regression task; early stopping reads a classification task's AUC")
        }
        guard let validation else {
            throw ConfigError(file: "config", key: "earlystop_task",
                              message: "early stopping on \(task) needs a validation split (data.val)")
        }
        let columns = config.data.labels + config.data.maskColumns
        let space = config.taskSampleSpace[task].flatMap { columns.firstIndex(of: $0) }
        var positives = 0, negatives = 0
        for i in 0..<validation.count {
            if let s = space, validation.label(row: i, task: s) != 1 { continue }
            if validation.label(row: i, task: column) > 0.5 { positives += 1 } else { negatives += 1 }
            if positives > 0 && negatives > 0 { return }
        }
        let scope = config.taskSampleSpace[task].map { " on \($0) = 1" } ?? ""
        throw ConfigError(file: "config", key: "earlystop_task",
                          message: "the validation split \(config.data.validation ?? "") has \(positives) positive and "
                          + "\(negatives) negative \(task) labels\(scope): its AUC is undefined, so early stopping "
                          + "could never act. Use a validation split with both classes, or another earlystop_task.")
    }

    /// Catch SIGINT, SIGTERM and SIGUSR1 while training: finish the step, write a checkpoint, stop with
    /// `TrainingInterrupted`. Signal handlers are process-wide, so this is for the process's
    /// one job (the `rechub` command sets it); default false.
    public var handleSignals = false

    /// Builds the model; when resuming, without allocating more than the newest checkpoint's
    /// parameter section holds (its stored config may be hostile: it is checked against the
    /// file's sizes before anything is built from it).
    /// - Throws: `CheckpointError.incompatible` when the config describes a larger model.
    func makeModelForRun(features: Features) throws -> any MultiTaskModel {
        try checkModelFits(features: features)
        guard let dir = resumeDirectory else { return makeModel(features: features) }
        var floats: Int64 = -1
        let newest = communicator.isRoot ? try? Checkpointer.newestValid(in: dir).file : nil
        if let file = newest {
            let sizes = ["params", "model.state"].map { name in file.sections.first { $0.name == name }?.length ?? 0 }
            floats = Int64(sizes.max()! / 4)
        }
        try withUnsafeMutablePointer(to: &floats) { try communicator.broadcast(bytes: $0, count: 8, root: 0) }
        let limit = floats >= 0 ? Int(floats) : nil
        let model = ForwardContext.$allocationLimit.withValue(limit) { makeModel(features: features) }
        if model.context.isOversized {
            if let file = newest { throw try Checkpointer.mismatch(file, config: config, features: features) }
            throw CheckpointError.incompatible(file: dir, reason: "the config describes \(model.layout.count) dense "
                                               + "parameters, more than the checkpoint's \(floats)")
        }
        return model
    }

    /// The configured model over these columns with one id each and no parameter arena
    /// (allocation limit 0): its layout (tensor names, roles, sizes), which the vocabularies do
    /// not change, at no memory cost however large the shape.
    func layoutProbe(sparseNames: [String], denseNames: [String]) -> any MultiTaskModel {
        let features = Features(sparseNames: sparseNames, vocabularySizes: sparseNames.map { _ in 1 },
                                embeddingDim: config.architecture.embeddingDim, denseNames: denseNames)
        return ForwardContext.$allocationLimit.withValue(0) { makeModel(features: features) }
    }

    /// Refuses, before allocating it, a model whose training state cannot fit in this machine's
    /// memory: 4 floats per dense parameter (the parameter, its gradient, Adam's two moments)
    /// and 3 per embedding value (lazy Adam keeps no embedding gradient table), times the ranks
    /// on this node (each holds a replica), and embedding
    /// tables past the 2³¹ rows their int32 row ids address. Each value has its own range; only
    /// their product can be impossible (`expert_units: [100000000]`).
    /// - Throws: `ConfigError` naming `embedding_dim` and the vocabularies, or (without a key)
    ///   the model's shape keys, with the memory needed and the machine's.
    public func checkModelFits(features: Features) throws {
        let rows = features.vocabularySizes.reduce(0) { min($0 &+ $1 &+ 1, Int(Int32.max)) }  // saturating
        guard rows < Int(Int32.max) else {
            throw ConfigError(file: "config", key: "data.vocabulary_sizes",
                              message: String(format: "%.0f", features.vocabularySizes.map { Double($0) + 1 }.reduce(0, +)) + " embedding rows "
                                  + "in all; at most \(Int32.max - 1) (int32 row ids)")
        }
        let dense = layoutProbe(sparseNames: features.sparseNames, denseNames: features.denseNames).layout.count
        let (embedding, o1) = rows.multipliedReportingOverflow(by: features.embeddingDim)
        // Every rank on this node holds a whole replica.
        let local = Double(max(MPICommunicator.launcherLocalSize ?? 1, 1))
        let needed = (Double(dense) * 16 + Double(embedding) * 12) * local
        let memory = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        guard o1 || needed > memory else { return }
        let gib = { (bytes: Double) in String(format: "%.1f GiB", bytes / 1_073_741_824) }
        let shape = config.modelKeyValues.map { "\($0.name) \($0.value)" }.joined(separator: ", ")
        let byEmbedding = o1 || Double(embedding) * 12 > Double(dense) * 16
        throw ConfigError(file: "config", key: byEmbedding ? "embedding_dim" : "",
                          message: "the model needs at least \(o1 ? "2⁶³ bytes" : gib(needed)) to train (\(dense) dense parameters "
                              + "× 16 bytes, \(rows) embedding rows × \(features.embeddingDim) × 12 bytes"
                              + (local > 1 ? ", × \(Int(local)) ranks on this node" : "") + "); this machine has "
                              + "\(gib(memory)). " + (byEmbedding ? "Lower embedding_dim or the vocabularies"
                                                                   : "Lower the widths or counts (\(shape))"))
    }

    /// Refuses batch normalisation over one row on a rank: its batch statistics are then the
    /// row itself (x̂ = 0), and training yields a degenerate model (PyTorch refuses it too). That
    /// happens when the global batch equals the rank count, or when the epoch's last, partial
    /// batch gives some rank a single row; `drop_last: true` skips that batch. With
    /// `trainRows` nil (`rechub bench`, which runs whole batches only) only the first case.
    /// - Throws: `ConfigError` naming `batch_size`, `batch_norm` and `drop_last`.
    public func checkBatchNormBatches(trainRows: Int?) throws {
        guard config.architecture.batchNorm else { return }
        let s = communicator.size, b = config.schedule.batchSize
        if b / s == 1 {
            throw ConfigError(file: "config", key: "batch_size",
                              message: "batch_norm: true needs at least 2 rows per rank, and batch_size \(b) over \(s) "
                              + "rank(s) gives 1; raise batch_size")
        }
        guard let n = trainRows else { return }
        let last = n % b
        guard last > 0, !config.schedule.dropLast else { return }
        if let r = (0..<s).first(where: { ($0 + 1) * last / s - $0 * last / s == 1 }) {
            throw ConfigError(file: "config", key: "drop_last",
                              message: "with batch_norm: true, the epoch's last batch of \(last) of \(n) rows gives rank \(r) "
                              + "a single row; set drop_last: true to skip that batch, or change batch_size")
        }
    }

    /// Every place the run writes to (rank 0): checked before any data is generated or loaded.
    public var outputPlaces: [OutputPlaces.Place] {
        var places = [OutputPlaces.Place(key: "output_dir", path: config.logging.outputDirectory, isFolder: true)]
        if config.checkpointing.enabled {
            places.append(.init(key: config.checkpointing.directory == nil ? "output_dir (checkpoints)" : "checkpoint_dir",
                                path: checkpointDirectory, isFolder: true))
        }
        if let g = config.data.generate { places.append(.init(key: "data.generate.dir", path: g.directory, isFolder: true)) }
        if let p = saveParametersPath { places.append(.init(key: "--save-parameters", path: p, isFolder: false)) }
        return places
    }

    /// Runs the job: checks, BLAS, data, model and trainer, an optional resume, the run log,
    /// training, test metrics, and the files rank 0 writes.
    /// - Throws: `ConfigError` (a setting, or a place the run cannot write to, checked first),
    ///   dataset, checkpoint, communicator and training errors, each naming its file, key or rank.
    public func run() throws -> JobResult {
        let start = monotonicSeconds()
        // From here a signal ends the job: at once before and after training, after the step
        // while it trains (`StopSignals`).
        let stops = handleSignals ? StopSignals(phase: .preparing, speaks: communicator.isRoot) : nil
        defer { stops?.restore() }
        guard config.schedule.batchSize % communicator.size == 0 else {
            throw ConfigError(file: "config", key: "batch_size",
                              message: "the global batch \(config.schedule.batchSize) is not divisible by \(communicator.size) ranks")
        }
        if communicator.isRoot, let dir = resumeDirectory {
            try Checkpointer.checkSettingsBeforeData(resume: dir, config: config)
        }
        if communicator.isRoot { try OutputPlaces.check(outputPlaces) }
        // Rank 0 holds its folders for the run: a second run started on them is refused.
        var locks: [FolderLock] = []
        defer { locks.forEach { $0.release() } }
        if communicator.isRoot {
            locks += try FolderLock.acquire(config.logging.outputDirectory, key: "output_dir").map { [$0] } ?? []
            if config.checkpointing.enabled && !Checkpointer.samePlace(checkpointDirectory, config.logging.outputDirectory) {
                locks += try FolderLock.acquire(checkpointDirectory, key: "checkpoint_dir").map { [$0] } ?? []
            }
        }
        if config.weighting.strategy == .gradnorm && config.weighting.gradnormLayers != nil {
            // The tensors' names do not depend on the data: a model over one stand-in field has them.
            try config.checkGradNormLayers(of: layoutProbe(sparseNames: ["probe"], denseNames: []))
        }
        let threads = config.threads > 0 ? config.threads : defaultThreads()
        let blas = try BLASCore.load(policy: config.blasCore)
        BLASThreads.set(threads)
        let gemm = try config.loadGEMM(threads: threads)
        say("OpenBLAS core \(blas.summary); CPU \(CPUFeatures.modelName) (\(CPUFeatures.current.summary))")
        if gemm.backend != .openblas || gemm.precision != .fp32 {
            say("products: \(gemm.summary)" + (gemm.library.map { " from \($0)" } ?? ""))
        }
        if let note = gemm.note { say("note: \(note)") }
        return try GEMMEngine.withSettings(gemm) { try train(start: start, threads: threads, gemm: gemm, stops: stops) }
    }

    /// `run` once the checks passed and the libraries are loaded, on the configured products.
    private func train(start: Double, threads: Int, gemm: GEMMSelection, stops: StopSignals?) throws -> JobResult {
        let data = try prepareData()
        let model = try makeModelForRun(features: data.features)
        model.initialize(seed: config.seed)
        say("model \(model.kind): \(model.layout.count) dense parameters, \(model.embeddings.weights.count) embedding "
            + "values; batch \(config.schedule.batchSize) over \(communicator.size) rank(s), \(threads) BLAS thread(s) each")
        if let note = Self.oversubscription(ranksOnNode: MPICommunicator.launcherLocalSize ?? communicator.size,
                                            threads: threads, nodeCores: CPUFeatures.onlineCores,
                                            rankCores: CPUFeatures.usableCores) {
            say("note: \(note)")
        }
        let trainer = makeTrainer(model: model)
        if let g = communicator.gradientReduction { say("gradient all-reduce: \(g)") }
        let checkpointer = Checkpointer(directory: checkpointDirectory, keepLast: config.checkpointing.keepLast, config: config,
                                        features: data.features, communicator: communicator)
        if config.checkpointing.enabled { attach(checkpointer, to: trainer) }
        if let dir = resumeDirectory {
            let file = try checkpointer.resume(from: dir, into: trainer, log: say)
            if let file { try settleMovedRun(resumedFrom: file, step: trainer.progress.globalStep, checkpointer: checkpointer) }
        } else if config.checkpointing.enabled, communicator.isRoot, let aside = try checkpointer.setAsideEarlierRun() {
            say("note: the checkpoints of an earlier run in \(checkpointDirectory) were moved to \(aside)")
        }
        var info = RunInfo(config: config, ranks: communicator.size, generation: data.generation)
        info.runID = checkpointer.runID
        let finished = resumeDirectory == nil ? nil : trainer.finishedBecause
        if resumeDirectory == nil && config.schedule.epochs == 0 {
            say("note: epochs is 0: no training step; the initial parameters are scored (no checkpoint is written)")
        } else if let finished {
            say("note: the resumed run trains no step: \(finished); it is only scored")
            info.trainingNoStep(after: checkpointer.productsHistory)  // no step runs on other products
        } else if resumeDirectory != nil,
           let before = info.continuing(checkpointer.productsHistory, atStep: trainer.progress.globalStep) {
            say("note: this run used \(before) products until step \(trainer.progress.globalStep); it goes on with "
                + "\(info.products) (run.json's products_history and the checkpoints keep both)")
        }
        checkpointer.productsHistory = info.productsHistory
        // A resume that trains no step leaves the run's record as it is (its config and
        // products), where the run folder already has one.
        let keepRecord = finished != nil
            && FileManager.default.fileExists(atPath: (config.logging.outputDirectory as NSString).appendingPathComponent("run.json"))
        if communicator.isRoot { try attachRunLog(to: trainer, info: info, rewriteInfo: !keepRecord) }
        if let stops {
            trainer.stopRequest = { stops.requested }
            stops.phase = .training
        }
        let history = try trainer.fit(train: data.train, validation: data.validation)
        stops?.phase = .finishing  // fit polled the last request after the last epoch's end
        var testMetrics: [TaskMetrics] = []
        if let test = data.test {
            testMetrics = try evaluateMultiTask(model, test, batchSize: config.logging.evaluationBatchSize, taskNames: config.data.labels,
                                                sampleSpaces: trainer.sampleSpaces, communicator: communicator)
            say(testLine(testMetrics, generation: data.generation))
        }
        if communicator.size > 1 {
            say("communication: \(format(trainer.communicationSeconds, 2)) s of \(format(trainer.stepSeconds, 2)) s "
                + "in training steps (\(format(100 * trainer.communicationSeconds / max(trainer.stepSeconds, 1e-9), 1)) %) on rank 0")
        }
        if let path = saveParametersPath, communicator.isRoot { try saveParameters(model, to: path) }
        let result = JobResult(history: history, test: testMetrics, generation: data.generation,
                               seconds: monotonicSeconds() - start, outOfVocabulary: data.outOfVocabulary)
        if communicator.isRoot {
            try writeMetrics(result, startedAt: info.startedAt, gemm: gemm, productsHistory: info.productsHistory,
                             trainedWith: info.products)
        }
        say("done in \(format(result.seconds, 1)) s; metrics in \(config.logging.outputDirectory)/metrics.json")
        return result
    }

    /// A run's data: the splits, their features and out-of-vocabulary counts, and the
    /// generator's report when the data was generated.
    struct RunData {
        var generation: GenerationReport?
        var train: TabularDataset
        var validation: TabularDataset?
        var test: TabularDataset?
        var features: Features
        var outOfVocabulary: [OutOfVocabularyReport]
    }

    /// Generates the data when the config asks (rank 0, the others wait), loads the splits
    /// (the validation and test vocabularies are the training split's), reports them, and
    /// checks what depends on them (early stopping, batch norm's batches).
    private func prepareData() throws -> RunData {
        var generation: GenerationReport?
        // The generated data's folder is held from generation until every rank has loaded it:
        // another run generating there with other settings waits instead of rewriting the files
        // this one is reading.
        var dataLock: FolderLock?
        defer { dataLock?.release() }
        if let gen = config.data.generate {
            if communicator.isRoot {
                // (Not when it is one of this run's own folders, which it holds already.)
                let own = [config.logging.outputDirectory] + (config.checkpointing.enabled ? [checkpointDirectory] : [])
                if !own.contains(where: { Checkpointer.samePlace($0, gen.directory) }) {
                    dataLock = try FolderLock.acquireWaiting(gen.directory, key: "data.generate.dir") {
                        say("note: waiting for another rechub run using \(gen.directory)")
                    }
                }
                let t0 = monotonicSeconds()
                let before = FileManager.default.fileExists(atPath: (gen.directory as NSString).appendingPathComponent("truth.json"))
                let report = try generateAliCCP(gen)
                if before && !report.reused {
                    say("note: \(gen.directory) held data generated with other settings: generated again with this run's")
                }
                generation = report
                say((report.reused ? "reusing" : "generated") + " data in \(gen.directory) "
                    + "(\(gen.trainRows)/\(gen.validationRows)/\(gen.testRows) rows, scale \(gen.scale), "
                    + "\(format(monotonicSeconds() - t0, 1)) s); oracle test AUC "
                    + ["click", "purchase"].map { "\($0) \(format(report.oracle($0) ?? .nan, 4))" }.joined(separator: " "))
            }
            try communicator.barrier()
        }
        let d = config.data
        let schema = try schema(for: URL(fileURLWithPath: d.train!))
        let t0 = monotonicSeconds()
        let train = try load(d.train!, schema: schema, vocabulary: d.vocabularySizes)
        let vocab = train.vocabularySizes
        let validation = try d.validation.map { try load($0, schema: schema, vocabulary: vocab) }
        let test = try d.test.map { try load($0, schema: schema, vocabulary: vocab) }
        var oov = [OutOfVocabularyReport(split: "train", dataset: train)]
        if let validation { oov.append(OutOfVocabularyReport(split: "val", dataset: validation)) }
        if let test { oov.append(OutOfVocabularyReport(split: "test", dataset: test)) }
        say("loaded \(train.count) train" + (validation.map { ", \($0.count) val" } ?? "")
            + (test.map { ", \($0.count) test" } ?? "") + " rows in \(format(monotonicSeconds() - t0, 1)) s; "
            + "\(schema.sparse.count) sparse fields (\(vocab.reduce(0, +)) ids), \(schema.dense.count) dense; "
            + "out-of-vocabulary ids: " + oov.map(\.summary).joined(separator: ", "))
        for r in oov { for w in r.warnings { say(w) } }
        if dataLock != nil || (config.data.generate != nil && communicator.size > 1) {
            try communicator.barrier()  // every rank has loaded the data: rank 0 lets it go
        }
        dataLock?.release()
        try checkEarlyStopping(validation: validation)
        try checkBatchNormBatches(trainRows: train.count)
        let features = Features(sparseNames: schema.sparse, vocabularySizes: vocab, embeddingDim: config.architecture.embeddingDim,
                                denseNames: schema.dense)
        return RunData(generation: generation, train: train, validation: validation, test: test, features: features,
                       outOfVocabulary: oov)
    }

    /// The optimizer and the trainer with every setting of the config (`TrainConfig.trainerOptions`).
    public func makeTrainer(model: any MultiTaskModel) -> MTLTrainer {
        let trainer = MTLTrainer(model: model, optimizer: config.optimizer.makeAdam(), options: config.trainerOptions,
                                 communicator: communicator)
        trainer.log = log
        // Under mpirun a rank's stdout is a pseudo-terminal even when the job's output goes to
        // a file, so several ranks always print plain lines.
        trainer.progressLine = communicator.isRoot
            ? ProgressLine(plainEvery: config.logging.logEvery, interactive: communicator.size > 1 ? false : nil) : nil
        return trainer
    }

    /// A resume that moves the run (`--set output_dir=…`, or a `--config` whose folders differ
    /// from the checkpoint's) into folders holding another run's files must not damage them:
    /// the checkpoints found in the new `checkpoint_dir` are moved to `earlier-<UTC time>/` (as
    /// a fresh run does), and the run files in the new `output_dir` (`run.json`,
    /// `metrics.json`, `train_log.jsonl`, TensorBoard events, `report.html`) to
    /// `<output_dir>/earlier-<UTC time>/`, each said in a note. The continued run's own log and
    /// events are then copied from the run folder it comes from (`Checkpointer.runFolder`), to
    /// be cut back to the checkpoint's step as on any resume. Rank 0.
    /// - Throws: `CheckpointError.io` naming the folder when a file cannot be moved or copied.
    private func settleMovedRun(resumedFrom file: String, step: Int, checkpointer: Checkpointer) throws {
        let fm = FileManager.default
        let sourceCheckpoints = (file as NSString).deletingLastPathComponent
        let target = config.logging.outputDirectory
        let name = (file as NSString).lastPathComponent
        let inPlaceCheckpoints = Checkpointer.samePlace(sourceCheckpoints, checkpointDirectory)
        // The checkpoints beside the one resumed from, each with its run (nil: from before run
        // identities, or unreadable).
        let beside: [String: String?] = inPlaceCheckpoints && config.checkpointing.enabled
            ? Dictionary(uniqueKeysWithValues: ((try? fm.contentsOfDirectory(atPath: checkpointDirectory)) ?? [])
                .filter { $0 != name && $0.hasSuffix(".rhck") }
                .map { ($0, Checkpointer.storedRunID(ofCheckpointAt: (checkpointDirectory as NSString).appendingPathComponent($0))) })
            : [:]
        let otherRuns = Set(beside.values.compactMap { $0 }).subtracting([checkpointer.runID]).sorted()
        // The run folder is another run's when its run.json names one; without a readable run_id
        // there, when checkpoints beside carry another run's.
        let foreignRun: String?
        if let folderRun = RunInfo.storedRunID(inDirectory: target) {
            foreignRun = folderRun == checkpointer.runID ? nil : folderRun
        } else {
            foreignRun = otherRuns.first
        }
        if !inPlaceCheckpoints, config.checkpointing.enabled, let aside = try checkpointer.setAsideEarlierRun() {
            say("note: \(checkpointDirectory) held another run's checkpoints: moved to \(aside)")
        } else if config.checkpointing.enabled {
            // Another run's checkpoints: keep_last would prune them and a later resume would pick
            // them (those without an identity count as the folder's run's).
            let foreign = { (n: String) -> Bool in
                guard let run = beside[n] else { return false }
                return run.map { $0 != checkpointer.runID } ?? (foreignRun != nil)
            }
            let theirs = (otherRuns + (foreignRun.map { [$0] } ?? [])).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            try setCheckpointsAside(where: foreign, failure: "cannot set another run's checkpoints aside") { names, aside in
                "note: \(checkpointDirectory) held checkpoints of run \(theirs.joined(separator: ", ")) (\(names)), "
                    + "not of run \(checkpointer.runID) resumed from \(name): moved to \(aside)"
            }
            // Resumed in place from an older checkpoint: the later ones (this run's future) would be
            // overwritten step by step.
            try setCheckpointsAside(where: {
                !foreign($0) && $0.hasPrefix("step-") && $0.hasSuffix(".rhck") && (Int($0.dropFirst(5).prefix(8)) ?? 0) > step
            }, failure: "cannot set later checkpoints aside") { names, aside in
                "note: checkpoints after step \(step) (\(names)) moved to \(aside): the resumed run would write over them"
            }
        }
        let stored = try Checkpointer.readSetup(try CheckpointFile(path: file)).0
        let sourceRun = Checkpointer.runFolder(ofCheckpointsIn: sourceCheckpoints, stored: stored, runID: checkpointer.runID)
        // The target holding this run's own run.json is this run's folder (copied or moved
        // with its log): it goes on there as in place.
        let inPlace = Checkpointer.samePlace(sourceRun, target) || RunInfo.storedRunID(inDirectory: target) == checkpointer.runID
        if inPlace && foreignRun == nil { return }
        let isRunFile = { (name: String) in
            ["run.json", RunLog.fileName, "metrics.json", "report.html"].contains(name)
                || EventFileWriter.isEventFileName(name)
        }
        let others = ((try? fm.contentsOfDirectory(atPath: target)) ?? []).filter(isRunFile).sorted()
        if !others.isEmpty {
            let aside = try Self.freshFolder(named: "earlier", in: target)
            try Self.transfer(others, from: target, to: aside, file: target, failure: "cannot set another run's files aside")
            say("note: \(target) held " + (foreignRun.map { "run \($0)'s" } ?? "another run's")
                + " files (\(others.joined(separator: ", "))): moved to \(aside)")
        }
        if inPlace { return }  // this run's log is not here: it starts a new one
        // The folder the checkpoint was found in may be another run's (a checkpoint copied into
        // it): its log is that run's, not this one's history.
        if let sourceID = RunInfo.storedRunID(inDirectory: sourceRun), sourceID != checkpointer.runID {
            say("note: \(sourceRun) is run \(sourceID)'s folder, not run \(checkpointer.runID)'s: its log stays there, "
                + "and the continued run starts a new one in \(target)")
            return
        }
        let own = ((try? fm.contentsOfDirectory(atPath: sourceRun)) ?? [])
            .filter { $0 == RunLog.fileName || EventFileWriter.isEventFileName($0) }.sorted()
        try Self.transfer(own, from: sourceRun, to: target, copying: true, file: target,
                          failure: "cannot copy the run's log from \(sourceRun)")
    }

    /// Moves the files of the checkpoint folder that `chosen` picks to a fresh `earlier-<UTC time>/`
    /// inside it and says `note(names, folder)`; nothing when none is picked.
    /// - Throws: `CheckpointError.io` naming the checkpoint folder, with `failure`.
    private func setCheckpointsAside(where chosen: (String) -> Bool, failure: String,
                                     note: (String, String) -> String) throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: checkpointDirectory)) ?? []).filter(chosen).sorted()
        guard !names.isEmpty else { return }
        let aside = try Self.freshFolder(named: "earlier", in: checkpointDirectory)
        try Self.transfer(names, from: checkpointDirectory, to: aside, file: checkpointDirectory, failure: failure)
        say(note(names.joined(separator: ", "), aside))
    }

    /// Moves (or copies) the files `names` of folder `source` into folder `destination`.
    /// - Throws: `CheckpointError.io` naming `file`, with `failure` and the system's reason.
    static func transfer(_ names: [String], from source: String, to destination: String, copying: Bool = false,
                         file: String, failure: String) throws {
        let fm = FileManager.default
        do {
            for name in names {
                let (from, to) = ((source as NSString).appendingPathComponent(name), (destination as NSString).appendingPathComponent(name))
                if copying { try fm.copyItem(atPath: from, toPath: to) } else { try fm.moveItem(atPath: from, toPath: to) }
            }
        } catch {
            throw CheckpointError.io(file: file, reason: "\(failure): \(error.localizedDescription)")
        }
    }

    /// A new folder `<name>-<UTC time>` (or `…-2`, `…-3` when taken) inside `parent`.
    /// - Throws: `CheckpointError.io` naming `parent` when it cannot be made.
    static func freshFolder(named name: String, in parent: String) throws -> String {
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        var target = (parent as NSString).appendingPathComponent("\(name)-\(stamp)")
        var n = 1
        while FileManager.default.fileExists(atPath: target) {
            n += 1
            target = (parent as NSString).appendingPathComponent("\(name)-\(stamp)-\(n)")
        }
        do {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        } catch {
            throw CheckpointError.io(file: parent, reason: "cannot make \(target): \(error.localizedDescription)")
        }
        return target
    }

    /// Checkpoints every `checkpoint_every` steps and at every epoch end (and the best epoch).
    private func attach(_ checkpointer: Checkpointer, to trainer: MTLTrainer) {
        trainer.onCheckpoint = { trainer, moment in
            if let path = try checkpointer.save(trainer, moment: moment) {
                self.say("checkpoint: \(path) (step \(trainer.globalStep))")
            }
        }
    }

    /// `run.json`, and the run log (`train_log.jsonl` and TensorBoard events) fed by the
    /// trainer's step and epoch reports; after a resume, the log is first cut back to the
    /// checkpoint's step. Rank 0 only.
    private func attachRunLog(to trainer: MTLTrainer, info: RunInfo, rewriteInfo: Bool = true) throws {
        if rewriteInfo { try info.write(toDirectory: config.logging.outputDirectory) }
        let runLog = try RunLog(directory: config.logging.outputDirectory, taskNames: config.data.labels,
                                resumingAfter: resumeDirectory == nil ? nil : trainer.progress.globalStep)
        for note in runLog.notes { say(note) }
        trainer.onStep = { try runLog.write($0) }
        trainer.onEpoch = { try runLog.write($0, step: $1) }
    }

    /// "test  click auc … | oracle click …": the test metrics, beside the oracle AUCs of
    /// generated data.
    private func testLine(_ metrics: [TaskMetrics], generation: GenerationReport?) -> String {
        var line = "test  " + metrics.map { "\($0.task) \($0.summary)" }.joined(separator: "  ")
        if let generation {
            var oracle = config.data.labels.compactMap { task in generation.oracle(task).map { "\(task) \(format($0, 4))" } }
            // The true pCVR over clicked impressions, for a CVR scored on clicks only.
            if metrics.contains(where: { $0.onlyWhere == "click" }),
               let o = generation.oracle("purchase_given_click") {
                oracle.append("purchase|click \(format(o, 4))")
            }
            line += "  |  oracle " + oracle.joined(separator: " ")
        }
        return line
    }

    /// Writes `metrics.json` (epochs, validation, test, oracle) atomically into the output folder.
    /// `startedAt` is `run.json`'s: a report pairs the two, so a `metrics.json` an earlier run
    /// left behind is never taken for this run's.
    func writeMetrics(_ r: JobResult, startedAt: String, gemm: GEMMSelection,
                      productsHistory: [RunInfo.ProductsSegment] = [], trainedWith: String? = nil) throws {
        let dir = URL(fileURLWithPath: config.logging.outputDirectory)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw ConfigError(file: "config", key: "output_dir", message: "cannot create \(config.logging.outputDirectory): \(error.localizedDescription)")
        }
        func metricsJSON(_ m: [TaskMetrics]) -> [[String: Any]] {
            m.map { x in
                var o: [String: Any] = ["task": x.task, "count": x.count]
                if let a = x.auc { o["auc"] = a }
                if let l = x.logLoss { o["logloss"] = l; o["positives"] = x.positives }
                if let e = x.mse { o["mse"] = e }
                return o
            }
        }
        var root: [String: Any] = [
            "model": config.model.rawValue,
            "seconds": r.seconds,
            "blas_core": BLASCore.name,
            "blas_core_origin": BLASCore.origin.rawValue,
            "gemm_backend": gemm.backend.rawValue,
            "precision": gemm.precision.rawValue,
            "cpu": CPUFeatures.modelName,
            "started_at": startedAt,
            "epochs": r.history.map { e in
                ["epoch": e.epoch, "train_loss": e.trainLoss, "seconds": e.seconds,
                 "samples_per_second": e.samplesPerSecond, "validation": metricsJSON(e.validation),
                 "task_weights": e.taskWeights.map(Double.init), "gradient_cosines": e.gradientCosines] as [String: Any]
            },
            "test": metricsJSON(r.test),
        ]
        if let g = r.generation { root["oracle_auc"] = g.oracleAUC["test"] ?? [:] }
        for (key, value) in gemm.libraryFields { root[key] = value }
        // A resume that trains no step scores with the products asked for, while the run's
        // steps ran on others: the top level names those, `scored_with` the scoring's.
        if let trainedWith, trainedWith != gemm.products, case let parts = trainedWith.split(separator: " "), parts.count == 2 {
            root["gemm_backend"] = String(parts[0])
            root["precision"] = String(parts[1])
            for key in gemm.libraryFields.keys { root[key] = nil }
            root["scored_with"] = gemm.summary
        }
        if !productsHistory.isEmpty {  // as in run.json: one segment unless a resume changed the products
            root["products_history"] = productsHistory.map { ["from_step": $0.fromStep, "products": $0.products] as [String: Any] }
        }
        var oov: [String: Any] = [:]
        for o in r.outOfVocabulary { oov[o.split] = o.json }
        root["out_of_vocabulary"] = oov
        let data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: dir.appendingPathComponent("metrics.json"), options: .atomic)
    }
}
