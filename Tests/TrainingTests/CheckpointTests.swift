import Foundation
import Kernels
@testable import Training
import RecHub
import Testing

/// The checkpoint format as untrusted input, and exact resume in process.
struct CheckpointTests {
    func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-ckpt-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func sample() -> Data {
        var w = CheckpointWriter(header: CheckpointHeader(configFingerprint: 42, step: 7, epoch: 2, stepInEpoch: 3))
        w.add("config", Data("{\"a\":1}".utf8))
        let floats: [Float] = (0..<1000).map { Float($0) / 7 }
        floats.withUnsafeBufferPointer { w.add("params", floats: $0.baseAddress!, count: 1000) }
        w.add("empty", Data())
        return w.encoded()
    }

    func reason(_ data: Data) -> String? {
        do {
            let f = try CheckpointFile(data: data, path: "x.rhck")
            try f.verifyAll()
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The fingerprint's text is what checkpoints written before the model-key table hold:
    /// the shape keys of every model, in this order, then the rest (a change here would refuse
    /// every earlier checkpoint's resume).
    @Test func fingerprintFieldsKeepTheirTextAndOrder() {
        var c = TrainConfig()
        c.model = .ple
        c.weighting.strategy = .gradnorm
        let f = Features(sparseNames: ["a"], vocabularySizes: [3], embeddingDim: 16, denseNames: ["d"])
        let fields = Checkpointer.identityFields(config: c, features: f)
        let expected: [(String, String)] = [
            ("model", "ple"), ("expert_units", "[256, 128]"), ("num_experts", "8"), ("tower_units", "[64, 32]"),
            ("hidden_units", "[256, 128]"), ("num_shared_experts", "1"), ("num_layers", "1"), ("batch_norm", "false"),
            ("dropout", "0.0"), ("activation", "relu"), ("embedding_dim", "16"), ("data.labels", "[\"click\", \"purchase\"]"),
            ("task_types", "[]"), ("seed", "2022"), ("batch_size", "1024"), ("task_weights_strategy", "gradnorm"),
            ("data.sparse", "[\"a\"]"), ("data.vocabulary_sizes", "[3]"), ("data.dense", "[\"d\"]"),
        ]
        #expect(fields.map(\.0) == expected.map(\.0))
        #expect(fields.map(\.1) == expected.map(\.1))
    }

    @Test func roundTrip() throws {
        let f = try CheckpointFile(data: sample(), path: "x.rhck")
        #expect(f.header == CheckpointHeader(configFingerprint: 42, step: 7, epoch: 2, stepInEpoch: 3))
        #expect(f.sections.map(\.name) == ["config", "params", "empty"])
        let out = FloatBuffer(count: 1000)
        try f.read("params", floats: out.base, count: 1000)
        #expect(out[999] == Float(999) / 7)
        #expect(throws: CheckpointError.self) { try f.read("params", floats: out.base, count: 999) }
        #expect(throws: CheckpointError.self) { _ = try f.section("nope") }
    }

    /// A checkpoint whose parameters are not finite (checksums consistent) is refused by every
    /// reader: `verifyAll` (inspect, evaluate, predict, resume's newest-valid search) and `read`.
    @Test(arguments: [Float.nan, .infinity, -.infinity], ["params", "embeddings", "adam.v", "best.params"])
    func nonFiniteFloatSectionsAreRefused(bad: Float, section: String) throws {
        var w = CheckpointWriter(header: CheckpointHeader(configFingerprint: 1, step: 1, epoch: 1, stepInEpoch: 0))
        var floats: [Float] = (0..<64).map { Float($0) }
        floats[37] = bad
        floats.withUnsafeBufferPointer { w.add(section, floats: $0.baseAddress!, count: 64) }
        let data = w.encoded()
        let message = reason(data) ?? "accepted"
        #expect(message.contains("section '\(section)'") && message.contains("value 37"), "\(message)")
        let f = try CheckpointFile(data: data, path: "x.rhck")
        let out = FloatBuffer(count: 64)
        #expect(throws: CheckpointError.self) { try f.read(section, floats: out.base, count: 64) }
        // Subnormal and huge finite values are parameters like any other.
        floats[37] = .leastNonzeroMagnitude
        floats[38] = -.greatestFiniteMagnitude
        var ok = CheckpointWriter(header: CheckpointHeader(configFingerprint: 1, step: 1, epoch: 1, stepInEpoch: 0))
        floats.withUnsafeBufferPointer { ok.add(section, floats: $0.baseAddress!, count: 64) }
        #expect(reason(ok.encoded()) == nil)
    }

    @Test func truncatedAndBitFlippedFilesAreRefusedNamingTheSection() {
        let good = sample()
        #expect(reason(good.prefix(good.count - 10))?.contains("truncated") == true)
        #expect(reason(good.prefix(100))?.contains("not a RecHub checkpoint") == true)
        var flipped = good
        // A byte inside the params section's payload.
        let f = try! CheckpointFile(data: good, path: "x")
        _ = f
        flipped[flipped.count - 100] ^= 0x10
        #expect(reason(flipped)?.contains("section 'params' is corrupt") == true, "\(reason(flipped) ?? "accepted")")
        var header = good
        header[44] ^= 1  // the step field
        #expect(reason(header)?.contains("header checksum") == true)
    }

    /// A hostile file: consistent checksums but sizes and offsets that point outside the file,
    /// overlap, or claim huge lengths. It must be refused before anything is allocated.
    @Test func hostileTablesAreRefused() {
        func patch(_ data: Data, entry: Int, offset: UInt64? = nil, length: UInt64? = nil) -> Data {
            var d = data
            let count = Int(d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt32.self) })
            let e = 128 + entry * 48
            d.withUnsafeMutableBytes { raw in
                if let offset { raw.storeBytes(of: offset.littleEndian, toByteOffset: e + 24, as: UInt64.self) }
                if let length { raw.storeBytes(of: length.littleEndian, toByteOffset: e + 32, as: UInt64.self) }
                let tableEnd = 128 + count * 48 + 8
                let sum = checksum64(UnsafeRawBufferPointer(rebasing: raw[128..<(tableEnd - 8)]))
                raw.storeBytes(of: sum.littleEndian, toByteOffset: tableEnd - 8, as: UInt64.self)
            }
            return d
        }
        let good = sample()
        #expect(reason(patch(good, entry: 1, length: UInt64.max))?.contains("outside the file") == true)
        #expect(reason(patch(good, entry: 1, offset: UInt64.max - 3))?.contains("outside the file") == true)
        #expect(reason(patch(good, entry: 1, offset: 0))?.contains("outside the file") == true)
        let overlapping = patch(good, entry: 0, length: 400)
        #expect(reason(overlapping)?.contains("overlaps") == true, "\(reason(overlapping) ?? "accepted")")
    }

    /// Seeded random mutations (bit flips, truncations, overwritten words) of a valid file:
    /// the loader either refuses with a CheckpointError or, never, accepts a changed file.
    @Test func fuzzedFilesNeverCrashTheLoader() {
        let good = sample()
        var rng = SeededRandom(seed: 2026)
        var refused = 0
        for _ in 0..<3000 {
            var d = good
            switch rng.nextInt(below: 3) {
            case 0:
                for _ in 0..<(1 + rng.nextInt(below: 4)) { d[rng.nextInt(below: d.count)] ^= UInt8(1 << rng.nextInt(below: 8)) }
            case 1:
                d = d.prefix(rng.nextInt(below: d.count))
            default:
                let at = rng.nextInt(below: d.count - 8)
                d.withUnsafeMutableBytes { $0.storeBytes(of: rng.next(), toByteOffset: at, as: UInt64.self) }
            }
            if d == good { continue }
            do {
                let f = try CheckpointFile(data: d, path: "fuzz")
                try f.verifyAll()
                Issue.record("a mutated file was accepted (\(f.sections.count) sections)")
            } catch is CheckpointError {
                refused += 1
            } catch {
                Issue.record("unexpected error type: \(error)")
            }
        }
        #expect(refused > 2900)  // mutations that changed nothing are skipped above
    }

    /// keep_last counts and prunes this run's checkpoints only: another run's (another
    /// `run_id`) are left, as is a live or fresh temporary; a dead writer's old one goes. The
    /// run is read from the small `run` section alone (a damaged one reads as none).
    @Test func pruneTouchesOnlyThisRunsCheckpoints() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(step: UInt64, run: String) throws {
            var w = CheckpointWriter(header: CheckpointHeader(configFingerprint: 1, step: step, epoch: 1, stepInEpoch: step))
            w.add("params", Data(repeating: 7, count: 4096))
            w.add("run", try JSONEncoder().encode(["run_id": run]))
            try w.write(to: String(format: "\(dir)/step-%08d.rhck", Int(step)))
        }
        for step in [1, 2, 3, 4] as [UInt64] { try write(step: step, run: "mine") }
        for step in [5, 6] as [UInt64] { try write(step: step, run: "theirs") }
        #expect(Checkpointer.storedRunID(ofCheckpointAt: "\(dir)/step-00000005.rhck") == "theirs")
        let stale = "\(dir)/step-00000009.rhck.tmp-\(Int32.max - 1)", fresh = "\(dir)/step-00000010.rhck.tmp-\(Int32.max - 2)"
        let live = "\(dir)/step-00000011.rhck.tmp-1"  // init: a live process
        for path in [stale, fresh, live] { try Data([1]).write(to: URL(fileURLWithPath: path)) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: stale)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: live)
        let checkpointer = Checkpointer(directory: dir, keepLast: 2, config: TrainConfig(),
                                        features: Features(sparseNames: ["a"], vocabularySizes: [3], embeddingDim: 4, denseNames: []),
                                        communicator: LocalCommunicator())
        checkpointer.runID = "mine"
        try checkpointer.prune()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == [
            "step-00000003.rhck", "step-00000004.rhck", "step-00000005.rhck", "step-00000006.rhck",
            "step-00000010.rhck.tmp-\(Int32.max - 2)", "step-00000011.rhck.tmp-1"])
        // A damaged run section reads as no run.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/step-00000006.rhck"))
        bytes[bytes.count - 3] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: "\(dir)/step-00000006.rhck"))
        #expect(Checkpointer.storedRunID(ofCheckpointAt: "\(dir)/step-00000006.rhck") == nil)
    }

    @Test func atomicWriteLeavesNoTemporaryAndNewestValidFallsBack() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var w1 = CheckpointWriter(header: CheckpointHeader(configFingerprint: 1, step: 10, epoch: 1, stepInEpoch: 10))
        w1.add("x", Data([1, 2, 3]))
        try w1.write(to: "\(dir)/step-00000010.rhck")
        var w2 = w1
        w2.header.step = 20
        try w2.write(to: "\(dir)/step-00000020.rhck")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["step-00000010.rhck", "step-00000020.rhck"])
        #expect(try Checkpointer.newestValid(in: dir).file.header.step == 20)
        // Corrupt the newest: resume falls back to the previous one and says why.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/step-00000020.rhck"))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: "\(dir)/step-00000020.rhck"))
        // A stray temporary from a killed writer is not a checkpoint.
        try Data([0, 1, 2]).write(to: URL(fileURLWithPath: "\(dir)/step-00000030.rhck.tmp-99"))
        let (file, rejected) = try Checkpointer.newestValid(in: dir)
        #expect(file.header.step == 10)
        #expect(rejected.count == 1 && rejected[0].contains("section 'x' is corrupt"))
    }
}

/// Resume, early stopping and divergence with the real trainer, in process.
struct ResumeTests {
    func config(_ dir: String, _ sets: [String] = []) throws -> TrainConfig {
        var node = try ConfigNode.parse(yaml: defaultConfigYAML, file: "default")
        for s in ["data.generate.rows=6000", "data.generate.val_rows=2000", "data.generate.test_rows=2000",
                  "data.generate.scale=0.01", "data.generate.dir=\(dir)/data", "output_dir=\(dir)/out",
                  "expert_units=[16]", "num_experts=2", "tower_units=[8]", "batch_size=256", "threads=1",
                  "epochs=3", "checkpoint_every=7"] + sets {
            node = try node.setting(s)
        }
        return try TrainConfig.parse(node)
    }

    /// A copy of `good` at `path` whose config section is `config` as JSON (every checksum
    /// recomputed, so only the config's meaning can be wrong).
    static func copy(_ good: CheckpointFile, config: [String: Any], to path: String) throws -> CheckpointFile {
        var w = CheckpointWriter(header: good.header)
        for s in good.sections {
            w.add(s.name, s.name == "config" ? try JSONSerialization.data(withJSONObject: config) : try good.section(s.name))
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try w.write(to: path)
        return try CheckpointFile(path: path)
    }

    /// Trains one epoch of the small run in `dir` and returns its newest checkpoint.
    func oneEpochCheckpoint(in dir: String) throws -> CheckpointFile {
        _ = try run(try config(dir, ["epochs=1"]))
        return try Checkpointer.newestValid(in: "\(dir)/out/checkpoints").file
    }

    func run(_ config: TrainConfig, resume: String? = nil) throws -> ([Float], [Float], JobResult) {
        var job = TrainingJob(config: config)
        job.log = { _ in }
        job.resumeDirectory = resume
        job.saveParametersPath = "\(config.logging.outputDirectory)/final.bin"
        let r = try job.run()
        let (p, e) = try loadParameters(from: "\(config.logging.outputDirectory)/final.bin")
        return (p, e, r)
    }

    @Test func resumeMidEpochIsBitIdentical() throws {
        let dir = CheckpointTests().tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let full = try run(try config(dir))
        // "Die" after step 30 (mid epoch 2; the last checkpoint is step 28), then resume.
        let cut = try config(dir, ["output_dir=\(dir)/cut", "max_steps=30"])
        _ = try run(cut)
        let resumed = try run(try config(dir, ["output_dir=\(dir)/cut"]), resume: "\(dir)/cut/checkpoints")
        #expect(resumed.0 == full.0 && resumed.1 == full.1, "parameters after resume differ from the uninterrupted run")
        #expect(resumed.2.history.count == 3 && resumed.2.history.map(\.trainLoss) == full.2.history.map(\.trainLoss))
        #expect(resumed.2.test.map(\.auc) == full.2.test.map(\.auc))
    }

    /// The learned task-weighting state (GradNorm's weights and initial losses, uncertainty's
    /// log-variances and their Adam moments, MetaBalance's averages) comes back on resume.
    @Test(arguments: ["gradnorm", "uncertainty", "metabalance"])
    func resumeRestoresTaskWeightingState(strategy: String) throws {
        let dir = CheckpointTests().tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let full = try run(try config(dir, ["task_weights_strategy=\(strategy)", "epochs=2"]))
        _ = try run(try config(dir, ["task_weights_strategy=\(strategy)", "epochs=2", "output_dir=\(dir)/cut", "max_steps=30"]))
        let resumed = try run(try config(dir, ["task_weights_strategy=\(strategy)", "epochs=2", "output_dir=\(dir)/cut"]),
                              resume: "\(dir)/cut/checkpoints")
        #expect(resumed.0 == full.0 && resumed.1 == full.1, "\(strategy): resumed parameters differ")
        #expect(resumed.2.history.last?.taskWeights == full.2.history.last?.taskWeights)
    }

    @Test func aCheckpointOfAnotherModelIsRefusedNamingTheKey() throws {
        let dir = CheckpointTests().tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try run(try config(dir, ["max_steps=10"]))
        #expect {
            _ = try run(try config(dir, ["num_experts=3"]), resume: "\(dir)/out/checkpoints")
        } throws: { error in
            "\(error)".contains("num_experts: checkpoint 2, now 3")
        }
    }

    @Test func earlyStoppingRestoresTheBestEpoch() throws {
        let dir = CheckpointTests().tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A high learning rate overfits quickly, so validation AUC peaks and falls.
        let c = try config(dir, ["epochs=8", "learning_rate=0.02", "earlystop_task=click", "earlystop_patience=1",
                                 "checkpoint_every=0"])
        let (p, _, r) = try run(c)
        let aucs = r.history.map { $0.validation[0].auc ?? 0 }
        let best = aucs.max()!
        #expect(r.history.count < 8 || aucs.last! == best, "stopped after \(r.history.count) epochs: \(aucs)")
        let bestFile = try CheckpointFile(path: "\(dir)/out/checkpoints/best.rhck")
        let saved = FloatBuffer(count: p.count)
        try bestFile.read("params", floats: saved.base, count: p.count)
        #expect(saved.toArray() == p, "the final weights are the best epoch's")
        #expect(Int(bestFile.header.epoch) - 1 == aucs.firstIndex(of: best)! + 1)
    }

    @Test func divergingLossStopsNamingStepTaskAndCheckpoint() throws {
        let dir = CheckpointTests().tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try SyntheticAliCCP(.init(trainRows: 1024, validationRows: 0, testRows: 0, seed: 1, scale: 0.01))
            .generate(.train, rows: 1024).dataset
        let features = Features(sparseNames: data.schema.sparse, vocabularySizes: data.vocabularySizes, embeddingDim: 4,
                                denseNames: data.schema.dense)
        let model = MMoE(features: features, expertUnits: [16], numExperts: 2, numTasks: 2, towerUnits: [8])
        model.initialize(seed: 1)
        let trainer = MTLTrainer(model: model, optimizer: Adam(), epochs: 1, batchSize: 256)
        let checkpointer = Checkpointer(directory: "\(dir)/ck", keepLast: 5, config: TrainConfig(), features: features,
                                        communicator: LocalCommunicator())
        let order = Array(0..<1024)
        var losses = [0.0, 0.0]
        func step(_ s: Int) throws {
            try order.withUnsafeBufferPointer { p in
                try trainer.trainStep(data, globalRows: UnsafeBufferPointer(rebasing: p[(s * 256)..<((s + 1) * 256)]),
                                      losses: &losses)
            }
        }
        for s in 0..<2 {
            try step(s)
            try checkpointer.save(trainer, moment: .step)
        }
        // A numerical blow-up, standing in for any: the click tower's output bias becomes NaN.
        let bias = model.layout.tensor(named: "towers.0.1.bias")!
        model.parameters[bias.offset] = .nan
        let before = model.parameters.toArray()
        var caught: TrainingDiverged?
        do { try step(2) } catch let e as TrainingDiverged { caught = e }
        guard let caught else {
            Issue.record("a NaN loss did not stop training")
            return
        }
        #expect(caught.step == 3 && caught.task == "task0", "\(caught)")
        #expect(caught.lastCheckpoint?.hasSuffix("step-00000002.rhck") == true)
        #expect(caught.description.contains("step 3") && caught.description.contains("Last good checkpoint"))
        // The poisoned step applied no update, and no poisoned checkpoint can be written.
        #expect(model.parameters.toArray().elementsEqual(before) { $0 == $1 || ($0.isNaN && $1.isNaN) })
        #expect(throws: TrainingDiverged.self) { try checkpointer.save(trainer, moment: .step) }
        try CheckpointFile(path: caught.lastCheckpoint ?? "").verifyAll()
    }
}

/// A checkpoint whose stored config claims a far larger model than its sections hold (every
/// checksum recomputed): refused before anything is allocated from the claim, by evaluate's
/// loader and by a resume.
struct HostileConfigTests {
    @Test func aConfigClaimingAHugeModelIsRefusedBeforeAllocating() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-hostile-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = try ResumeTests().oneEpochCheckpoint(in: dir)
        // Rewrite the config section (JSON and its YAML alike) with expert_units: [999999].
        var json = try JSONSerialization.jsonObject(with: try good.section("config")) as! [String: Any]
        var architecture = json["architecture"] as! [String: Any]
        architecture["expertUnits"] = [999_999]
        json["architecture"] = architecture
        let yaml = json["sourceYAML"] as! String
        json["sourceYAML"] = yaml.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("expert_units:") ? "expert_units: [999999]" : String(line)
        }.joined(separator: "\n")
        #expect((json["sourceYAML"] as! String).contains("999999"), "the stored YAML lists expert_units as expected")
        let path = "\(dir)/hostile/step-00000001.rhck"
        let file = try ResumeTests.copy(good, config: json, to: path)
        try file.verifyAll()
        let (config, features) = try Checkpointer.readSetup(file)
        #expect(config.architecture.expertUnits == [999_999])
        do {
            _ = try Checkpointer.makeModel(for: file, features: features) { TrainingJob(config: config).makeModel(features: $0) }
            Issue.record("a model larger than the file was built")
        } catch let e as CheckpointError {
            #expect("\(e)".contains("dense parameters") && "\(e)".contains(path), "\(e)")
        }
        // A resume with that config (what `train --resume` reads from the newest checkpoint).
        var job = TrainingJob(config: config)
        job.log = { _ in }
        job.resumeDirectory = "\(dir)/hostile"
        #expect(throws: CheckpointError.self) { _ = try job.run() }
    }

    @Test func featuresThatDoNotFitTheEmbeddingsAreRefused() throws {
        var w = CheckpointWriter(header: CheckpointHeader(configFingerprint: 1, step: 1, epoch: 1, stepInEpoch: 0))
        let floats = [Float](repeating: 0, count: 10)
        floats.withUnsafeBufferPointer { w.add("embeddings", floats: $0.baseAddress!, count: 10) }
        let file = try CheckpointFile(data: w.encoded(), path: "x.rhck")
        for f in [Features(sparseNames: ["a"], vocabularySizes: [1_000_000_000], embeddingDim: 16, denseNames: []),
                  Features(sparseNames: ["a", "b"], vocabularySizes: [Int.max - 1, 5], embeddingDim: 2, denseNames: [])] {
            #expect(throws: CheckpointError.self) { try Checkpointer.checkFeatures(f, file: file) }
        }
        try Checkpointer.checkFeatures(Features(sparseNames: ["a"], vocabularySizes: [4], embeddingDim: 2, denseNames: []), file: file)
    }
}

/// Checkpoints written before the config's typed groups hold a flat config section: they still
/// load, from their stored YAML, and the header's fingerprint guards that YAML.
struct LegacyConfigLayoutTests {
    @Test func aFlatConfigSectionLoadsFromItsYAML() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-legacy-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = try ResumeTests().oneEpochCheckpoint(in: dir)
        let (expected, _) = try Checkpointer.readSetup(good)
        let yaml = expected.sourceYAML
        func rewritten(_ sourceYAML: String, name: String) throws -> CheckpointFile {
            // The flat layout: every setting at the top level, as the section was before.
            let flat: [String: Any] = ["model": "mmoe", "seed": 2022, "learningRate": 0.001, "batchSize": 256,
                                       "expertUnits": [16], "outputDirectory": "x", "sourceYAML": sourceYAML]
            return try ResumeTests.copy(good, config: flat, to: "\(dir)/legacy/\(name).rhck")
        }
        let (config, _) = try Checkpointer.readSetup(try rewritten(yaml, name: "flat"))
        #expect(config == expected)
        // A YAML that no longer matches the header's fingerprint (another batch size) is refused.
        let tampered = yaml.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("batch_size:") ? "batch_size: 512" : String(line)
        }.joined(separator: "\n")
        #expect(tampered != yaml)
        #expect {
            _ = try Checkpointer.readSetup(try rewritten(tampered, name: "tampered"))
        } throws: { "\($0)".contains("fingerprint") }
    }
}
