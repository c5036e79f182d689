import Foundation
import Testing

/// The `rechub` executable, run as a user would: exit codes and messages.
struct RecHubCLITests {
    /// The `rechub` built beside this test bundle (same configuration).
    static let binary: URL = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = here.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("rechub")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "rechub")
    }()

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `rechub` with this process's environment (less MPI launcher variables) plus `environment`.
    func rechub(_ args: [String], cwd: URL? = nil, environment: [String: String] = [:]) throws -> Run {
        try start(args, cwd: cwd, environment: environment).finish()
    }

    /// Starts `rechub` as `rechub(_:cwd:environment:)` does, without waiting for it.
    func start(_ args: [String], cwd: URL? = nil, environment: [String: String] = [:]) throws -> RunningRecHub {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        // A child of an MPI process must not inherit its launcher variables.
        p.environment = ProcessInfo.processInfo.environment
            .filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") && !$0.key.hasPrefix("PMI_") }
            .merging(environment) { $1 }
        return try RunningRecHub(p)
    }

    /// A started `rechub` whose output goes to files, not pipes: an MPI singleton another test
    /// starts in this process (its orted) can inherit a pipe's write end while a child runs,
    /// and then reading to end-of-file never returns.
    final class RunningRecHub {
        let process: Process
        let outURL: URL, errURL: URL
        let out: FileHandle, err: FileHandle

        init(_ p: Process) throws {
            process = p
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-out-\(UUID().uuidString)")
            outURL = base.appendingPathExtension("stdout")
            errURL = base.appendingPathExtension("stderr")
            FileManager.default.createFile(atPath: outURL.path, contents: nil)
            FileManager.default.createFile(atPath: errURL.path, contents: nil)
            out = try FileHandle(forWritingTo: outURL)
            err = try FileHandle(forWritingTo: errURL)
            p.standardOutput = out
            p.standardError = err
            try p.run()
        }

        deinit {
            if process.isRunning { process.terminate() }
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }

        /// What the child has written to its standard output so far.
        var stdoutSoFar: String { String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self) }

        /// Polls standard output until it contains `text`, the child exits, or `seconds` pass;
        /// true when the text appeared.
        func waitForOutput(containing text: String, seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if stdoutSoFar.contains(text) { return true }
                if !process.isRunning { return stdoutSoFar.contains(text) }
                usleep(50_000)
            }
            return false
        }

        /// Waits for the child to exit (killing it after `seconds`) and returns its status and output.
        func finish(seconds: Double = 600) throws -> Run {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            try out.close()
            try err.close()
            return Run(status: process.terminationStatus,
                       stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                       stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
        }
    }

    /// Trains a tiny MMoE on generated data under `dir` (`dir/data`, output `dir/out`) and
    /// returns the run and its newest checkpoint.
    func trainTinyRun(in dir: URL, rows: Int = 2000, batchSize: Int = 256, expertUnits: Int = 8,
                      extra: [String] = []) throws -> (run: Run, checkpoint: String?) {
        let sets = ["data.generate.rows=\(rows)", "data.generate.val_rows=\(rows / 6)", "data.generate.test_rows=\(rows / 6)",
                    "data.generate.scale=0.01", "data.generate.dir=\(dir.path)/data", "output_dir=\(dir.path)/out",
                    "expert_units=[\(expertUnits)]", "num_experts=2", "tower_units=[\(expertUnits / 2)]",
                    "batch_size=\(batchSize)", "threads=1"]
        let run = try rechub(["train"] + sets.flatMap { ["--set", $0] } + extra)
        let folder = dir.appendingPathComponent("out/checkpoints")
        let newest = (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?
            .filter { $0.hasSuffix(".rhck") }.sorted().last
        return (run, newest.map { folder.appendingPathComponent($0).path })
    }

    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    @Test func helpListsTheCommands() throws {
        let r = try rechub(["--help"])
        #expect(r.status == 0)
        for c in ["train", "generate", "bench"] { #expect(r.stdout.contains(c), "\(c) missing from help") }
    }

    @Test func badConfigKeyExitsNonZeroNamingFileLineAndKey() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = dir.appendingPathComponent("bad.yaml")
        try "model: mmoe\ndata:\n  train: x.csv\nnum_expert: 4\n".write(to: cfg, atomically: true, encoding: .utf8)
        let r = try rechub(["train", "--config", cfg.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad.yaml:4") && r.stderr.contains("num_expert") && r.stderr.contains("num_experts"),
                "\(r.stderr)")
        let missing = try rechub(["train", "--config", dir.appendingPathComponent("nope.yaml").path])
        #expect(missing.status == 1 && missing.stderr.contains("nope.yaml: no such config file"), "\(missing.stderr)")
        let folder = try rechub(["train", "--config", dir.path])
        #expect(folder.status == 1 && folder.stderr.contains("\(dir.path): is a folder, not a config file"), "\(folder.stderr)")
        let device = try rechub(["train", "--config", "/dev/null"])
        #expect(device.status == 1 && device.stderr.contains("/dev/null: is not a regular file"), "\(device.stderr)")
        let binary = dir.appendingPathComponent("binary.yaml"), scalar = dir.appendingPathComponent("scalar.yaml")
        try Data([0xff, 0xfe, 0x00, 0x80]).write(to: binary)
        try "just words\n".write(to: scalar, atomically: true, encoding: .utf8)
        let notText = try rechub(["train", "--config", binary.path])
        #expect(notText.status == 1 && notText.stderr.contains("binary.yaml: the config file is not UTF-8 text"), "\(notText.stderr)")
        let notMapping = try rechub(["train", "--config", scalar.path])
        #expect(notMapping.status == 1 && notMapping.stderr.contains("scalar.yaml:1: a config is a mapping of key: value"),
                "\(notMapping.stderr)")
        // A CSV given by --set on a config that generates its data turns the generation off
        // (said); a generated set given by --set on a config with its own CSVs is refused.
        let csv = try rechub(["train", "--set", "data.train=/x/train.csv", "--print-config"])
        #expect(csv.status == 0 && !csv.stdout.contains("generate") && csv.stdout.contains("/x/train.csv")
                && csv.stderr.contains("note: data.train given by --set: the config's data.generate is not used"),
                "\(csv.stdout)\(csv.stderr)")
        // A backend given by --set drops the other backend's library key (a stored MKL run
        // resumes on OpenBLAS with --set gemm_backend alone).
        let lib = dir.appendingPathComponent("lib.yaml")
        try "data: {generate: {rows: 1000}}\ngemm_backend: mkl\nmkl_library: /opt/mkl\n".write(to: lib, atomically: true, encoding: .utf8)
        let switched = try rechub(["train", "--config", lib.path, "--set", "gemm_backend=openblas", "--print-config"])
        #expect(switched.status == 0 && !switched.stdout.contains("mkl_library")
                && switched.stderr.contains("the config's mkl_library is not used"), "\(switched.stdout)\(switched.stderr)")
        // A model given by --set drops the config's keys of other models (the built-in config
        // is MMoE's), said; one given by --set too is still refused. A --set value has no line.
        let esmm = try rechub(["train", "--set", "model=esmm", "--print-config"])
        #expect(esmm.status == 0 && !esmm.stdout.contains("expert_units") && !esmm.stdout.contains("num_experts")
                && esmm.stderr.contains("note: model is esmm (--set): the config's expert_units, num_experts"),
                "\(esmm.stdout)\(esmm.stderr)")
        let both = try rechub(["train", "--set", "model=esmm", "--set", "expert_units=[8]", "--print-config"])
        #expect(both.status == 1 && both.stderr.contains("error: --set expert_units: key 'expert_units': not used by model 'esmm'"),
                "\(both.stderr)")
        // A config with its own CSVs and a generated data set: refused, naming both.
        let mixed = try rechub(["train", "--config", "Configs/mmoe_ali_ccp_sample.yaml", "--set", "data.generate.rows=1000"])
        #expect(mixed.status == 1 && mixed.stderr.contains("key 'data.generate'")
                && mixed.stderr.contains("given with data.train (../shared/data/"), "\(mixed.stderr)")
    }

    /// Settings that only the model or the data can judge are errors naming the key or file,
    /// never a trap: GradNorm on a tensor the model lacks or does not share (refused before any
    /// data is made), a model too large for the machine's memory, and a CSV with no id column.
    @Test func modelAndDataDependentSettingsAreErrors() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        for (tensor, reason) in [("foo", "is not a tensor of mmoe"), ("towers.0.0.weight", "is a task's own tensor, not shared")] {
            let r = try rechub(["train", "--set", "task_weights_strategy=gradnorm", "--set", "gradnorm_layers=[\(tensor)]",
                                "--set", "data.generate.dir=\(data.path)", "--set", "output_dir=\(dir.path)/out"])
            #expect(r.status == 1 && r.stderr.contains("key 'gradnorm_layers': '\(tensor)' \(reason); its shared weights: "
                                                       + "experts.0.weight, experts.1.weight"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("train.csv").path),
                    "data was generated before the check")
        }
        // A model too large for this machine's memory (each value in its range, the product not).
        let huge = try rechub(["train", "--set", "expert_units=[16000000]", "--set", "data.generate.rows=2000",
                               "--set", "data.generate.scale=0.01", "--set", "data.generate.dir=\(data.path)",
                               "--set", "output_dir=\(dir.path)/out"])
        #expect(huge.status == 1 && huge.stderr.contains("the model needs at least")
                && huge.stderr.contains("Lower the widths or counts (expert_units [16000000]"), "\(huge.stderr)")
        let hugeBench = try rechub(["bench", "--expert-units", "16000000", "--rows", "2000", "--scale", "0.01", "--steps", "1"])
        #expect(hugeBench.status == 1 && hugeBench.stderr.contains("the model needs at least"), "\(hugeBench.stderr)")
        let csv = dir.appendingPathComponent("dense.csv")
        try "click,purchase,D1,D2\n0,0,0.5,0.1\n1,0,0.2,0.3\n".write(to: csv, atomically: true, encoding: .utf8)
        let dense = try rechub(["train", "--set", "data.train=\(csv.path)", "--set", "output_dir=\(dir.path)/out"])
        #expect(dense.status == 1 && dense.stderr.contains("\(csv.path): no sparse (id) column among click, purchase, D1, D2"),
                "\(dense.stderr)")
    }

    @Test func malformedCSVNamesFileLineAndColumn() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("train.csv")
        try "click,purchase,101,D1\n0,0,3,0.5\n1,0,x,0.25\n".write(to: csv, atomically: true, encoding: .utf8)
        let r = try rechub(["train", "--set", "data.train=\(csv.path)", "--set", "data.generate=null",
                            "--set", "output_dir=\(dir.path)/out"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("train.csv") && r.stderr.contains("3") && r.stderr.contains("101"), "\(r.stderr)")
    }

    /// Early stopping with batch norm restores the best epoch's running statistics with its
    /// weights: the run's test metrics equal `evaluate` on `best.rhck` (they came from the best
    /// weights with the last epoch's statistics, a model never saved).
    @Test func earlyStoppingWithBatchNormReportsBestCheckpointsMetrics() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sets = ["data.generate.rows=6000", "data.generate.val_rows=2000", "data.generate.test_rows=2000",
                    "data.generate.scale=0.01", "data.generate.dir=\(dir.path)/data", "output_dir=\(dir.path)/out",
                    "expert_units=[16]", "num_experts=2", "tower_units=[8]", "batch_size=256", "threads=1",
                    "batch_norm=true", "earlystop_task=click", "earlystop_patience=1", "epochs=8",
                    "learning_rate=0.01", "seed=1"]
        let run = try rechub(["train"] + sets.flatMap { ["--set", $0] })
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("restored the best weights (epoch 3"), "\(run.stdout)")
        let one = try rechub(["evaluate", "--checkpoint", dir.path + "/out/checkpoints/best.rhck"])
        try Self.expectTestLine(of: run.stdout, equals: one.stdout + one.stderr)
    }

    /// The run's "test  click auc A logloss L  purchase auc …" line holds, per task, the figures
    /// of `evaluate`'s "click  auc A logloss L  (…)" lines.
    static func expectTestLine(of runOutput: String, equals evaluateOutput: String,
                               tasks: [String] = ["click", "purchase"]) throws {
        let reported = runOutput.split(separator: "\n").first { $0.hasPrefix("test ") }.map(String.init) ?? ""
        for task in tasks {
            let line = evaluateOutput.split(separator: "\n").first { $0.hasPrefix(task + "  auc ") }.map(String.init)
            let figures = try #require(line, "\(evaluateOutput)").split(separator: " ").dropFirst().prefix(4)
                .joined(separator: " ")
            #expect(reported.contains(task + " " + figures), "\(task): \(reported) against \(line!)")
        }
    }

    @Test func aResumeFromAFolderThatDoesNotExistSaysSo() throws {
        let missing = "/nonexistent/run-\(UUID().uuidString)"
        let r = try rechub(["train", "--resume", missing])
        #expect(r.status == 1 && r.stderr.contains("\(missing): does not exist"), "\(r.stderr)")
    }

    /// `--resume RUN --set output_dir=NEW` moves the whole continued run to NEW: its log and
    /// metrics and its new checkpoints (NEW/checkpoints); RUN keeps what it had.
    @Test func aResumeWithANewOutputDirKeepsTheWholeRunThere() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try rechub(["train"] + MPITests.settings(dir, model: "mmoe") + ["--set", "checkpoint_every=10"])
        #expect(first.status == 0, "\(first.stderr)")
        let before = try FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/out/checkpoints").sorted()
        let moved = try rechub(["train", "--resume", "\(dir.path)/out", "--set", "output_dir=\(dir.path)/next",
                                "--set", "max_steps=30"])
        #expect(moved.status == 0 && moved.stdout.contains("resumed from"), "\(moved.stdout)\(moved.stderr)")
        let next = (try? FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/next/checkpoints")) ?? []
        #expect(next.contains("step-00000030.rhck"), "\(next)")
        #expect(FileManager.default.fileExists(atPath: "\(dir.path)/next/metrics.json"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/out/checkpoints").sorted() == before,
                "the first run's checkpoints are left as they were")
    }

    /// Resuming a run that has nothing left to train says so (and only scores it), and records
    /// no products segment for steps that never ran.
    @Test func aResumeOfAFinishedRunSaysItTrainsNoStep() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try rechub(["train"] + MPITests.settings(dir, model: "mmoe") + ["--set", "checkpoint_every=10"])
        #expect(first.status == 0, "\(first.stderr)")
        let again = try rechub(["train", "--resume", "\(dir.path)/out", "--set", "threads=1"])
        #expect(again.status == 0 && again.stdout.contains("the resumed run trains no step: max_steps 20 is reached"),
                "\(again.stdout)\(again.stderr)")
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("out/run.json"))) as? [String: Any]
        #expect((info?["products_history"] as? [Any])?.count == 1, "\(String(describing: info?["products_history"]))")
        if oneDNNInstalled {  // other products asked for, but no step runs on them: run.json keeps the run's
            let other = try rechub(["train", "--resume", "\(dir.path)/out", "--set", "gemm_backend=onednn"])
            let o = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("out/run.json"))) as? [String: Any]
            #expect(other.status == 0 && o?["gemm_backend"] as? String == "openblas" && o?["precision"] as? String == "fp32"
                    && (o?["products_history"] as? [Any])?.count == 1, "\(String(describing: o))")
            // run.json is the run's record, left as it was; metrics.json names what scored.
            #expect((o?["config"] as? [String: Any])?["gemmBackend"] == nil, "\(String(describing: o?["config"]))")
            let m = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("out/metrics.json"))) as? [String: Any]
            #expect(m?["gemm_backend"] as? String == "openblas" && (m?["scored_with"] as? String)?.hasPrefix("onednn fp32") == true,
                    "\(String(describing: m))")
        }
        let zero = try rechub(["train", "--resume", "\(dir.path)/out", "--set", "epochs=0"])
        #expect(zero.status == 0 && zero.stdout.contains("the resumed run trains no step: epochs is 0"), "\(zero.stdout)")
        let more = try rechub(["train", "--resume", "\(dir.path)/out", "--set", "max_steps=22"])
        #expect(more.status == 0 && !more.stdout.contains("trains no step"), "\(more.stdout)")
    }

    /// A resume the checkpoint cannot fit (another expert shape) is refused naming the key,
    /// before any data is generated or loaded.
    @Test func anIncompatibleResumeIsRefusedBeforeTheData() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (run, checkpoint) = try trainTinyRun(in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        _ = try #require(checkpoint, "no checkpoint: \(run.stdout)")
        let fresh = dir.appendingPathComponent("fresh-data")
        let r = try rechub(["train", "--resume", dir.path + "/out", "--set", "expert_units=[12]",
                            "--set", "data.generate.dir=\(fresh.path)"])
        #expect(r.status != 0 && r.stderr.contains("expert_units: checkpoint [8], now [12]"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fresh.path), "no data generated: \(r.stdout)")
        // Another model is named alone, not the shape keys that model does not read.
        let model = try rechub(["train", "--resume", dir.path + "/out", "--set", "model=esmm",
                                "--set", "data.generate.dir=\(fresh.path)"])
        #expect(model.status != 0 && model.stderr.contains("checkpoint does not fit this run: model: checkpoint mmoe, now esmm\n"),
                "\(model.stderr)")
        // Other generated rows (another count, seed or scale) are other training data.
        for (key, value, stored) in [("rows", "3000", "2000"), ("seed", "8", "7"), ("scale", "0.02", "0.01")] {
            let d = try rechub(["train", "--resume", dir.path + "/out", "--set", "data.generate.\(key)=\(value)",
                                "--set", "data.generate.dir=\(fresh.path)"])
            #expect(d.status != 0 && d.stderr.contains("data.generate.\(key): checkpoint \(stored), now \(value)"),
                    "\(key): \(d.stderr)")
            #expect(!FileManager.default.fileExists(atPath: fresh.path), "\(key): no data generated")
        }
    }

    @Test func generateWritesSplitsAndOracle() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try rechub(["generate", "--rows", "3000", "--seed", "3", "--scale", "0.01", "--out", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        for f in ["train.csv", "val.csv", "test.csv", "truth.json"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f)")
        }
        let header = try String(contentsOf: dir.appendingPathComponent("train.csv"), encoding: .utf8).prefix(40)
        #expect(header.hasPrefix("click,purchase,101,121"))
        #expect(r.stdout.contains("oracle AUC click") && r.stdout.contains("purchase|click"))
        let bad = try rechub(["generate", "--rows", "0", "--out", dir.path])
        #expect(bad.status != 0 && bad.stderr.contains("--rows"))
        // Selection bias: recorded in truth.json, and data with other settings is not reused.
        let biased = try rechub(["generate", "--rows", "3000", "--seed", "3", "--scale", "0.01", "--selection-bias", "0.5",
                                 "--out", dir.path])
        #expect(biased.status == 0 && biased.stdout.hasPrefix("wrote"), "\(biased.stdout)\(biased.stderr)")
        let truth = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("truth.json")))
            as? [String: Any]
        #expect(truth?["selectionBias"] as? Double == 0.5)
        let tooBiased = try rechub(["generate", "--rows", "100", "--selection-bias", "1", "--out", dir.path])
        #expect(tooBiased.status != 0 && tooBiased.stderr.contains("--selection-bias"))
    }

    /// A checkpoint of the CVR-on-clicks baseline evaluates its task over clicked rows too, as
    /// training did: the mask column is read from the CSV along with the label.
    @Test func evaluateScoresASampleSpaceTaskOnItsSpace() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Configs/cvr_on_clicks.yaml")
        let train = try rechub(["train", "--config", config.path, "--set", "data.generate.rows=4000",
                                "--set", "data.generate.val_rows=2000", "--set", "data.generate.test_rows=2000",
                                "--set", "data.generate.scale=0.01", "--set", "data.generate.dir=\(dir.path)/data",
                                "--set", "output_dir=\(dir.path)/out", "--set", "hidden_units=[16]",
                                "--set", "task_hidden_units=[8]", "--set", "batch_size=256", "--set", "threads=1"])
        #expect(train.status == 0, "\(train.stderr)")
        let folder = dir.appendingPathComponent("out/checkpoints")
        let ckpt = folder.appendingPathComponent(try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".rhck") }.sorted().last!).path
        let eval = try rechub(["evaluate", "--checkpoint", ckpt])
        #expect(eval.status == 0 && eval.stdout.contains("purchase  auc")
                && eval.stdout.contains("purchase (on click = 1)  auc"), "\(eval.stdout)\(eval.stderr)")
        // The same numbers as the run's own test metrics.
        let trainTest = train.stdout.split(separator: "\n").first { $0.hasPrefix("test ") }.map(String.init) ?? ""
        let evalLine = eval.stdout.split(separator: "\n").first { $0.hasPrefix("purchase (on click = 1)") }.map(String.init) ?? "?"
        let auc = evalLine.split(separator: " ").drop { $0 != "auc" }.dropFirst().first.map(String.init) ?? "?"
        #expect(trainTest.contains("purchase (on click = 1) auc \(auc)"), "\(trainTest) vs \(evalLine)")
    }

    @Test func evaluatePredictAndInspectWorkFromACheckpointAlone() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (train, newest) = try trainTinyRun(in: dir, rows: 3000, expertUnits: 16)
        #expect(train.status == 0, "\(train.stderr)")
        let ckpt = try #require(newest)
        let eval = try rechub(["evaluate", "--checkpoint", ckpt])
        #expect(eval.status == 0 && eval.stdout.contains("click  auc") && eval.stdout.contains("purchase  auc"), "\(eval.stdout)\(eval.stderr)")
        // Predict on features only: drop the label columns.
        let test = try String(contentsOf: dir.appendingPathComponent("data/test.csv"), encoding: .utf8)
        let unlabeled = test.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).dropFirst(2).joined(separator: ",") }
        let input = dir.appendingPathComponent("in.csv")
        try (unlabeled.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.csv")
        let pred = try rechub(["predict", "--checkpoint", ckpt, "--data", input.path, "--out", out.path])
        #expect(pred.status == 0, "\(pred.stderr)")
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "click,purchase" && lines.count == 501)
        #expect(lines.dropFirst().allSatisfy { $0.split(separator: ",").compactMap { Float($0) }.allSatisfy { $0 > 0 && $0 < 1 } })
        // "-" streams the same CSV to standard output; what is said about it goes to stderr.
        let streamed = try rechub(["predict", "--checkpoint", ckpt, "--data", input.path, "--out", "-"])
        let written = try String(contentsOf: out, encoding: .utf8)
        #expect(streamed.status == 0 && streamed.stdout == written
                && streamed.stderr.contains("wrote 500 rows × 2 tasks to standard output"), "\(streamed.stderr)")
        // /dev/stdout redirected into a file with >> appends to it, as any writer's output would.
        let appended = dir.appendingPathComponent("appended.csv")
        try "EXISTING\n".write(to: appended, atomically: true, encoding: .utf8)
        let shell = try MPITests.run("/bin/sh", ["-c", "\"$0\" predict --checkpoint \"$1\" --data \"$2\" --out /dev/stdout >> \"$3\"",
                                                 Self.binary.path, ckpt, input.path, appended.path])
        let both = try String(contentsOf: appended, encoding: .utf8)
        #expect(shell.status == 0 && both == "EXISTING\n" + written, "\(shell.output)")
        // Standard output appended to the input itself is refused, and the input kept.
        let inputBytes = try Data(contentsOf: input)
        let selfAppend = try MPITests.run("/bin/sh", ["-c", "\"$0\" predict --checkpoint \"$1\" --data \"$2\" --out - >> \"$2\"",
                                                      Self.binary.path, ckpt, input.path])
        #expect(selfAppend.status != 0 && selfAppend.output.contains("is the --data file"), "\(selfAppend.output)")
        #expect(try Data(contentsOf: input) == inputBytes, "the input was changed")
        // export and report take no "-" (it would be a file named "-").
        let dash = try rechub(["export", "--checkpoint", ckpt, "--out", "-"], cwd: dir)
        #expect(dash.status != 0 && dash.stderr.contains("'-' (standard output) is not supported")
                && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("-").path), "\(dash.stderr)")
        // A FIFO is streamed into, and stays a FIFO.
        let fifo = dir.appendingPathComponent("pipe").path, drained = dir.appendingPathComponent("drained.csv").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let piped = try MPITests.run("/bin/sh", ["-c", "cat \"$0\" > \"$1\" & \"$2\" predict --checkpoint \"$3\" --data \"$4\" --out \"$0\"; wait",
                                                 fifo, drained, Self.binary.path, ckpt, input.path])
        let fromFIFO = try String(contentsOfFile: drained, encoding: .utf8)
        var st = stat()
        #expect(piped.status == 0 && fromFIFO == written && lstat(fifo, &st) == 0 && st.st_mode & S_IFMT == S_IFIFO, "\(piped.output)")
        let inspect = try rechub(["inspect", ckpt])
        #expect(inspect.status == 0 && inspect.stdout.contains("adam.m") && inspect.stdout.contains("model mmoe"))
        let runID = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("out/run.json"))) as? [String: Any])["run_id"] as? String
        #expect(inspect.stdout.contains("\nrun_id \(runID ?? "?")\n"), "\(inspect.stdout)")
        // A corrupted copy is refused, naming the section.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: ckpt))
        bytes[bytes.count - 5] ^= 0x40
        let bad = dir.appendingPathComponent("bad.rhck")
        try bytes.write(to: bad)
        let refused = try rechub(["evaluate", "--checkpoint", bad.path])
        #expect(refused.status == 1 && refused.stderr.contains("corrupt"), "\(refused.stderr)")
        // inspect lists every section, then names the corrupt one(s).
        let listed = try rechub(["inspect", bad.path])
        let lastSection = try #require(listed.stdout.split(separator: "\n").last { $0.contains("CORRUPT") })
        let name = try #require(lastSection.split(separator: " ").first)
        #expect(listed.status == 1 && listed.stderr.contains("\(bad.path): corrupt section(s): \(name) (checksum mismatch)"),
                "\(listed.stdout)\(listed.stderr)")
    }
}
