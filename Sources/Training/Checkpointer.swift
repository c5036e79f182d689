import Collectives
import Foundation
import Kernels
import Layers
import Models

/// Writes and restores whole-training checkpoints (DESIGN.md §7): parameters, embeddings,
/// Adam's moments and step, the training progress (step, epoch, data position, epoch loss
/// sums, history, early-stopping state, best weights), the config and the feature schema,
/// so that a run resumes exactly and `evaluate`/`predict` work from the file alone.
///
/// Rank 0 writes; every rank calls `save` (cheap elsewhere). Files: `step-<8 digits>.rhck`
/// at step and epoch checkpoints (the newest `keepLast` kept) and `best.rhck`.
public final class Checkpointer {
    /// The folder holding the checkpoints.
    public let directory: String
    /// How many step checkpoints to keep (the best one is kept apart).
    public let keepLast: Int
    /// The run's config, stored in every checkpoint.
    public let config: TrainConfig
    /// The model's inputs, stored in every checkpoint.
    public let features: Features
    let communicator: any Communicator
    /// The run's identity (`RunInfo.runID`), stored in every checkpoint (section `run`): a
    /// fresh one for a fresh run, the checkpoint's after `restore` (a new one when the
    /// checkpoint predates identities).
    public var runID = Checkpointer.newRunID()

    /// The `run_id` a checkpoint file carries (section `run`); nil for one from before run
    /// identities or one that cannot be read.
    public static func storedRunID(ofCheckpointAt path: String) -> String? {
        guard let data = CheckpointFile.smallSection("run", ofFileAt: path),
              let stored = try? JSONDecoder().decode([String: String].self, from: data) else { return nil }
        return stored["run_id"]
    }

    /// 16 random hexadecimal digits.
    public static func newRunID() -> String {
        var g = SystemRandomNumberGenerator()
        return String(format: "%016llx", g.next() as UInt64)
    }

    /// Which products ran from which step in this run's lineage, stored in every checkpoint
    /// (section `products`) so that a resume continues the history of the checkpoint it
    /// starts from; `restore` sets it from the file (older files: their config's products).
    public var productsHistory: [RunInfo.ProductsSegment]

    /// Prepares checkpoints of a run.
    public init(directory: String, keepLast: Int, config: TrainConfig, features: Features,
                communicator: any Communicator) {
        precondition(keepLast >= 1, "keep_last must be at least 1, got \(keepLast)")
        self.directory = directory
        self.keepLast = keepLast
        self.config = config
        self.features = features
        self.communicator = communicator
        productsHistory = [.init(fromStep: 0, products: config.products)]
    }

    /// The identity of a run's model, data layout and data order: resuming needs the same.
    public static func fingerprint(config: TrainConfig, features: Features) -> UInt64 {
        let identity = identityFields(config: config, features: features)
        let text = identity.map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
        return Array(text.utf8).withUnsafeBytes { checksum64($0) }
    }

    /// The settings a resume must keep, by config key.
    static func identityFields(config c: TrainConfig, features f: Features) -> [(String, String)] {
        // Every model's shape keys, read or not (a fingerprint of one model kind compares them all).
        let a = c.architecture
        let shapes: [(String, String)] = ArchitectureConfig.modelKeyTable.filter(\.shape).map { ($0.name, "\($0.value(a))") }
        return [("model", c.model.rawValue)] + shapes +
        [("batch_norm", "\(a.batchNorm)"), ("dropout", "\(a.dropout)"), ("activation", a.activation.rawValue),
         ("embedding_dim", "\(a.embeddingDim)"), ("data.labels", "\(c.data.labels)"),
         ("task_types", "\(a.taskTypes ?? [])"), ("seed", "\(c.seed)"), ("batch_size", "\(c.schedule.batchSize)"),
         ("task_weights_strategy", c.weighting.strategy.rawValue),
         ("data.sparse", "\(f.sparseNames)"), ("data.vocabulary_sizes", "\(f.vocabularySizes)"),
         ("data.dense", "\(f.denseNames)")] + (c.schedule.dropLast ? [("drop_last", "true")] : [])
    }

    /// Resumes `trainer` from the newest valid checkpoint in `directory` (the checkpoint
    /// folder, or a run's output folder holding `checkpoints/`), on every rank: rank 0 reads
    /// and restores it (naming each corrupt one it skips through `log`), tells the others
    /// whether it could, and broadcasts the restored state so every replica starts alike.
    /// - Throws: rank 0's `CheckpointError` (no valid checkpoint, or one that disagrees with
    ///   this run); on the other ranks `CheckpointError.io` saying rank 0 could not resume;
    ///   `CommunicatorError` from the broadcasts.
    /// - Returns: on rank 0 the checkpoint file resumed from; nil on the other ranks.
    @discardableResult
    public func resume(from directory: String, into trainer: MTLTrainer, log: (String) -> Void) throws -> String? {
        var ok: Int64 = 1
        var failure: Error?
        var resumed: String?
        if communicator.isRoot {
            do {
                let (file, rejected) = try Self.newestValid(in: directory)
                for r in rejected { log("skipping checkpoint: \(r)") }
                try restore(file, into: trainer)
                resumed = file.path
                let p = trainer.progress
                log("resumed from \(file.path): step \(p.globalStep), epoch \(p.epoch), step \(p.stepInEpoch) of the epoch")
            } catch {
                ok = 0
                failure = error
            }
        }
        try withUnsafeMutablePointer(to: &ok) { try communicator.broadcast(bytes: $0, count: 8, root: 0) }
        if let failure { throw failure }
        if ok == 0 { throw CheckpointError.io(file: directory, reason: "rank 0 could not resume (see its error)") }
        try trainer.broadcastState()
        return resumed
    }

    /// Writes a checkpoint of `trainer` now (rank 0) and returns its path (nil on other ranks).
    /// - Throws: `TrainingDiverged` when a parameter or embedding value is not finite;
    ///   `CheckpointError.io` when the folder or the file cannot be written; what `encode` throws.
    @discardableResult
    public func save(_ trainer: MTLTrainer, moment: CheckpointMoment) throws -> String? {
        guard communicator.isRoot else { return nil }
        let model = trainer.model
        for buffer in [model.parameters, model.embeddings.weights] {
            for i in 0..<buffer.count where !buffer.base[i].isFinite {
                throw TrainingDiverged(step: trainer.globalStep, task: "(parameters)", loss: Double(buffer.base[i]),
                                       lastCheckpoint: trainer.lastCheckpoint)
            }
        }
        if let reason = OutputPlaces.problem(.init(key: "checkpoint_dir", path: directory, isFolder: true)) {
            throw CheckpointError.io(file: directory, reason: "cannot write a checkpoint: \(reason)")
        }
        let name = moment == .best ? "best.rhck" : String(format: "step-%08d.rhck", trainer.globalStep)
        let path = (directory as NSString).appendingPathComponent(name)
        var w = try Self.encode(trainer, config: config, features: features)
        let json = JSONEncoder()
        json.outputFormatting = [.sortedKeys]
        w.add("products", try json.encode(productsHistory))
        w.add("run", try json.encode(["run_id": runID]))
        try w.write(to: path)
        if moment != .best {
            trainer.lastCheckpoint = path
            try prune()
        }
        return path
    }

    /// Builds the checkpoint of `trainer`'s current state.
    /// - Throws: `EncodingError` when the config, features, progress or task-weighting state
    ///   cannot be encoded as JSON (a non-finite number in them).
    public static func encode(_ trainer: MTLTrainer, config: TrainConfig, features: Features) throws -> CheckpointWriter {
        let model = trainer.model, adam = trainer.optimizer, p = trainer.progress
        var w = CheckpointWriter(header: CheckpointHeader(
            configFingerprint: fingerprint(config: config, features: features), step: UInt64(p.globalStep),
            epoch: UInt64(p.epoch), stepInEpoch: UInt64(p.stepInEpoch)))
        let json = JSONEncoder()
        json.outputFormatting = [.sortedKeys]
        w.add("config", try json.encode(config))
        w.add("features", try json.encode(features))
        w.add("progress", try json.encode(p))
        w.add("params", floats: model.parameters.base, count: model.parameters.count)
        w.add("embeddings", floats: model.embeddings.weights.base, count: model.embeddings.weights.count)
        var step = Int64(adam.step).littleEndian
        w.add("adam.step", Data(bytes: &step, count: 8))
        w.add("adam.m", floats: adam.m.base, count: adam.m.count)
        w.add("adam.v", floats: adam.v.base, count: adam.v.count)
        w.add("adam.emb_m", floats: adam.embeddingM.base, count: adam.embeddingM.count)
        w.add("adam.emb_v", floats: adam.embeddingV.base, count: adam.embeddingV.count)
        w.add("weighting", try json.encode(trainer.taskWeighting.state))
        w.add("model.state", floats: model.context.state.base, count: model.context.state.count)
        if let best = trainer.bestWeights {
            w.add("best.params", floats: best.parameters.base, count: best.parameters.count)
            w.add("best.embeddings", floats: best.embeddings.base, count: best.embeddings.count)
            w.add("best.state", floats: best.state.base, count: best.state.count)
        }
        return w
    }

    /// Moves the checkpoints an earlier run left in the folder (`*.rhck`) into
    /// `earlier-<UTC time>/` beside them, before a fresh run writes its own: nothing saved is
    /// lost, `keep_last` never counts them (their higher steps pruned the new run's files), and
    /// `--resume` never picks them. Returns the folder they went to, or nil when there were none.
    /// - Throws: `CheckpointError.io` naming the folder when they cannot be moved.
    public func setAsideEarlierRun() throws -> String? {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".rhck") }.sorted()
        guard !names.isEmpty else { return nil }
        let target = try TrainingJob.freshFolder(named: "earlier", in: directory)
        try TrainingJob.transfer(names, from: directory, to: target, file: directory,
                                 failure: "cannot set an earlier run's checkpoints aside")
        return target
    }

    /// Deletes this run's step checkpoints beyond its newest `keepLast` (another run's, which
    /// carry another `run_id`, are never counted or touched), and temporaries left by a writer
    /// that was killed mid-write (never valid checkpoints): those whose process is gone and
    /// that have not been written to for a minute (a writer on another machine sharing the
    /// folder may have the same process number as none here).
    func prune() throws {
        let fm = FileManager.default
        let files = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
        for stale in files where stale.contains(".rhck.tmp-") {
            let path = (directory as NSString).appendingPathComponent(stale)
            guard let pid = Int32(stale.split(separator: "-").last ?? ""), pid != getpid() else { continue }
            let alive = kill(pid, 0) == 0 || errno == EPERM
            let age = (try? fm.attributesOfItem(atPath: path)[.modificationDate] as? Date).map { -$0.timeIntervalSinceNow } ?? 0
            if !alive && age > 60 { try? fm.removeItem(atPath: path) }
        }
        let steps = files.filter { $0.hasPrefix("step-") && $0.hasSuffix(".rhck") }.sorted()
            .filter { name in Self.storedRunID(ofCheckpointAt: (directory as NSString).appendingPathComponent(name)).map { $0 == runID } ?? true }
        for old in steps.dropLast(keepLast) {
            try? fm.removeItem(atPath: (directory as NSString).appendingPathComponent(old))
        }
    }

    /// The config and features stored in a checkpoint. The config is validated as any config
    /// file is (re-parsed from its stored YAML, which must agree with the stored settings), and
    /// the features must describe embedding tables of exactly the stored size.
    /// - Throws: `CheckpointError.badSection` naming `config` or `features` and what is wrong.
    public static func readSetup(_ file: CheckpointFile) throws -> (TrainConfig, Features) {
        /// The stored config's YAML alone, present in every layout of the config section.
        struct StoredYAML: Decodable { var sourceYAML: String? }
        var stored: TrainConfig?, yaml = "", features: Features
        do {
            let section = try file.section("config")
            // A checkpoint from before the config's typed groups has a flat config section: its
            // YAML is read instead, and the header's fingerprint stands in for the comparison.
            stored = try? JSONDecoder().decode(TrainConfig.self, from: section)
            yaml = try stored?.sourceYAML ?? JSONDecoder().decode(StoredYAML.self, from: section).sourceYAML ?? ""
            features = try JSONDecoder().decode(Features.self, from: try file.section("features"))
        } catch let e as CheckpointError {
            throw e
        } catch {
            throw CheckpointError.badSection(file: file.path, section: "config", reason: "cannot decode: \(error)")
        }
        guard !yaml.isEmpty else {
            guard let stored else {
                throw CheckpointError.badSection(file: file.path, section: "config", reason: "neither a config nor its YAML")
            }
            try checkFeatures(features, file: file)
            return (stored, features)
        }
        let parsed: TrainConfig
        do {
            parsed = try TrainConfig.parse(try ConfigNode.parse(yaml: yaml, file: "\(file.path) (stored config)"))
        } catch {
            throw CheckpointError.badSection(file: file.path, section: "config", reason: "\(error)")
        }
        if let stored {
            let a = identityFields(config: parsed, features: features), b = identityFields(config: stored, features: features)
            if let d = zip(a, b).first(where: { $0.0.1 != $0.1.1 }) {
                throw CheckpointError.badSection(file: file.path, section: "config",
                                                 reason: "its settings disagree with its YAML at \(d.0.0)")
            }
        } else if file.header.configFingerprint != fingerprint(config: parsed, features: features) {
            throw CheckpointError.badSection(file: file.path, section: "config",
                                             reason: "its YAML does not match the header's fingerprint")
        }
        try checkFeatures(features, file: file)
        return (parsed, features)
    }

    /// The stored features describe embedding tables of exactly the stored size (one extra
    /// out-of-vocabulary row per field), computed without overflow and before any allocation.
    static func checkFeatures(_ f: Features, file: CheckpointFile) throws {
        func bad(_ reason: String) -> CheckpointError { .badSection(file: file.path, section: "features", reason: reason) }
        guard f.numSparse > 0, f.embeddingDim > 0, f.embeddingDim <= 1 << 16,
              f.vocabularySizes.count == f.numSparse, f.vocabularySizes.allSatisfy({ $0 >= 0 }) else {
            throw bad("fields, vocabulary sizes or embedding width out of range")
        }
        var rows = 0
        for v in f.vocabularySizes {
            let (r, o) = rows.addingReportingOverflow(v + 1)
            guard !o, r < Int(Int32.max) else { throw bad("more embedding rows than an Int32 can index") }
            rows = r
        }
        let stored = file.sections.first { $0.name == "embeddings" }?.length ?? 0
        let (values, o) = rows.multipliedReportingOverflow(by: f.embeddingDim)
        guard !o, values.multipliedReportingOverflow(by: 4).partialValue == stored, values <= Int.max / 4 else {
            throw bad("they describe \(rows) × \(f.embeddingDim) embedding values; the file holds \(stored / 4)")
        }
    }

    /// Builds the model `config` and `features` describe (with `build`) without allocating more
    /// than `file`'s parameter section holds, and checks its parameter and state sizes against
    /// the file before anything is read into it.
    /// - Throws: `CheckpointError.badSection` naming `features` when they do not describe the
    ///   stored embeddings; `CheckpointError.incompatible` naming the sizes.
    public static func makeModel(for file: CheckpointFile, features: Features,
                                 build: (Features) -> any MultiTaskModel) throws -> any MultiTaskModel {
        try checkFeatures(features, file: file)
        let params = (file.sections.first { $0.name == "params" }?.length ?? 0) / 4
        let state = (file.sections.first { $0.name == "model.state" }?.length ?? 0) / 4
        let model = ForwardContext.$allocationLimit.withValue(max(params, state)) { build(features) }
        guard !model.context.isOversized, model.layout.count == params, model.context.state.count == state else {
            throw CheckpointError.incompatible(
                file: file.path, reason: "its config describes \(model.layout.count) dense parameters and "
                + "\(model.layout.stateCount) state values; the file holds \(params) and \(state)")
        }
        return model
    }

    /// Loads the parameters and embeddings of a checkpoint into `model` (sizes checked first).
    /// - Throws: `CheckpointError.missingSection`, or `.badSection` naming the section (wrong
    ///   length, checksum mismatch or a non-finite value).
    public static func loadWeights(_ file: CheckpointFile, into model: any MultiTaskModel) throws {
        try file.read("params", floats: model.parameters.base, count: model.parameters.count)
        try file.read("embeddings", floats: model.embeddings.weights.base, count: model.embeddings.weights.count)
        try file.read("model.state", floats: model.context.state.base, count: model.context.state.count)
    }

    /// Why `file` does not fit a run of `config` over `features`: the settings that differ, by key.
    /// - Throws: `CheckpointError` when the file's own setup cannot be read.
    public static func mismatch(_ file: CheckpointFile, config: TrainConfig, features: Features) throws -> CheckpointError {
        let (stored, storedFeatures) = try readSetup(file)
        let diffs = differences(now: identityFields(config: config, features: features),
                                then: identityFields(config: stored, features: storedFeatures))
        return .incompatible(file: file.path, reason: diffs.isEmpty ? "fingerprint differs" : diffs.joined(separator: "; "))
    }

    /// The run folder (`output_dir`) of the checkpoints in `folder`, made by a run with config
    /// `stored`: the folder holding it when it is a `checkpoints` folder; the stored `output_dir`
    /// when it is the stored run's own `checkpoint_dir` (set apart from the run folder); else
    /// `folder` itself (a lone copied checkpoint, an `earlier-…` folder set aside): a run
    /// resumed from there keeps its log beside those checkpoints, never in a run folder that
    /// may hold another run by now.
    /// Relative stored paths are taken from the folder the stored run started in
    /// (`startFolder`), so a resume started from any folder finds the same run folder.
    ///
    /// A checkpoint folder set apart that was copied or moved together with its run folder
    /// (both inside one copied tree) finds that copy: the folder standing where the stored
    /// `output_dir` stood from the stored `checkpoint_dir`, when its run.json names `runID`.
    public static func runFolder(ofCheckpointsIn folder: String, stored: TrainConfig, runID: String? = nil) -> String {
        if (folder as NSString).lastPathComponent == "checkpoints" { return (folder as NSString).deletingLastPathComponent }
        let output = stored.logging.outputDirectory
        let storedCheckpoints = stored.checkpointing.directory ?? (output as NSString).appendingPathComponent("checkpoints")
        if storedCheckpoints.hasPrefix("/") {
            if samePlace(folder, storedCheckpoints) { return output }
            guard output.hasPrefix("/"), let runID else { return folder }
            let twin = RunInfo.absolute((folder as NSString).appendingPathComponent(relativePath(from: storedCheckpoints, to: output)))
            // The twin is a copy only when it is not the run's own folder (a checkpoint copied
            // out of its run maps back onto that run, which goes on without it).
            return !samePlace(twin, output) && RunInfo.storedRunID(inDirectory: twin) == runID ? twin : folder
        }
        guard let start = startFolder(of: folder, relative: storedCheckpoints) else { return folder }
        return output.hasPrefix("/") ? output : RunInfo.absolute((start as NSString).appendingPathComponent(output))
    }

    /// The relative path from folder `from` to `to` (both absolute): "../../runs/x" from
    /// "/a/ck/x" to "/a/runs/x".
    static func relativePath(from: String, to: String) -> String {
        let a = URL(fileURLWithPath: from).standardizedFileURL.pathComponents
        let b = URL(fileURLWithPath: to).standardizedFileURL.pathComponents
        var common = 0
        while common < min(a.count, b.count) && a[common] == b[common] { common += 1 }
        let parts = Array(repeating: "..", count: a.count - common) + b[common...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// The folder a run started in, when `place` (a folder it made) is what its relative path
    /// `relative` named from there: `place` made absolute, less `relative`'s parts at its end;
    /// nil when it does not end so.
    static func startFolder(of place: String, relative: String) -> String? {
        let tail = URL(fileURLWithPath: relative, relativeTo: URL(fileURLWithPath: "/")).standardizedFileURL.path
        let here = RunInfo.absolute(place)
        guard tail != "/", here.hasSuffix(tail) else { return nil }
        let start = String(here.dropLast(tail.count))
        return start.isEmpty ? "/" : start
    }

    /// Whether two paths name the same place (after `..`, `.` and symbolic links).
    public static func samePlace(_ a: String, _ b: String) -> Bool {
        func resolved(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        return resolved(a) == resolved(b)
    }

    /// "key: checkpoint A, now B" for each identity field that differs; when `model` differs,
    /// the model's shape keys are left out (another model reads others, so theirs differ anyway).
    static func differences(now: [(String, String)], then: [(String, String)]) -> [String] {
        let all = zip(now, then).filter { $0.1 != $1.1 }
        let shapes = Set(ArchitectureConfig.modelKeyTable.map(\.name))
        let shown = all.contains { $0.0.0 == "model" } ? all.filter { !shapes.contains($0.0.0) } : all
        return shown.map { "\($0.0): checkpoint \($1.1), now \($0.1)" }
    }

    /// Before any data is generated or loaded (rank 0): refuses resuming from `directory` (as
    /// `newestValid` reads it) when the newest valid checkpoint was made with other settings
    /// that do not depend on the data (model, shapes, batch, seed, labels, strategy), naming
    /// them, as `restore` would after the data. The data's own fields are checked there.
    /// - Throws: `CheckpointError.incompatible` naming the settings; what `newestValid` and
    ///   `readSetup` throw.
    ///
    /// Generated training data is compared by its settings too (rows, seed, scale, rates,
    /// selection bias): other settings give other rows, which the fingerprint sees only
    /// when they change the vocabularies, and another number of rows another data order.
    public static func checkSettingsBeforeData(resume directory: String, config: TrainConfig) throws {
        let (file, _) = try newestValid(in: directory)
        let (stored, storedFeatures) = try readSetup(file)
        let diffs = differences(now: identityFields(config: config, features: storedFeatures)
                                    + generatedDataFields(config.data.generate),
                                then: identityFields(config: stored, features: storedFeatures)
                                    + generatedDataFields(stored.data.generate))
        if !diffs.isEmpty { throw CheckpointError.incompatible(file: file.path, reason: diffs.joined(separator: "; ")) }
    }

    /// The settings that decide generated training rows, by config key ("none" when not generated).
    static func generatedDataFields(_ g: GenerateConfig?) -> [(String, String)] {
        let none = "none"
        return [("data.generate.rows", g.map { "\($0.trainRows)" } ?? none),
                ("data.generate.seed", g.map { "\($0.seed)" } ?? none),
                ("data.generate.scale", g.map { "\($0.scale)" } ?? none),
                ("data.generate.click_rate", g.map { "\($0.clickRate)" } ?? none),
                ("data.generate.purchase_rate", g.map { "\($0.purchaseRateGivenClick)" } ?? none),
                ("data.generate.selection_bias", g.map { "\($0.selectionBias)" } ?? none)]
    }

    /// Restores everything a resume needs into `trainer` (rank 0 reads; the caller then
    /// broadcasts with `MTLTrainer.broadcastState`). Refuses a checkpoint of another run,
    /// naming the settings that differ.
    /// - Throws: `CheckpointError.incompatible` naming the differing settings (or what `mismatch`
    ///   throws); `.missingSection` or `.badSection` naming a section that is absent, corrupt or
    ///   cannot be decoded.
    public func restore(_ file: CheckpointFile, into trainer: MTLTrainer) throws {
        if file.header.configFingerprint != Self.fingerprint(config: config, features: features) {
            throw try Self.mismatch(file, config: config, features: features)
        }
        let model = trainer.model, adam = trainer.optimizer
        if file.has("run") {
            do {
                let stored = try JSONDecoder().decode([String: String].self, from: try file.section("run"))
                guard let id = stored["run_id"], !id.isEmpty else {
                    throw CheckpointError.badSection(file: file.path, section: "run", reason: "no run_id")
                }
                runID = id
            } catch let e as CheckpointError {
                throw e
            } catch {
                throw CheckpointError.badSection(file: file.path, section: "run", reason: "cannot decode: \(error)")
            }
        }
        try Self.loadWeights(file, into: model)
        let stepBytes = try file.section("adam.step", expectedLength: 8)
        adam.step = Int(Int64(littleEndian: stepBytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
        try file.read("adam.m", floats: adam.m.base, count: adam.m.count)
        try file.read("adam.v", floats: adam.v.base, count: adam.v.count)
        try file.read("adam.emb_m", floats: adam.embeddingM.base, count: adam.embeddingM.count)
        try file.read("adam.emb_v", floats: adam.embeddingV.base, count: adam.embeddingV.count)
        do {
            trainer.progress = try JSONDecoder().decode(TrainingProgress.self, from: try file.section("progress"))
        } catch let e as CheckpointError {
            throw e
        } catch {
            throw CheckpointError.badSection(file: file.path, section: "progress", reason: "cannot decode: \(error)")
        }
        do {
            trainer.taskWeighting.restore(try JSONDecoder().decode(TaskWeightingState.self, from: try file.section("weighting")))
        } catch let e as CheckpointError {
            throw e
        } catch {
            throw CheckpointError.badSection(file: file.path, section: "weighting", reason: "cannot decode: \(error)")
        }
        if file.has("best.params") {
            let best = (FloatBuffer(count: model.parameters.count), FloatBuffer(count: model.embeddings.weights.count),
                        FloatBuffer(count: model.context.state.count))
            try file.read("best.params", floats: best.0.base, count: best.0.count)
            try file.read("best.embeddings", floats: best.1.base, count: best.1.count)
            // Checkpoints before best.state: the best epoch's statistics were not kept; the
            // current ones are the closest there is.
            if file.has("best.state") {
                try file.read("best.state", floats: best.2.base, count: best.2.count)
            } else {
                best.2.copy(from: model.context.state)
            }
            trainer.setBestWeights(parameters: best.0, embeddings: best.1, state: best.2)
        }
        productsHistory = Self.productsHistory(file)
        trainer.lastCheckpoint = file.path
    }

    /// The products history `file` carries (section `products`), else one segment of its
    /// stored config's products (checkpoints from before the section).
    static func productsHistory(_ file: CheckpointFile) -> [RunInfo.ProductsSegment] {
        if file.has("products"), let data = try? file.section("products"),
           let h = try? JSONDecoder().decode([RunInfo.ProductsSegment].self, from: data), !h.isEmpty {
            return h
        }
        let stored = (try? readSetup(file).0)?.products ?? "openblas fp32"
        return [.init(fromStep: 0, products: stored)]
    }

    /// The newest checkpoint in `directory` whose every section checks out; corrupt ones are
    /// skipped (and named in `rejected`), so a resume falls back to the previous good one.
    /// `directory` may also be a run's `output_dir`: when it holds no checkpoint but has a
    /// `checkpoints` folder (the default `checkpoint_dir`), that folder is searched; when it has
    /// neither but its run.json names a `checkpoint_dir` elsewhere, that one; or one
    /// checkpoint file, which is then the one (e.g. `best.rhck`).
    /// - Throws: `CheckpointError.io` when the folder cannot be listed;
    ///   `CheckpointError.noValidCheckpoint` listing why each candidate was rejected; for a file,
    ///   what `CheckpointFile` finds wrong with it.
    public static func newestValid(in directory: String) throws -> (file: CheckpointFile, rejected: [String]) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder), !isFolder.boolValue {
            // One checkpoint file named: that one (e.g. best.rhck), checked whole.
            let f = try CheckpointFile(path: directory)
            try f.verifyAll()
            return (f, [])
        }
        let inner = (directory as NSString).appendingPathComponent("checkpoints")
        if let names = try? FileManager.default.contentsOfDirectory(atPath: directory),
           !names.contains(where: { $0.hasSuffix(".rhck") }), names.contains("checkpoints") {
            return try newestValid(in: inner)
        }
        guard FileManager.default.fileExists(atPath: directory) else {
            throw CheckpointError.io(file: directory, reason: "does not exist (give a run's output_dir, its checkpoints "
                                     + "folder or one .rhck file)")
        }
        // A run folder whose checkpoint_dir was set apart: its run.json says where.
        if let names = try? FileManager.default.contentsOfDirectory(atPath: directory),
           !names.contains(where: { $0.hasSuffix(".rhck") }), !names.contains("checkpoints"),
           var apart = storedCheckpointDirectory(ofRunIn: directory), !samePlace(apart, directory) {
            // A run folder copied or moved (run.json names another output_dir): its own
            // checkpoint folder stands where the stored one stood from the stored run folder.
            if let output = storedOutputDirectory(ofRunIn: directory), output.hasPrefix("/"), apart.hasPrefix("/"),
               !samePlace(output, directory) {
                let twin = RunInfo.absolute((directory as NSString).appendingPathComponent(relativePath(from: output, to: apart)))
                let id = RunInfo.storedRunID(inDirectory: directory)
                if FileManager.default.fileExists(atPath: twin) {
                    apart = twin
                } else if FileManager.default.fileExists(atPath: (output as NSString).appendingPathComponent("run.json")),
                          id == nil || RunInfo.storedRunID(inDirectory: output) == id {
                    throw CheckpointError.io(file: directory, reason: "is a copy of the run in \(output), without its checkpoints: "
                        + "they would be in \(twin), which does not exist. The original's are in \(apart): "
                        + "--resume \(output) continues the original run; to continue this copy, copy them to \(twin) first")
                }
            }
            guard FileManager.default.fileExists(atPath: apart) else {
                throw CheckpointError.io(file: directory, reason: "holds no checkpoint, and the checkpoint_dir its run.json "
                                         + "names, \(apart), does not exist (moved? give --resume its new place)")
            }
            let found = try newestValid(in: apart)
            // The folder run.json names may hold another run's checkpoints by now (reused, or a
            // relative path met from elsewhere): only this run's own are taken.
            if let mine = RunInfo.storedRunID(inDirectory: directory), let theirs = storedRunID(ofCheckpointAt: found.file.path),
               mine != theirs {
                // Where this run's own went: a run started there later set them aside.
                let fm = FileManager.default
                let aside = ((try? fm.contentsOfDirectory(atPath: apart)) ?? []).filter { $0.hasPrefix("earlier-") }.sorted()
                    .map { (apart as NSString).appendingPathComponent($0) }
                    .filter { folder in
                        ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).contains {
                            $0.hasSuffix(".rhck") && storedRunID(ofCheckpointAt: (folder as NSString).appendingPathComponent($0)) == mine
                        }
                    }
                let hint = aside.last.map { "; this run's checkpoints were set aside to \($0): --resume \($0) continues it" }
                    ?? "; this run's own checkpoints are not there any more"
                throw CheckpointError.io(file: directory, reason: "holds no checkpoint, and the newest in the checkpoint_dir "
                                         + "its run.json names, \(found.file.path), belongs to another run (run_id \(theirs), "
                                         + "not \(mine))" + hint)
            }
            return found
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw CheckpointError.io(file: directory, reason: "cannot list the checkpoint folder: \(error.localizedDescription)")
        }
        var candidates: [(UInt64, Bool, String)] = []
        var rejected: [String] = []
        for name in names where name.hasSuffix(".rhck") {
            let path = (directory as NSString).appendingPathComponent(name)
            do {
                let f = try CheckpointFile(path: path)
                candidates.append((f.header.step, name.hasPrefix("step-"), path))
            } catch {
                rejected.append("\(error)")
            }
        }
        // Newest step first; at equal steps prefer a step checkpoint over best.rhck.
        for (_, _, path) in candidates.sorted(by: { ($0.0, $0.1 ? 1 : 0) > ($1.0, $1.1 ? 1 : 0) }) {
            do {
                let f = try CheckpointFile(path: path)
                try f.verifyAll()
                return (f, rejected)
            } catch {
                rejected.append("\(error)")
            }
        }
        throw CheckpointError.noValidCheckpoint(directory: directory, rejected: rejected)
    }

    /// The `output_dir` stored in the run.json of `directory` (where the run was when it wrote
    /// it); nil without a readable one.
    static func storedOutputDirectory(ofRunIn directory: String) -> String? {
        let path = (directory as NSString).appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let logging = (root["config"] as? [String: Any])?["logging"] as? [String: Any],
              let stored = logging["outputDirectory"] as? String, !stored.isEmpty else { return nil }
        return stored
    }

    /// The `checkpoint_dir` stored in the run.json of `directory`; nil without a readable
    /// run.json that has one. run.json stores it absolute; a relative one (a run.json written
    /// before that) is taken from the folder the run started in when the stored `output_dir`
    /// tells it (`directory` ending in a relative `output_dir`), else from the current folder.
    static func storedCheckpointDirectory(ofRunIn directory: String) -> String? {
        let path = (directory as NSString).appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let config = root["config"] as? [String: Any],
              let checkpointing = config["checkpointing"] as? [String: Any],
              let stored = checkpointing["directory"] as? String, !stored.isEmpty else { return nil }
        guard !stored.hasPrefix("/") else { return stored }
        if let output = (config["logging"] as? [String: Any])?["outputDirectory"] as? String, !output.hasPrefix("/"),
           let start = startFolder(of: directory, relative: output) {
            return RunInfo.absolute((start as NSString).appendingPathComponent(stored))
        }
        return stored
    }
}
