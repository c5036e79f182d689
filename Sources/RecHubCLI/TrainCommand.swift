import ArgumentParser
import Foundation
import RecHub

/// `rechub train`: one training run from a YAML config (or the built-in default).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a multi-task model from a YAML config.",
        discussion: "Without --config, runs the built-in default job (Configs/default.yaml).")

    @Option(name: .long, help: "YAML config file (see Configs/).")
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. --set epochs=2 or --set data.train=x.csv (a CSV given here turns the config's data.generate off).", valueName: "key=value"))
    var overrides: [String] = []

    @Flag(name: .long, help: "Print the config this run would use (the file or the default, or with --resume the run's stored one, with every --set applied) and exit.")
    var printConfig = false

    @Option(name: .customLong("save-parameters"), help: ArgumentHelp("Write the final parameters (rank 0) as a raw dump, for comparing runs.", valueName: "file"))
    var saveParameters: String?

    @Option(help: ArgumentHelp("Continue from the newest valid checkpoint in a run folder, a checkpoint folder, or one .rhck file: the run's stored config with --set on top, in the folder the checkpoint is in (--config instead replaces the stored config whole, output_dir included).", valueName: "dir-or-file"))
    var resume: String?

    func loadConfig() throws -> TrainConfig {
        var root: ConfigNode
        if config == nil, let resume {
            // Resume with the run's own config (overrides on top; the checkpoint's fingerprint
            // still refuses changes to the model, the data layout or the data order).
            let (file, _) = try Checkpointer.newestValid(in: resume)
            let stored = try Checkpointer.readSetup(file).0
            root = try ConfigNode.parse(yaml: stored.sourceYAML, file: "\(file.path) (stored config)")
            // The run goes on where its checkpoints are now (a run folder may have been moved or
            // copied): its checkpoint folder, and its run folder (`Checkpointer.runFolder`: the
            // folder holding `checkpoints/`, the stored output_dir for the stored checkpoint_dir,
            // else the checkpoint's own folder). A new output_dir (without a checkpoint_dir)
            // moves the whole run there, its checkpoints included.
            let overridden = Set(overrides.compactMap { $0.split(separator: "=", maxSplits: 1).first }
                .map { $0.trimmingCharacters(in: .whitespaces) })
            // Absolute, so the resumed run's checkpoints and run.json name places that hold
            // from any folder (and a copied tree's twin folders can be found from them).
            let folder = RunInfo.absolute((file.path as NSString).deletingLastPathComponent)
            if !overridden.contains("output_dir") {
                root = try root.setting("checkpoint_dir=\(Self.yamlQuoted(folder))")
                // A run folder whose run.json led to a checkpoint folder set apart is the run's
                // folder; else the checkpoint folder tells it.
                let viaRunJSON = !Checkpointer.samePlace(folder, resume)
                    && !Checkpointer.samePlace((folder as NSString).deletingLastPathComponent, resume)
                    && !resume.hasSuffix(".rhck")
                    && FileManager.default.fileExists(atPath: (resume as NSString).appendingPathComponent("run.json"))
                let runFolder = viaRunJSON ? RunInfo.absolute(resume)
                    : Checkpointer.runFolder(ofCheckpointsIn: folder, stored: stored,
                                             runID: Checkpointer.storedRunID(ofCheckpointAt: file.path))
                root = try root.setting("output_dir=\(Self.yamlQuoted(runFolder))")
                if runFolder == folder && (MPICommunicator.launcherRank ?? 0) == 0 && !printConfig {
                    FileHandle.standardError.write(Data(("note: \(file.path) is not in its run's checkpoint folder: the run "
                        + "goes on in \(folder) (its log from here on; --set output_dir=… to choose)\n").utf8))
                }
            } else if !overridden.contains("checkpoint_dir") {
                root = try root.setting("checkpoint_dir=null")
            }
            return try TrainConfig.parse(applyingOverrides(to: root))
        }
        if let config {
            var isFolder: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: config, isDirectory: &isFolder)
            guard exists && !isFolder.boolValue else {
                throw ConfigError(file: config, key: "", message: exists ? "is a folder, not a config file" : "no such config file")
            }
            let regular = (try? URL(fileURLWithPath: config).resolvingSymlinksInPath().resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile
            guard regular != false else {
                throw ConfigError(file: config, key: "", message: "is not a regular file (a device or a pipe?), not a config file")
            }
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ConfigError(file: config, key: "", message: "cannot read the config file (\(String(cString: strerror(errno))))")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(file: config, key: "", message: "the config file is not UTF-8 text")
            }
            root = try ConfigNode.parse(yaml: text, file: config)
        } else {
            root = try ConfigNode.parse(yaml: defaultConfigYAML, file: "built-in default config")
        }
        return try TrainConfig.parse(applyingOverrides(to: root))
    }

    /// `--set` on top of `root`, and what those overrides imply for keys they leave alone
    /// (each said in a note on stderr, rank 0):
    /// - a CSV given by `--set` (`data.train`, `data.val`, `data.test`) on a config that
    ///   generates its data turns the generation off (the two do not mix), unless `--set` also
    ///   sets `data.generate`;
    /// - a `gemm_backend` given by `--set` drops the other backends' library keys
    ///   (`mkl_library`, `onednn_library`) the config has, unless `--set` also sets them: a run
    ///   stored with MKL resumes on OpenBLAS or oneDNN with `--set gemm_backend=…` alone;
    /// - a `model` given by `--set` drops the config's keys that only other models read
    ///   (`expert_units` when switching MMoE to ESMM), unless `--set` also sets them.
    /// - Throws: `ConfigError` for a malformed `--set`.
    func applyingOverrides(to base: ConfigNode) throws -> ConfigNode {
        var root = base, notes: [String] = []
        for o in overrides { root = try root.setting(o) }
        let keys = Set(overrides.compactMap { $0.split(separator: "=", maxSplits: 1).first }
            .map { $0.trimmingCharacters(in: .whitespaces) })
        let csvKeys = ["data.train", "data.val", "data.test"].filter(keys.contains)
        if !csvKeys.isEmpty, root.value(at: "data.generate") != nil,
           !keys.contains(where: { $0 == "data.generate" || $0.hasPrefix("data.generate.") }) {
            root = try root.setting("data.generate=null")
            notes.append("note: \(csvKeys.joined(separator: ", ")) given by --set: the config's data.generate is not used")
        }
        if keys.contains("gemm_backend") {
            var backend = "openblas"
            if case .scalar(let b, _)? = root.value(at: "gemm_backend") { backend = b }
            for (key, owner) in [("mkl_library", "mkl"), ("onednn_library", "onednn")]
            where backend != owner && !keys.contains(key) && root.value(at: key) != nil {
                root = try root.setting("\(key)=null")
                notes.append("note: gemm_backend is \(backend) (--set): the config's \(key) is not used")
            }
        }
        if keys.contains("model") {
            // `--set model=null` is the default model.
            var name = TrainConfig().model.rawValue
            if case .scalar(let given, _)? = root.value(at: "model") { name = given }
            let kind = ModelKind(rawValue: name)
            var unused = kind.map { kind in
                TrainConfig.modelKeys.filter { !$0.value.contains(kind) && !keys.contains($0.key) }.map(\.key).sorted()
                    .filter { root.value(at: $0) != nil }
            } ?? []
            // The towers' widths are one setting under two names (SharedBottom's task_hidden_units):
            // carried over, not dropped.
            for (from, to) in [("tower_units", "task_hidden_units"), ("task_hidden_units", "tower_units")]
            where unused.contains(from) && root.value(at: to) == nil && !keys.contains(to) {
                if let widths = root.value(at: from), let kind, TrainConfig.modelKeys[to]?.contains(kind) == true {
                    root = try root.setting("\(to)=\(widths.yaml())")
                    unused.removeAll { $0 == from }
                    root = try root.setting("\(from)=null")
                    notes.append("note: model is \(name) (--set): the config's \(from) is its \(to)")
                }
            }
            for key in unused { root = try root.setting("\(key)=null") }
            if !unused.isEmpty {
                notes.append("note: model is \(name) (--set): the config's \(unused.joined(separator: ", ")) "
                             + "(other models' keys) are not used")
            }
        }
        if !notes.isEmpty && (MPICommunicator.launcherRank ?? 0) == 0 {
            FileHandle.standardError.write(Data(notes.map { $0 + "\n" }.joined().utf8))
        }
        return root
    }

    /// `text` as a YAML double-quoted scalar (a path may hold `:`, `#` or spaces).
    static func yamlQuoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    func run() throws {
        let cfg = Runtime.prepare { try loadConfig() }
        if printConfig {
            // Checked (parsed) already; printed before any MPI or BLAS start-up.
            print(cfg.sourceYAML, terminator: cfg.sourceYAML.hasSuffix("\n") ? "" : "\n")
            return
        }
        let comm = Runtime.prepare { try Runtime.communicator(blasCore: cfg.blasCore) }
        Runtime.run(comm) {
            var job = TrainingJob(config: cfg, communicator: comm)
            job.saveParametersPath = saveParameters
            job.resumeDirectory = resume
            job.handleSignals = true
            _ = try job.run()
        }
    }
}
