import Foundation
import Testing

/// OpenMPI's launcher, where installed.
let mpirunPath: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// `rechub` under `mpirun` (skipped where OpenMPI's launcher is not installed): the data-parallel
/// result against the single-process one, and a failing or killed rank ending the whole job.
@Suite(.serialized, .enabled(if: mpirunPath != nil, "mpirun not found: multi-process tests skipped"))
struct MPITests {
    static let mpirun = mpirunPath

    /// Runs `executable args` with a deadline; a child of this (MPI-initialised) test process
    /// must not inherit OMPI_*/PMIX_* variables, or its mpirun exits 1 without a word.
    static func run(_ executable: String, _ args: [String], timeout: Double = 120,
                    onStart: ((Process) -> Void)? = nil) throws -> (status: Int32, output: String, seconds: Double) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-mpi-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        let start = Date()
        try p.run()
        onStart?(p)
        while p.isRunning && Date().timeIntervalSince(start) < timeout { usleep(50_000) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: log)
        return (p.terminationStatus, output, Date().timeIntervalSince(start))
    }

    /// The repository's folder (for its Launch scripts).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    static func settings(_ dir: URL, model: String) -> [String] {
        var s = ["data.generate.rows=8000", "data.generate.val_rows=2000", "data.generate.test_rows=2000",
                 "data.generate.scale=0.01", "data.generate.dir=\(dir.path)/data", "output_dir=\(dir.path)/out",
                 "model=\(model)", "batch_size=256", "max_steps=20", "threads=1", "check_replicas_every=5"]
        switch model {
        case "mmoe": s += ["expert_units=[32,16]", "num_experts=3", "tower_units=[8]"]
        case "ple": s += ["expert_units=[16,8]", "num_experts=1", "num_shared_experts=1", "num_layers=2", "tower_units=[8]"]
        case "esmm", "aitm": s += ["expert_units=null", "num_experts=null", "tower_units=[16,8]"]
        default: s += ["expert_units=null", "num_experts=null", "tower_units=null", "hidden_units=[32,16]",
                       "task_hidden_units=[8]"]
        }
        return s.flatMap { ["--set", $0] }
    }

    static func load(_ path: String) throws -> [Float] {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        return d.dropFirst(24).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// 2 ranks × 128 rows against 1 rank × 256 after 20 Adam steps. The sums differ only in
    /// order (per-rank partial sums, then the all-reduce), a relative 1e-7 per step; Adam's
    /// normalised update keeps that at the same order: 1e-6 absolute on values ≤ 1 bounds it
    /// with margin, while one missed or doubled gradient moves parameters by ~lr = 1e-3.
    @Test(arguments: [("mmoe", "fixed"), ("shared_bottom", "fixed"), ("mmoe", "uncertainty"), ("mmoe", "gradnorm"),
                      ("shared_bottom", "metabalance"), ("esmm", "gradnorm"), ("ple", "fixed"), ("aitm", "fixed")])
    func twoRanksMatchOneRankWithTheSameGlobalBatch(model: String, strategy: String) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = RecHubCLITests.binary.path
        let settings = Self.settings(dir, model: model) + ["--set", "task_weights_strategy=\(strategy)", "--set", "monitor_every=3"]
        let (one, worst) = try Self.oneRankAgainstTwo(binary, settings, in: dir)
        #expect(worst < 1e-6, "\(model) \(strategy): max |1 rank − 2 ranks| = \(worst)")
        // The same validation and test lines: sharded scoring equals single-process scoring.
        func lines(_ s: String) -> [String] { s.split(separator: "\n").filter { $0.hasPrefix("test ") }.map(String.init) }
        #expect(!lines(one.output).isEmpty)
    }

    /// GradNorm's fast path on every step (no monitored step): the combined pass, each task's
    /// pass down to W, and the per-task W gradients all-reduced with the dense gradient before
    /// GradNorm reads their norms, so 2 ranks take the weights 1 rank takes. A large gradnorm_lr
    /// (0.5) makes the weights, and through them the parameters, sensitive to the norms; a norm
    /// read before the reduction would also split the replicas (checked every 5 steps). Dropout
    /// masks follow the global sample index; batch norm is left out (its statistics are each
    /// rank's own batch). Tolerance as above.
    /// Trains `settings` alone and under `mpirun -np 2`, each saving its final parameters, and
    /// returns the single-process run and the largest parameter difference.
    static func oneRankAgainstTwo(_ binary: String, _ settings: [String], in dir: URL) throws
        -> (one: (status: Int32, output: String), worst: Float)
    {
        let one = try run(binary, ["train"] + settings + ["--save-parameters", "\(dir.path)/one.bin"])
        #expect(one.status == 0, "\(one.output)")
        let two = try run(mpirun!, ["-np", "2", "--bind-to", "none", binary, "train"]
                          + settings + ["--save-parameters", "\(dir.path)/two.bin"])
        #expect(two.status == 0, "\(two.output)")
        #expect(two.output.contains("over 2 rank(s)"), "\(two.output)")
        // Both ranks on this machine: the gradients are summed in their shared window.
        #expect(two.output.contains("gradient all-reduce: shared memory, 2 ranks per node on 1 node\n"), "\(two.output)")
        let a = try load("\(dir.path)/one.bin"), b = try load("\(dir.path)/two.bin")
        #expect(a.count == b.count && a.count > 1000)
        var worst: Float = 0
        for i in 0..<min(a.count, b.count) { worst = max(worst, abs(a[i] - b[i])) }
        return ((one.status, one.output), worst)
    }

    /// bf16 products (oneDNN, MKL): each rank rounds its own rows' inputs as one process rounds them, and
    /// the all-reduces stay fp32, so 2 ranks differ from 1 only through fp32 summation order, as
    /// above: after 2 steps within the fp32 bound (1e-6; measured 2e-8 for PLE). bf16 rounding
    /// then magnifies those differences: a value whose fp32 sums differ by one ulp can fall on
    /// the other side of a bf16 rounding boundary and move by 2^-8 relative, and Adam turns a
    /// near-zero gradient's changed sign into ±lr. After 20 steps MMoE stays within 1e-4
    /// (measured 7e-6), ten times below one missed or doubled gradient (~lr = 1e-3); PLE with
    /// GradNorm drifts to ~5e-3 (training noise; fp32 stays within 2e-6), so it is checked at 2.
    @Test(.enabled(if: cpuRunsBF16, "no bf16 on this CPU"),
          arguments: [("mkl", "mmoe", "fixed", 20, 1e-4), ("mkl", "mmoe", "gradnorm", 20, 1e-4), ("mkl", "ple", "gradnorm", 2, 1e-6),
                      ("mkl", "shared_bottom", "metabalance", 2, 1e-6), ("mkl", "esmm", "uncertainty", 2, 1e-6),
                      ("onednn", "mmoe", "fixed", 20, 1e-4), ("onednn", "ple", "gradnorm", 2, 1e-6),
                      ("onednn", "aitm", "metabalance", 2, 1e-6)] as [(String, String, String, Int, Float)])
    func bf16TwoRanksMatchOneRank(backend: String, model: String, strategy: String, steps: Int, bound: Float) throws {
        guard backend == "mkl" ? mklInstalled : oneDNNInstalled else { return }
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let settings = Self.settings(dir, model: model)
            + ["gemm_backend=\(backend)", "precision=bf16", "task_weights_strategy=\(strategy)", "monitor_every=3", "max_steps=\(steps)"]
                .flatMap { ["--set", $0] }
        let (one, worst) = try Self.oneRankAgainstTwo(RecHubCLITests.binary.path, settings, in: dir)
        #expect(one.output.contains("products: \(backend) bf16"), "\(one.output)")
        #expect(worst < bound, "\(backend) bf16 \(model) \(strategy), \(steps) steps: max |1 rank − 2 ranks| = \(worst)")
    }

    @Test(arguments: [("mmoe", "0"), ("shared_bottom", "0"), ("ple", "0"), ("mmoe", "0.2")])
    func gradNormFastPathTwoRanksMatchOneRank(model: String, dropout: String) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = RecHubCLITests.binary.path
        let settings = Self.settings(dir, model: model)
            + ["task_weights_strategy=gradnorm", "gradnorm_lr=0.5", "monitor_every=0", "dropout=\(dropout)"]
                .flatMap { ["--set", $0] }
        let (_, worst) = try Self.oneRankAgainstTwo(binary, settings, in: dir)
        #expect(worst < 1e-6, "\(model) gradnorm dropout \(dropout): max |1 rank − 2 ranks| = \(worst)")
    }

    /// With no training step, both runs hold the same initial parameters: the sharded
    /// validation and test metrics of 2 ranks must equal the single-process ones to the digit.
    /// Three ranks on one node (more ranks than cores): the shared-memory all-reduce splits the
    /// arenas into three blocks of unequal length (the last one short), each summed by one rank
    /// over the three segments and copied into the other two. Per-task arenas too (MetaBalance,
    /// monitored steps), and the replicas are compared every 5 steps. Same bound as 2 ranks.
    @Test(arguments: [("mmoe", "fixed"), ("ple", "metabalance")])
    func threeRanksOnOneNodeMatchOneRank(model: String, strategy: String) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = RecHubCLITests.binary.path
        let settings = Self.settings(dir, model: model)
            + ["--set", "batch_size=258", "--set", "task_weights_strategy=\(strategy)", "--set", "monitor_every=3"]
        let one = try Self.run(binary, ["train"] + settings + ["--save-parameters", "\(dir.path)/one.bin"])
        #expect(one.status == 0, "\(one.output)")
        let three = try Self.run(Self.mpirun!, ["-np", "3", "--oversubscribe", "--bind-to", "none", binary, "train"]
                                 + settings + ["--save-parameters", "\(dir.path)/three.bin"], timeout: 240)
        #expect(three.status == 0, "\(three.output)")
        #expect(three.output.contains("gradient all-reduce: shared memory, 3 ranks per node on 1 node\n"), "\(three.output)")
        let a = try Self.load("\(dir.path)/one.bin"), b = try Self.load("\(dir.path)/three.bin")
        #expect(a.count == b.count && a.count > 1000)
        var worst: Float = 0
        for i in 0..<min(a.count, b.count) { worst = max(worst, abs(a[i] - b[i])) }
        #expect(worst < 1e-6, "\(model) \(strategy): max |1 rank − 3 ranks| = \(worst)")
    }

    @Test func shardedEvaluationEqualsSingleProcess() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = RecHubCLITests.binary.path
        let settings = Self.settings(dir, model: "mmoe") + ["--set", "epochs=0", "--set", "eval_batch_size=300"]
        let one = try Self.run(binary, ["train"] + settings)
        #expect(one.output.contains("note: epochs is 0: no training step; the initial parameters are scored"), "\(one.output)")
        let two = try Self.run(Self.mpirun!, ["-np", "2", "--bind-to", "none", binary, "train"] + settings)
        func testLine(_ s: String) -> String? { s.split(separator: "\n").first { $0.hasPrefix("test ") }.map(String.init) }
        #expect(testLine(one.output) != nil && testLine(one.output) == testLine(two.output), "\(one.output)\n\(two.output)")
    }

    /// With batch norm each rank keeps running statistics from its own shards; the sharded
    /// test scoring must use rank 0's, the ones the checkpoint keeps: the run's reported test
    /// metrics equal `evaluate` on its last checkpoint in one process (they differed in the
    /// third decimal when each rank scored with its own).
    @Test func batchNormTestMetricsOfTwoRanksAreTheCheckpoints() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = RecHubCLITests.binary.path
        let settings = Self.settings(dir, model: "mmoe") + ["--set", "batch_norm=true", "--set", "eval_batch_size=300"]
        let two = try Self.run(Self.mpirun!, ["-np", "2", "--bind-to", "none", binary, "train"] + settings)
        #expect(two.status == 0, "\(two.output)")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/out/checkpoints")
            .filter { $0.hasSuffix(".rhck") }.sorted()
        let last = try #require(checkpoints.last, "no checkpoint: \(two.output)")
        let one = try Self.run(binary, ["evaluate", "--checkpoint", dir.path + "/out/checkpoints/" + last,
                                        "--batch-size", "300"])
        try RecHubCLITests.expectTestLine(of: two.output, equals: one.output)
    }

    /// Under mpirun the bench compares the model's GFLOP/s, summed over the ranks, with sgemm on
    /// every rank: its fraction is that ratio (it was over one rank's sgemm, past 100 %).
    @Test func benchFractionOfSgemmCountsEveryRank() throws {
        let binary = RecHubCLITests.binary.path
        let r = try Self.run(Self.mpirun!, ["-np", "2", "--bind-to", "none", binary, "bench", "--json", "--steps", "2",
                                            "--warmup", "1", "--rows", "4096", "--scale", "0.01", "--expert-units", "32",
                                            "--num-experts", "2", "--tower-units", "8"])
        let line = try #require(r.output.split(separator: "\n").first { $0.hasPrefix("{") }, "\(r.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let model = try #require(json["model_gflops"] as? Double), sgemm = try #require(json["sgemm_gflops"] as? Double)
        #expect(json["ranks"] as? Int == 2, "\(json)")
        #expect(abs((json["fraction_of_sgemm"] as? Double ?? 0) - model / (2 * sgemm)) < 1e-9, "\(json)")
        #expect(json["gradient_reduction"] as? String == "shared memory, 2 ranks per node on 1 node", "\(json)")
    }

    /// A /dev/shm too small for the window (a container's default 64 MiB is, for large models):
    /// every rank sees it before MPI makes the window, says so, and sums through MPI_Allreduce.
    /// Touching a page past a full tmpfs used to leave both ranks spinning. Needs root for a
    /// private mount namespace with a 4 MiB /dev/shm.
    @Test func aSmallSharedMemoryFolderFallsBackToMPIAllreduce() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
              (try? Self.run("/usr/bin/unshare", ["-m", "sh", "-c", "mount -t tmpfs tmpfs /dev/shm"], timeout: 20))?.status == 0
        else {
            print("skipped: a private /dev/shm needs root, unshare and mount")
            return
        }
        let binary = RecHubCLITests.binary.path
        let bench = [Self.mpirun!, "-np", "2", "--bind-to", "none", binary, "bench", "--json", "--steps", "2", "--warmup", "1",
                     "--rows", "4096", "--scale", "0.01"].map { "'\($0)'" }.joined(separator: " ")
        let r = try Self.run("/usr/bin/unshare", ["-m", "sh", "-c", "mount -t tmpfs -o size=4m tmpfs /dev/shm && " + bench],
                             timeout: 120)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("note: gradients go through MPI_Allreduce, not shared memory: /dev/shm has 4.0 MiB free"),
                "\(r.output)")
        let line = try #require(r.output.split(separator: "\n").first { $0.hasPrefix("{") }, "\(r.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect((json["gradient_reduction"] as? String)?.hasPrefix("MPI_Allreduce (no shared window: /dev/shm has") == true,
                "\(json)")
        // The folder named in an OpenMPI config file (read through the MPI tool interface, as
        // OpenMPI reads it): without that, local rank 0 failed inside MPI_Win_allocate_shared and
        // the other rank waited there forever.
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-mca-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let small = home.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".openmpi"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        try "osc_sm_backing_directory = \(small.path)\n".write(to: home.appendingPathComponent(".openmpi/mca-params.conf"),
                                                              atomically: true, encoding: .utf8)
        let viaFile = try Self.run("/usr/bin/unshare", ["-m", "sh", "-c", "mount -t tmpfs -o size=4m tmpfs '\(small.path)' && "
                                                        + "HOME='\(home.path)' " + bench], timeout: 120)
        #expect(viaFile.status == 0, "\(viaFile.output)")
        #expect(viaFile.output.contains("not shared memory: \(small.path) has 4.0 MiB free"), "\(viaFile.output)")
    }

    /// MPICommunicator with one rank: every collective is the identity and no shared window is
    /// made (the arenas are the trainer's own memory), so the bench names no gradient reduction.
    @Test func oneRankUnderMPIRunSharesNothing() throws {
        let binary = RecHubCLITests.binary.path
        let r = try Self.run(Self.mpirun!, ["-np", "1", "--bind-to", "none", binary, "bench", "--json", "--steps", "2",
                                            "--warmup", "1", "--rows", "4096", "--scale", "0.01", "--expert-units", "32",
                                            "--num-experts", "2", "--tower-units", "8"])
        #expect(r.status == 0, "\(r.output)")
        let line = try #require(r.output.split(separator: "\n").first { $0.hasPrefix("{") }, "\(r.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(json["ranks"] as? Int == 1 && json["gradient_reduction"] is NSNull, "\(json)")
    }

    /// A one-process command under mpirun runs on rank 0 alone: its output once, and a note.
    @Test func oneProcessCommandsRunOnRankZeroAlone() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = RecHubCLITests.binary.path
        let train = try Self.run(binary, ["train"] + Self.settings(dir, model: "mmoe") + ["--set", "max_steps=2"])
        #expect(train.status == 0, "\(train.output)")
        let checkpoint = dir.path + "/out/checkpoints/step-00000002.rhck"
        let r = try Self.run(Self.mpirun!, ["-np", "2", "--bind-to", "none", binary, "evaluate", "--checkpoint", checkpoint])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.components(separatedBy: "click  auc").count == 2, "once, not per rank: \(r.output)")
        #expect(r.output.contains("note: `rechub evaluate` runs in one process: under the launcher's 2 ranks, rank 0 alone does it"),
                "\(r.output)")
    }

    @Test func aRankWithBadInputEndsTheJobNamingTheRank() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = RecHubCLITests.binary.path
        let good = ["train"] + Self.settings(dir, model: "mmoe")
        let bad = good + ["--set", "data.train=\(dir.path)/missing.csv", "--set", "data.generate=null"]
        let r = try Self.run(Self.mpirun!, ["-np", "1", binary] + good + [":", "-np", "1", binary] + bad, timeout: 60)
        #expect(r.status != 0)
        #expect(r.seconds < 30, "the job must end within seconds, took \(r.seconds)")
        #expect(r.output.contains("rank 1") && r.output.contains("missing.csv"), "\(r.output)")
    }

    @Test func aKilledRankEndsTheJob() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = RecHubCLITests.binary.path
        let args = ["-np", "2", "--bind-to", "none", binary, "train"] + Self.settings(dir, model: "mmoe")
            + ["--set", "max_steps=0", "--set", "epochs=1000"]
        let r = try Self.run(Self.mpirun!, args, timeout: 90) { p in
            // Wait for training to start, then kill -9 one rank (a child of mpirun).
            Thread.sleep(forTimeInterval: 3)
            let children = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/task/\(p.processIdentifier)/children",
                                        encoding: .utf8)) ?? ""
            if let victim = children.split(separator: " ").last.flatMap({ Int32($0) }) { kill(victim, SIGKILL) }
        }
        #expect(r.status != 0, "\(r.output)")
        #expect(r.seconds < 60, "a killed rank must end the job, not hang (took \(r.seconds) s)")
    }

    /// Ctrl-C to `Launch/single-node.sh` (SIGINT to the script, as a terminal sends it) keeps
    /// the step every rank had reached: the script passes it to mpirun as SIGUSR1, which
    /// reaches every rank as it is (SIGINT to mpirun itself would become SIGTERM and, one
    /// second later, SIGKILL). Rank 0 writes the checkpoint before any rank leaves, names it,
    /// and the job exits 1 without MPI_Abort; the checkpoint resumes.
    @Test func ctrlCToTheLaunchScriptKeepsTheStoppedStep() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = Self.repository
        let binary = RecHubCLITests.binary.path
        // A terminal's shell starts the script with no signal blocked; this test process blocks
        // most (SIGUSR1 among them), and a child inherits the mask: none blocked for the spawn.
        var none = sigset_t(), previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let r = try Self.run("/usr/bin/env", ["BINARY=\(binary)", "RANKS=2", "THREADS=1", "bash",
                                              root.appendingPathComponent("Launch/single-node.sh").path]
                             + Self.settings(dir, model: "mmoe")
                             + ["--set", "max_steps=0", "--set", "epochs=1000", "--set", "log_every=1"],
                             timeout: 120) { p in
            // Wait for training steps (the run log of rank 0), then press "Ctrl-C".
            let deadline = Date().addingTimeInterval(60)
            let trainLog = dir.appendingPathComponent("out/train_log.jsonl")
            while Date() < deadline,
                  ((try? String(contentsOf: trainLog, encoding: .utf8)) ?? "").split(separator: "\n").count < 3 {
                usleep(50_000)
            }
            kill(p.processIdentifier, SIGINT)
        }
        #expect(r.status == 1, "\(r.output)")
        #expect(r.seconds < 100, "\(r.output)")
        #expect(!r.output.contains("MPI_ABORT"), "\(r.output)")
        let stopped = try #require(r.output.split(separator: "\n").first { $0.contains("stopped by SIGUSR1 after step") },
                                   "\(r.output)")
        let words = stopped.split(separator: " ")
        let after = try #require(words.firstIndex(of: "step"), "\(stopped)")
        let step = try #require(Int(words[after + 1].dropLast()), "\(stopped)")
        let checkpoint = dir.path + "/out/checkpoints/" + String(format: "step-%08d.rhck", step)
        #expect(stopped.contains("its state is in \(checkpoint)"), "\(stopped)")
        #expect(FileManager.default.fileExists(atPath: checkpoint))
        let resumed = try Self.run(binary, ["train", "--resume", checkpoint, "--set", "max_steps=\(step + 2)"])
        #expect(resumed.status == 0 && resumed.output.contains("resumed from \(checkpoint)"), "\(resumed.output)")
    }

    /// A resume through a Launch script continues with the run's stored config: CONFIG (the
    /// config of a fresh run) is left out, with a note, instead of replacing the stored config
    /// and its folders.
    @Test func aResumeThroughALaunchScriptKeepsTheStoredConfig() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = Self.repository
        let binary = RecHubCLITests.binary.path
        let other = dir.appendingPathComponent("other.yaml")
        try "output_dir: \(dir.path)/other\nlearning_rate: 0.05\n".write(to: other, atomically: true, encoding: .utf8)
        let first = try Self.run(binary, ["train"] + Self.settings(dir, model: "mmoe") + ["--set", "max_steps=4"])
        #expect(first.status == 0, "\(first.output)")
        let resumed = try Self.run("/usr/bin/env", ["BINARY=\(binary)", "RANKS=2", "CONFIG=\(other.path)", "bash",
                                                    root.appendingPathComponent("Launch/single-node.sh").path,
                                                    "--resume", dir.path + "/out", "--set", "max_steps=6"])
        #expect(resumed.status == 0 && resumed.output.contains("note: CONFIG=\(other.path) is not used")
                && resumed.output.contains("metrics in \(dir.path)/out/metrics.json"), "\(resumed.output)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/other"))
        // Without CONFIG: the stored config, no note.
        let plain = try Self.run("/usr/bin/env", ["BINARY=\(binary)", "RANKS=2", "bash",
                                                  root.appendingPathComponent("Launch/single-node.sh").path,
                                                  "--resume", dir.path + "/out", "--set", "max_steps=8"])
        #expect(plain.status == 0 && !plain.output.contains("CONFIG")
                && plain.output.contains("metrics in \(dir.path)/out/metrics.json"), "\(plain.output)")
    }

    /// Whether this machine lets us make network namespaces (root and iproute2).
    static let canMakeNamespaces: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
            || FileManager.default.isExecutableFile(atPath: "/sbin/ip") else { return false }
        let probe = "rhprobe\(getpid())"
        let add = try? run("/bin/sh", ["-c", "ip netns add \(probe) && ip netns del \(probe)"], timeout: 20)
        return add?.status == 0
    }()

    /// Two "hosts" as network namespaces joined by veth, mpirun starting the remote rank through
    /// an `ip netns exec` agent, MPI over TCP: the same parameters as one process.
    ///
    /// With two ranks per host, the ranks of each host sum their blocks in shared memory and
    /// the two hosts' block sums meet in an MPI_Allreduce over TCP between the ranks of the
    /// same local rank; with one rank per host the gradients go through MPI_Allreduce alone.
    @Test(arguments: [1, 2])
    func twoHostsOverTCPMatchOneProcess(ranksPerHost: Int) throws {
        guard Self.canMakeNamespaces else {
            print("skipped: network namespaces need root and iproute2 (ip netns add failed)")
            return
        }
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = RecHubCLITests.binary.path
        let settings = Self.settings(dir, model: "mmoe")
        let one = try Self.run(binary, ["train"] + settings + ["--save-parameters", "\(dir.path)/one.bin"])
        #expect(one.status == 0, "\(one.output)")
        let root = Self.repository
        var env = ["BINARY=\(binary)", "HOSTS=2", "RANKS_PER_HOST=\(ranksPerHost)", "PREFIX=rht\(getpid() % 10000)",
                   "SUBNET=169.254.\(50 + Int(getpid() % 100) + 100 * (ranksPerHost - 1))"]
        env.append("PATH=\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")")
        let two = try Self.run("/usr/bin/env", env + ["bash", root.appendingPathComponent("Launch/netns-cluster.sh").path,
                                                      "train"] + settings + ["--save-parameters", "\(dir.path)/two.bin"],
                               timeout: 180)
        #expect(two.status == 0, "\(two.output)")
        #expect(two.output.contains("over \(2 * ranksPerHost) rank(s)"), "\(two.output)")
        let reduction: String = ranksPerHost == 1 ? "MPI_Allreduce (one rank per node)"
            : "shared memory, 2 ranks per node on 2 nodes, then MPI_Allreduce across nodes"
        let line = "gradient all-reduce: " + reduction + "\n"
        #expect(two.output.contains(line), "\(two.output)")
        let a = try Self.load("\(dir.path)/one.bin"), b = try Self.load("\(dir.path)/two.bin")
        #expect(a.count == b.count)
        var worst: Float = 0
        for i in 0..<min(a.count, b.count) { worst = max(worst, abs(a[i] - b[i])) }
        #expect(worst < 1e-6, "max |1 process − 2 hosts| = \(worst)")
    }
}
