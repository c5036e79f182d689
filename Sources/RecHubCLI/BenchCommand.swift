import ArgumentParser
import Foundation
import RecHub

/// `rechub bench`: training throughput against what `cblas_sgemm` reaches in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training samples/s, the dense layers' GFLOP/s, sgemm's GFLOP/s and peak memory.",
        discussion: """
            Defaults are the tutorial's MMoE: 8 experts of [256, 128], towers [64, 32], 23 sparse
            fields × 16 + 8 dense, batch 1024, one BLAS thread, on generated Ali-CCP-shaped data.
            The model's FLOPs are 6 × (weights of its matrices) per sample: forward, and the
            backward products for the weights and for the inputs.
            """)

    @Option(help: "mmoe or shared_bottom.") var model: String = "mmoe"
    @Option(name: .customLong("expert-units"), help: "MMoE expert widths (or SharedBottom bottom widths).") var expertUnits: String = "256,128"
    @Option(name: .customLong("num-experts"), help: "MMoE experts.") var numExperts: Int = 8
    @Option(name: .customLong("tower-units"), help: "Tower widths.") var towerUnits: String = "64,32"
    @Option(name: .customLong("embedding-dim"), help: "Embedding width.") var embeddingDim: Int = 16
    @Option(name: .customLong("batch-size"), help: "Global batch size.") var batchSize: Int = 1024
    @Option(help: "BLAS threads.") var threads: Int = 1
    @Option(help: "Timed training steps.") var steps: Int = 40
    @Option(help: "Untimed warm-up steps.") var warmup: Int = 5
    @Option(help: "Generated rows to train on.") var rows: Int = 200_000
    @Option(help: "Vocabulary scale of the generated data (1 = 500k items).") var scale: Double = 1.0
    @Option(name: .customLong("embedding-update"), help: "lazy or dense.") var embeddingUpdate: String = "lazy"
    @Option(help: "Train on this Ali-CCP-layout CSV (all its rows) instead of generated data.") var data: String?
    @Flag(name: .customLong("batch-norm"),
          help: "Batch normalisation after every hidden linear layer (torch-rechub's MLP always has it).")
    var batchNorm = false
    @Flag(help: "Print one JSON line instead of text.") var json = false
    @Flag(help: "Also time the phases of a step (forward, backward, Adam, embedding Adam) on one process.") var profile = false

    func parseUnits(_ s: String, _ flag: String) throws -> [Int] {
        let v = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("\(flag) expects positive integers separated by commas, got '\(s)'")
        }
        return v.map { $0! }
    }

    func validate() throws {
        guard ["mmoe", "shared_bottom"].contains(model) else { throw ValidationError("--model must be mmoe or shared_bottom") }
        _ = try parseUnits(expertUnits, "--expert-units")
        _ = try parseUnits(towerUnits, "--tower-units")
        guard batchSize > 0, threads > 0, steps > 0, warmup >= 0, rows >= batchSize else {
            throw ValidationError("need batch-size, threads, steps > 0 and rows ≥ batch-size")
        }
        guard EmbeddingUpdate(rawValue: embeddingUpdate) != nil else { throw ValidationError("--embedding-update must be lazy or dense") }
        guard scale > 0 && scale <= 1 else { throw ValidationError("--scale must be in (0, 1]") }
    }

    /// Best GFLOP/s of `cblas_sgemm` on (M, N, K) = (2048, 512, 256) over 15 repetitions.
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

    /// Mean seconds per step of forward+loss, backward, dense Adam and embedding Adam, timed
    /// separately on the first `batch` rows (the trainer's step does the same work in one call).
    static func profilePhases(_ model: any MultiTaskModel, data: TabularDataset, batch b: Int, steps: Int) throws -> [Double] {
        let f = model.features.numSparse, t = model.numTasks
        model.prepare(batch: b)
        let sparse = Int32Buffer(count: b * f), dense = FloatBuffer(count: b * model.features.numDense)
        let labels = FloatBuffer(count: b * data.taskCount)
        // A different batch every step, as in training: embedding rows are not warm in cache.
        var rng = SeededRandom(seed: 5)
        var rows = [Int](repeating: 0, count: b)
        let grads = FloatBuffer(count: model.layout.count)
        let embGrad = SparseRowGradient(rowCount: model.embeddings.rowCount, dim: model.embeddings.dim, capacity: b * f)
        let dLogits = FloatBuffer(count: b * t)
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: t)
        defer { sums.deallocate() }
        let adam = Adam()
        adam.bind(parameterCount: model.layout.count, embeddingCount: model.embeddings.weights.count)
        var total = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        model.context.isTraining = true
        GEMMProfile.enabled = true
        defer {
            model.context.isTraining = false
            GEMMProfile.enabled = false
        }
        for step in 0..<(steps + 2) {
            for i in 0..<b { rows[i] = Int(rng.next() % UInt64(data.count)) }
            rows.withUnsafeBufferPointer { data.gather(rows: $0, sparse: sparse.base, dense: dense.base, labels: labels.base) }
            GEMMProfile.reset()
            let t0 = monotonicSeconds()
            model.forward(sparse: sparse.base, dense: dense.base, batch: b, params: model.parameterView)
            model.loss(labels: labels.base, batch: b, scale: 1 / Float(b), dLogits: dLogits.base, lossSums: sums)
            let t1 = monotonicSeconds()
            let forwardGEMM = GEMMProfile.seconds
            grads.zero()
            embGrad.reset()
            model.backward(dLogits: dLogits.base, batch: b, params: model.parameterView, grads: model.layout.view(grads),
                           embeddingGrad: embGrad)
            let t2 = monotonicSeconds()
            if step >= 2 {
                total[4] += forwardGEMM
                total[5] += GEMMProfile.seconds - forwardGEMM
            }
            adam.beginStep()
            adam.update(params: model.parameters, grads: grads, range: 0..<model.layout.count, lr: 1e-3)
            let t3 = monotonicSeconds()
            adam.updateEmbeddings(model.embeddings, gradient: embGrad, lr: 1e-3)
            let t4 = monotonicSeconds()
            if step >= 2 {  // the first two warm caches and pages
                total[0] += t1 - t0; total[1] += t2 - t1; total[2] += t3 - t2; total[3] += t4 - t3
            }
        }
        return total.map { $0 / Double(steps) }
    }

    /// Peak resident memory of this process in MiB.
    static func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    func run() throws {
        let comm = try Runtime.communicator()
        Runtime.run(comm) {
            BLASThreads.set(threads)
            let t0 = monotonicSeconds()
            let data: TabularDataset
            if let path = self.data {
                let url = URL(fileURLWithPath: path)
                let schema = DatasetSchema.aliCCPRule(header: try CSVReader.header(of: url), labels: ["click", "purchase"])
                data = try DatasetCache().load(url, schema: schema).dataset
                guard data.count >= batchSize else { throw ValidationError("\(path) has \(data.count) rows, fewer than one batch") }
            } else {
                let gen = try SyntheticAliCCP(.init(trainRows: rows, validationRows: 0, testRows: 0, seed: 11, scale: scale))
                data = gen.generate(.train, rows: rows).dataset
            }
            let genSeconds = monotonicSeconds() - t0
            let schema = data.schema
            let features = Features(sparseNames: schema.sparse, vocabularySizes: data.vocabularySizes,
                                    embeddingDim: embeddingDim, denseNames: schema.dense)
            let units = try parseUnits(expertUnits, "--expert-units")
            let towers = try parseUnits(towerUnits, "--tower-units")
            let options = MLPOptions(batchNorm: batchNorm)
            let net: any MultiTaskModel = model == "mmoe"
                ? MMoE(features: features, expertUnits: units, numExperts: numExperts, numTasks: 2, towerUnits: towers,
                       options: options)
                : SharedBottom(features: features, hiddenUnits: units, taskHiddenUnits: towers, numTasks: 2,
                               options: options)
            net.initialize(seed: 1)
            guard batchSize % comm.size == 0 else {
                throw ValidationError("--batch-size \(batchSize) is not divisible by \(comm.size) ranks")
            }
            let trainer = MTLTrainer(model: net, optimizer: Adam(embeddingUpdate: EmbeddingUpdate(rawValue: embeddingUpdate)!),
                                     epochs: 1, batchSize: batchSize, communicator: comm)
            try trainer.broadcastParameters()
            let order = trainer.permutation(epoch: 1, count: data.count)
            var losses = [0.0, 0.0]
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
            let comm0 = trainer.communicationSeconds, steps0 = trainer.stepSeconds
            var stepTimes: [Double] = []
            let start = monotonicSeconds()
            for s in 0..<steps {
                let a = monotonicSeconds()
                try step(warmup + s)
                stepTimes.append(monotonicSeconds() - a)
            }
            let elapsed = monotonicSeconds() - start
            let commShare = (trainer.communicationSeconds - comm0) / max(trainer.stepSeconds - steps0, 1e-9)
            let rssTraining = Self.peakRSSMiB()  // before the profile's own buffers
            let phases = profile && comm.size == 1 ? try Self.profilePhases(net, data: data, batch: batchSize, steps: 10) : nil
            let sgemm = Self.sgemmGFLOPs()
            guard comm.isRoot else { return }
            let matrixWeights = net.layout.tensors.filter { $0.shape.count >= 2 }.reduce(0) { $0 + $1.count }
            let flopsPerSample = 6.0 * Double(matrixWeights)
            let samplesPerSecond = Double(steps * batchSize) / elapsed
            let modelGFLOPs = flopsPerSample * samplesPerSecond / 1e9
            let median = stepTimes.sorted()[stepTimes.count / 2]
            let rss = rssTraining
            if json {
                let o: [String: Any] = [
                    "model": model, "expert_units": units, "num_experts": numExperts, "tower_units": towers,
                    "embedding_dim": embeddingDim, "batch_size": batchSize, "threads": threads, "steps": steps,
                    "batch_norm": batchNorm,
                    "ranks": comm.size, "communication_share": commShare,
                    "rows": rows, "vocabulary": data.vocabularySizes.reduce(0, +),
                    "samples_per_second": samplesPerSecond, "median_step_ms": median * 1000,
                    "mflop_per_sample": flopsPerSample / 1e6, "model_gflops": modelGFLOPs, "sgemm_gflops": sgemm,
                    "fraction_of_sgemm": modelGFLOPs / sgemm, "peak_rss_mib": rss, "final_loss": losses,
                    "blas_core": BLASCore.name,
                ]
                let d = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
                print(String(decoding: d, as: UTF8.self))
            } else {
                print("bench \(model) experts \(numExperts)x\(units) towers \(towers) E=\(embeddingDim) "
                      + "F=\(features.numSparse) D=\(features.numDense) batch \(batchSize) over \(comm.size) rank(s), "
                      + "\(threads) thread(s) each" + (batchNorm ? ", batch norm" : ""))
                print(String(format: "data: %d rows, %d ids over %d fields (%@ in %.1f s)", data.count,
                             data.vocabularySizes.reduce(0, +), features.numSparse,
                             (self.data == nil ? "generated" : "loaded") as NSString, genSeconds))
                print(String(format: "train: %.0f samples/s (%d steps, median step %.2f ms, communication %.1f %% of step time on rank 0)",
                             samplesPerSecond, steps, median * 1000, 100 * commShare))
                print(String(format: "model: %.2f MFLOP/sample -> %.1f GFLOP/s", flopsPerSample / 1e6, modelGFLOPs))
                print(String(format: "sgemm 2048x512x256: %.1f GFLOP/s  -> step reaches %.0f %% of sgemm", sgemm,
                             100 * modelGFLOPs / sgemm)
                      + "  (OpenBLAS core \(BLASCore.name))")
                print(String(format: "peak RSS: %.0f MiB   last losses: %.4f %.4f", rss, losses[0], losses[1]))
                if let p = phases {
                    print(String(format: "phases per step: forward+loss %.2f ms (sgemm %.2f), backward %.2f ms (sgemm %.2f), Adam %.2f ms, embedding Adam %.2f ms",
                                 p[0] * 1000, p[4] * 1000, p[1] * 1000, p[5] * 1000, p[2] * 1000, p[3] * 1000))
                }
            }
        }
    }
}
