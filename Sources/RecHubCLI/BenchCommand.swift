import ArgumentParser
import Foundation
import RecHub

extension ModelKind: ExpressibleByArgument {}
extension TaskWeightingStrategy: ExpressibleByArgument {}
extension EmbeddingUpdate: ExpressibleByArgument {}
extension GEMMBackend: ExpressibleByArgument {}
extension GEMMPrecision: ExpressibleByArgument {}

/// `rechub bench`: training throughput of any model under any task-weighting strategy, against
/// what `cblas_sgemm` reaches in the same run.
///
/// The model, its optimizer and its trainer are built from a `TrainConfig` exactly as `rechub
/// train` builds them (`TrainConfig.makeModel(features:)`), and every step is the trainer's own
/// `MTLTrainer.trainStep`; `--profile` attaches the trainer's `StepProfiler` to those steps.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training samples/s, the dense layers' GFLOP/s, sgemm's GFLOP/s and peak memory.",
        discussion: """
            Defaults are the tutorial's MMoE: 8 experts of [256, 128], towers [64, 32], 23 sparse \
            fields × 16 + 8 dense, fixed weights, batch 1024, one BLAS thread, on generated \
            Ali-CCP-shaped data. Any other model starts from the built-in config defaults; the \
            shape flags set the config keys of the same name, and a flag the model does not read \
            is refused, as a config key would be.

            The model's FLOPs per sample are 3 × its forward pass's matrix products (forward, and \
            the backward products for the weights and for the inputs): 6 × (weights of its \
            matrices), with a map that runs on several vectors per sample counted that many times \
            (AITM's attention maps run on two).

            --profile reports the trainer's own step phase by phase (gather, forward, loss, \
            backward, reduce, combine, update, after), each with its time inside sgemm; under \
            mpirun, rank 0's.
            """)

    @Option(help: "The model.") var model: ModelKind = .mmoe
    @Option(help: "Task weighting, with the config's default settings.") var strategy: TaskWeightingStrategy = .fixed
    @Option(name: .customLong("expert-units"), help: "expert_units: each expert's widths (mmoe, ple; default 256,128).")
    var expertUnits: String?
    @Option(name: .customLong("num-experts"), help: "num_experts: MMoE's experts, PLE's experts per task (default 8).")
    var numExperts: Int?
    @Option(name: .customLong("num-shared-experts"), help: "num_shared_experts: PLE's shared experts per level (default 1).")
    var numSharedExperts: Int?
    @Option(name: .customLong("num-layers"), help: "num_layers: PLE's extraction levels (default 1, CGC).")
    var numLayers: Int?
    @Option(name: .customLong("hidden-units"), help: "hidden_units: SharedBottom's bottom widths (default 256,128).")
    var hiddenUnits: String?
    @Option(name: .customLong("tower-units"),
            help: "tower_units (SharedBottom: task_hidden_units): tower widths, every model (default 64,32).")
    var towerUnits: String?
    @Option(name: .customLong("embedding-dim"), help: "Embedding width.") var embeddingDim: Int = 16
    @Option(name: .customLong("batch-size"), help: "Global batch size.") var batchSize: Int = 1024
    @Option(help: "BLAS threads.") var threads: Int = 1
    @Option(help: "Timed training steps.") var steps: Int = 40
    @Option(help: "Untimed warm-up steps.") var warmup: Int = 5
    @Option(help: "Generated rows to train on.") var rows: Int = 200_000
    @Option(help: "Vocabulary scale of the generated data (1 = 500k items).") var scale: Double = 1.0
    @Option(name: .customLong("embedding-update"), help: "Embedding updates.") var embeddingUpdate: EmbeddingUpdate = .lazy
    @Option(help: "Train on this Ali-CCP-layout CSV (all its rows) instead of generated data.") var data: String?
    @Flag(name: .customLong("batch-norm"),
          help: "Batch normalisation after every hidden linear layer (torch-rechub's MLP always has it).")
    var batchNorm = false
    @Option(name: .customLong("gemm-backend"), help: "gemm_backend: the library behind the products (openblas, onednn, mkl).")
    var gemmBackend: GEMMBackend = .openblas
    @Option(help: "precision: the products' inputs (fp32; bf16 needs --gemm-backend onednn or mkl).")
    var precision: GEMMPrecision = .fp32
    @Option(name: .customLong("mkl-library"), help: "mkl_library: libmkl_rt's path or folder (default: see README).")
    var mklLibrary: String?
    @Option(name: .customLong("onednn-library"), help: "onednn_library: libdnnl's path or folder (default: see README).")
    var onednnLibrary: String?
    @Flag(help: "Print one JSON line instead of text.") var json = false
    @Flag(help: "Also time each phase of the trainer's step, and its sgemm share (rank 0's under mpirun).")
    var profile = false

    /// The shape flags, each with the config key it sets (SharedBottom's towers are `task_hidden_units`).
    var shapeFlags: [(flag: String, key: String, isSet: Bool)] {
        [("--expert-units", "expert_units", expertUnits != nil), ("--num-experts", "num_experts", numExperts != nil),
         ("--num-shared-experts", "num_shared_experts", numSharedExperts != nil),
         ("--num-layers", "num_layers", numLayers != nil), ("--hidden-units", "hidden_units", hiddenUnits != nil),
         ("--tower-units", model == .sharedBottom ? "task_hidden_units" : "tower_units", towerUnits != nil)]
    }

    func parseUnits(_ s: String, _ flag: String) throws -> [Int] {
        let v = s.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("\(flag) expects positive integers separated by commas, got '\(s)'")
        }
        return v.map { $0! }
    }

    func validate() throws {
        for (flag, key, isSet) in shapeFlags where isSet {
            if let users = TrainConfig.modelKeys[key], !users.contains(model) {
                throw ValidationError("\(flag) (\(key)) is not used by --model \(model.rawValue) "
                                      + "(used by \(users.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        for (flag, value) in [("--expert-units", expertUnits), ("--hidden-units", hiddenUnits), ("--tower-units", towerUnits)] {
            if let value { _ = try parseUnits(value, flag) }
        }
        for (flag, value) in [("--num-experts", numExperts), ("--num-shared-experts", numSharedExperts),
                              ("--num-layers", numLayers)] {
            if let value, !(1...1024).contains(value) { throw ValidationError("\(flag) must be in 1...1024, got \(value)") }
        }
        guard (1...4096).contains(embeddingDim) else {
            throw ValidationError("--embedding-dim must be in 1...4096, got \(embeddingDim)")
        }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        // The range of the config's threads key, less its 0 (automatic): a bench states its threads.
        guard (1...1024).contains(threads) else { throw ValidationError("--threads \(threads) is outside 1...1024") }
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be ≥ 0, got \(warmup)") }
        guard data != nil || rows >= batchSize else {
            throw ValidationError("--rows \(rows) is less than one batch (--batch-size \(batchSize))")
        }
        guard scale > 0 && scale <= 1 else { throw ValidationError("--scale must be in (0, 1], got \(scale)") }
        if precision == .bf16 && gemmBackend == .openblas {
            throw ValidationError("--precision bf16 needs --gemm-backend onednn or mkl (OpenBLAS 0.3.21 has no bf16 product)")
        }
        if mklLibrary != nil && gemmBackend != .mkl { throw ValidationError("--mkl-library is only read with --gemm-backend mkl") }
        if onednnLibrary != nil && gemmBackend != .onednn {
            throw ValidationError("--onednn-library is only read with --gemm-backend onednn")
        }
    }

    /// The run's config: the built-in defaults (`TrainConfig()`, the tutorial's shapes) with the
    /// model, the strategy and the flags on top, as `--set` overrides would give.
    func trainConfig() throws -> TrainConfig {
        var c = TrainConfig()
        c.model = model
        c.weighting.strategy = strategy
        c.architecture.embeddingDim = embeddingDim
        c.schedule.batchSize = batchSize
        c.threads = threads
        c.optimizer.embeddingUpdate = embeddingUpdate
        c.architecture.batchNorm = batchNorm
        c.logging.monitorEvery = 0  // every step measured is an ordinary one
        c.gemmBackend = gemmBackend
        c.precision = precision
        c.mklLibrary = mklLibrary
        c.onednnLibrary = onednnLibrary
        if let s = expertUnits { c.architecture.expertUnits = try parseUnits(s, "--expert-units") }
        if let n = numExperts { c.architecture.numExperts = n }
        if let n = numSharedExperts { c.architecture.numSharedExperts = n }
        if let n = numLayers { c.architecture.numLayers = n }
        if let s = hiddenUnits { c.architecture.hiddenUnits = try parseUnits(s, "--hidden-units") }
        if let s = towerUnits { c.architecture.towerUnits = try parseUnits(s, "--tower-units") }
        return c
    }

    /// Best GFLOP/s of `gemm` on (M, N, K) = (2048, 512, 256) over 15 repetitions, with the
    /// products' backend and precision (`cblas_sgemm` by default).
    static func sgemmGFLOPs() -> Double {
        let m = 2048, n = 512, k = 256
        var rng = SeededRandom(seed: 1)
        let a = FloatBuffer((0..<(m * k)).map { _ in rng.nextFloat() - 0.5 })
        let b = FloatBuffer((0..<(k * n)).map { _ in rng.nextFloat() - 0.5 })
        let c = FloatBuffer(count: m * n)
        var best = Double.infinity
        for _ in 0..<15 {
            let t0 = monotonicSeconds()
            gemm(.none, .none, m: m, n: n, k: k, a: a.base, lda: k, b: b.base, ldb: n, beta: 0, c: c.base, ldc: n)
            best = min(best, monotonicSeconds() - t0)
        }
        return 2.0 * Double(m * n * k) / best / 1e9
    }

    /// The model's matrix FLOPs per sample of a training step, nominal: 3 × those of one forward
    /// pass over `batch` rows, as `gemm` counts them (forward, then the backward products for the
    /// weights and for the inputs, each as many as the forward's).
    ///
    /// ```
    /// FLOPs/sample = 6 × Σ_matrices (weights × vectors it multiplies per sample)
    /// ```
    /// That is 6 × (matrix weights) for every model but AITM, whose attention maps (query, key,
    /// value) run on two vectors per sample. A layout count cannot tell: an expert bank's biases
    /// and batch-norm scales are 2-D tensors but no matrices. Call after the trainer has prepared
    /// the model (its buffers); the forward runs in evaluation mode and changes no parameter.
    static func matrixFLOPsPerSample(_ net: any MultiTaskModel, data: TabularDataset, batch: Int) -> Double {
        let b = min(batch, data.count)
        let sparse = Int32Buffer(count: b * net.features.numSparse), dense = FloatBuffer(count: b * net.features.numDense)
        let labels = FloatBuffer(count: b * data.taskCount)
        Array(0..<b).withUnsafeBufferPointer {
            data.gather(rows: $0, sparse: sparse.base, dense: dense.base, labels: labels.base)
        }
        let wasEnabled = GEMMProfile.enabled
        GEMMProfile.enabled = true
        GEMMProfile.reset()
        net.forward(sparse: sparse.base, dense: dense.base, batch: b, params: net.parameterView)
        let flops = GEMMProfile.flops
        GEMMProfile.reset()
        GEMMProfile.enabled = wasEnabled
        return 3 * flops / Double(b)
    }

    /// Peak resident memory of this process in MiB.
    static func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// The training rows: `--data`'s CSV loaded as `rechub train` loads it, or generated.
    func loadData(_ job: TrainingJob) throws -> TabularDataset {
        if let path = data {
            let d = try job.load(path, schema: try job.schema(for: URL(fileURLWithPath: path)), vocabulary: nil)
            guard d.count >= batchSize else { throw ValidationError("\(path) has \(d.count) rows, fewer than one batch") }
            return d
        }
        let gen = try SyntheticAliCCP(.init(trainRows: rows, validationRows: 0, testRows: 0, seed: 11, scale: scale))
        return gen.generate(.train, rows: rows).dataset
    }

    /// What the measured steps gave (rank 0's view; figures over all ranks).
    struct Measurement {
        var config: TrainConfig
        var data: TabularDataset
        var features: Features
        var denseParameters: Int
        var dataSeconds: Double
        var ranks: Int
        /// How the ranks' gradients were summed (`Communicator.gradientReduction`); nil alone.
        var gradientReduction: String?
        var samplesPerSecond: Double
        var medianStepSeconds: Double
        var communicationShare: Double
        /// Nominal matrix FLOPs per sample (3 × the forward pass's products).
        var flopsPerSample: Double
        /// Products the steps actually ran per local sample (the strategy's extra backward
        /// passes included, the dense inputs' gradient left out).
        var measuredFlopsPerSample: Double
        var phases: [(phase: StepProfiler.Phase, seconds: Double, sgemm: Double)]?
        var sgemmGFLOPs: Double
        var peakRSSMiB: Double
        var finalLosses: [Double]

        var modelGFLOPs: Double { flopsPerSample * samplesPerSecond / 1e9 }
        /// The model's GFLOP/s over what sgemm gives on every rank (rank 0's figure × ranks).
        var fractionOfSgemm: Double { modelGFLOPs / (sgemmGFLOPs * Double(ranks)) }
    }

    func run() throws {
        let comm = try Runtime.communicator()
        Runtime.run(comm) {
            guard batchSize % comm.size == 0 else {
                throw ValidationError("--batch-size \(batchSize) is not divisible by \(comm.size) ranks")
            }
            BLASThreads.set(threads)
            let config = try trainConfig()
            let products: GEMMSelection
            do { products = try config.loadGEMM(threads: threads) } catch let e as GEMMBackendError {
                // The bench's flags set the keys of the same names: name the flag.
                throw e.namingFlag(of: .mkl).namingFlag(of: .onednn)
            }
            if let note = products.note, comm.isRoot { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            let m = try GEMMEngine.withSettings(products) { try measure(config: config, communicator: comm) }
            guard comm.isRoot else { return }
            if json { try printJSON(m, products: products) } else { printText(m, products: products) }
        }
    }

    /// Builds the model and trainer as `rechub train` does, runs `warmup` then `steps` of the
    /// trainer's own steps (with its profiler under `--profile`), and measures them.
    func measure(config: TrainConfig, communicator comm: any Communicator) throws -> Measurement {
        var job = TrainingJob(config: config, communicator: comm)
        // The job's notes (a rebuilt data cache) go to stderr: stdout is the bench's report.
        job.log = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        do { try job.checkBatchNormBatches(trainRows: nil) } catch is ConfigError {  // as `train` refuses it
            throw ValidationError("--batch-norm needs at least 2 rows per rank: --batch-size \(config.schedule.batchSize) over "
                                  + "\(comm.size) rank(s) gives \(config.schedule.batchSize / comm.size); raise --batch-size")
        }
        let t0 = monotonicSeconds()
        let data = try loadData(job)
        let dataSeconds = monotonicSeconds() - t0
        let features = Features(sparseNames: data.schema.sparse, vocabularySizes: data.vocabularySizes,
                                embeddingDim: config.architecture.embeddingDim, denseNames: data.schema.dense)
        try job.checkModelFits(features: features)
        let net = job.makeModel(features: features)
        net.initialize(seed: config.seed)
        // The optimizer and trainer of `TrainingJob.run`, from the same config.
        let trainer = job.makeTrainer(model: net)
        trainer.progressLine = nil
        try trainer.broadcastParameters()
        let flopsPerSample = Self.matrixFLOPsPerSample(net, data: data, batch: batchSize / comm.size)
        let profiler = profile ? StepProfiler() : nil
        trainer.profiler = profiler
        let order = trainer.permutation(epoch: 1, count: data.count)
        var losses = [Double](repeating: 0, count: net.numTasks)
        let perEpoch = data.count / batchSize
        func step(_ s: Int) throws {
            let lo = (s % perEpoch) * batchSize
            try order.withUnsafeBufferPointer {
                try trainer.trainStep(data, globalRows: UnsafeBufferPointer(rebasing: $0[lo..<(lo + batchSize)]),
                                      losses: &losses)
            }
        }
        for s in 0..<warmup { try step(s) }
        try comm.barrier()
        profiler?.reset()
        GEMMProfile.reset()
        let comm0 = trainer.communicationSeconds, steps0 = trainer.stepSeconds
        var stepTimes: [Double] = []
        let start = monotonicSeconds()
        for s in 0..<steps {
            let a = monotonicSeconds()
            try step(warmup + s)
            stepTimes.append(monotonicSeconds() - a)
        }
        let elapsed = monotonicSeconds() - start
        let phases = profiler?.meanPerStep()
        let measured = GEMMProfile.flops / Double(steps * (batchSize / comm.size))
        trainer.profiler = nil
        return Measurement(config: config, data: data, features: features, denseParameters: net.layout.count,
                           dataSeconds: dataSeconds, ranks: comm.size, gradientReduction: comm.gradientReduction,
                           samplesPerSecond: Double(steps * batchSize) / elapsed,
                           medianStepSeconds: stepTimes.sorted()[stepTimes.count / 2],
                           communicationShare: (trainer.communicationSeconds - comm0) / max(trainer.stepSeconds - steps0, 1e-9),
                           flopsPerSample: flopsPerSample, measuredFlopsPerSample: measured, phases: phases,
                           sgemmGFLOPs: Self.sgemmGFLOPs(), peakRSSMiB: Self.peakRSSMiB(), finalLosses: losses)
    }

    /// One JSON line with every figure (`--json`).
    func printJSON(_ m: Measurement, products: GEMMSelection) throws {
        let config = m.config
        var o: [String: Any] = [
            "model": config.model.rawValue, "strategy": strategy.rawValue,
            "embedding_dim": config.architecture.embeddingDim, "batch_size": batchSize, "threads": threads, "steps": steps,
            "warmup": warmup, "batch_norm": batchNorm, "embedding_update": config.optimizer.embeddingUpdate.rawValue,
            "ranks": m.ranks, "communication_share": m.communicationShare,
            "gradient_reduction": m.gradientReduction ?? NSNull(),
            "rows": m.data.count, "vocabulary": m.data.vocabularySizes.reduce(0, +),
            "dense_parameters": m.denseParameters,
            "samples_per_second": m.samplesPerSecond, "median_step_ms": m.medianStepSeconds * 1000,
            "mflop_per_sample": m.flopsPerSample / 1e6, "model_gflops": m.modelGFLOPs, "sgemm_gflops": m.sgemmGFLOPs,
            "fraction_of_sgemm": m.fractionOfSgemm, "peak_rss_mib": m.peakRSSMiB, "final_loss": m.finalLosses,
            "blas_core": BLASCore.name, "blas_core_origin": BLASCore.origin.rawValue, "cpu": CPUFeatures.modelName,
            "gemm_backend": gemmBackend.rawValue, "precision": precision.rawValue,
        ]
        for (key, value) in products.libraryFields { o[key] = value }
        for (key, value) in config.modelKeyValues { o[key] = value.jsonValue }
        if let phases = m.phases {
            var p: [String: Any] = [:]
            for x in phases { p[x.phase.name] = ["ms": x.seconds * 1000, "sgemm_ms": x.sgemm * 1000] }
            o["phases"] = p
            o["sgemm_mflop_per_sample"] = m.measuredFlopsPerSample / 1e6
        }
        let d = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
        print(String(decoding: d, as: UTF8.self))
    }

    /// The human-readable report.
    func printText(_ m: Measurement, products: GEMMSelection) {
        let config = m.config, features = m.features
        let shapeText = config.modelKeyValues.map { "\($0.name) \($0.value)" }.joined(separator: ", ")
        print("bench \(config.model.rawValue), \(strategy.rawValue) weights: \(shapeText), E=\(config.architecture.embeddingDim) "
              + "F=\(features.numSparse) D=\(features.numDense); batch \(batchSize) over \(m.ranks) rank(s), "
              + "\(threads) thread(s) each" + (batchNorm ? ", batch norm" : ""))
        print(String(format: "data: %d rows, %d ids over %d fields (%@ in %.1f s)", m.data.count,
                     m.data.vocabularySizes.reduce(0, +), features.numSparse,
                     (data == nil ? "generated" : "loaded") as NSString, m.dataSeconds))
        print(String(format: "train: %.0f samples/s (%d steps, median step %.2f ms, communication %.1f %% of step time on rank 0)",
                     m.samplesPerSecond, steps, m.medianStepSeconds * 1000, 100 * m.communicationShare))
        if let g = m.gradientReduction { print("gradient all-reduce: \(g)") }
        print(String(format: "model: %d dense parameters, %.2f MFLOP/sample -> %.1f GFLOP/s", m.denseParameters,
                     m.flopsPerSample / 1e6, m.modelGFLOPs))
        let perRank = m.ranks > 1 ? " (× \(m.ranks) ranks)" : ""
        let product = gemmBackend == .openblas && precision == .fp32 ? "sgemm" : "\(gemmBackend.rawValue) \(precision.rawValue) gemm"
        print(String(format: "%@ 2048x512x256: %.1f GFLOP/s", product as NSString, m.sgemmGFLOPs) + perRank
              + String(format: "  -> step reaches %.0f %% of ", 100 * m.fractionOfSgemm) + (product == "sgemm" ? "sgemm" : "that gemm")
              + "  (" + (products.backend == .openblas ? "OpenBLAS core \(BLASCore.name), \(BLASCore.origin.rawValue)"
                         : "\(products.version ?? products.backend.rawValue), \(products.library ?? "?")")
              + "; CPU \(CPUFeatures.modelName))")
        print(String(format: "peak RSS: %.0f MiB   last losses: ", m.peakRSSMiB)
              + m.finalLosses.map { String(format: "%.4f", $0) }.joined(separator: " "))
        guard let phases = m.phases else { return }
        let total = phases.reduce(0) { $0 + $1.seconds }, totalGEMM = phases.reduce(0) { $0 + $1.sgemm }
        print(String(format: "phases per step (rank 0, mean of %d steps; sgemm ran %.2f MFLOP/sample):",
                     steps, m.measuredFlopsPerSample / 1e6))
        func row(_ name: String, _ seconds: Double, _ sgemm: Double) {
            print("  " + name.padding(toLength: 9, withPad: " ", startingAt: 0)
                  + String(format: "%9.2f ms  (sgemm %8.2f ms)", seconds * 1000, sgemm * 1000))
        }
        for x in phases { row(x.phase.name, x.seconds, x.sgemm) }
        row("total", total, totalGEMM)
    }
}
