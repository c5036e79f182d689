import Foundation
import Testing

/// Every way a run ends keeps its final state: reaching max_steps (mid-epoch, between two
/// checkpoint_every moments) and SIGTERM (the step finishes, a checkpoint is written, the exit
/// status is non-zero, and the run resumes from it).
@Suite(.serialized) struct StopCLITests {
    let cli = RecHubCLITests()

    func trainArgs(_ dir: URL, rows: Int = 6000, _ extra: [String] = []) -> [String] {
        ["train", "--set", "data.generate.rows=\(rows)", "--set", "data.generate.val_rows=500",
         "--set", "data.generate.test_rows=500", "--set", "data.generate.scale=0.01",
         "--set", "data.generate.dir=\(dir.path)/data", "--set", "output_dir=\(dir.path)/out",
         "--set", "expert_units=[16]", "--set", "num_experts=2", "--set", "tower_units=[8]",
         "--set", "batch_size=64", "--set", "threads=1"] + extra
    }

    func checkpoints(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/out/checkpoints")) ?? []).sorted()
    }

    @Test func maxStepsMidEpochWritesTheLastStep() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try cli.rechub(trainArgs(dir, ["--set", "max_steps=20", "--set", "checkpoint_every=7"]))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(checkpoints(dir) == ["step-00000007.rhck", "step-00000014.rhck", "step-00000020.rhck"])
        let ten = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: ten) }
        let r10 = try cli.rechub(trainArgs(ten, ["--set", "max_steps=10"]))
        #expect(r10.status == 0, "\(r10.stderr)")
        #expect(checkpoints(ten) == ["step-00000010.rhck"])
        let e = try cli.rechub(["evaluate", "--checkpoint", ten.path + "/out/checkpoints/step-00000010.rhck"])
        #expect(e.status == 0 && e.stdout.contains("click  auc"), "\(e.stdout) \(e.stderr)")
    }

    @Test func sigtermFinishesTheStepWritesACheckpointAndExitsNonZero() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let child = try cli.start(trainArgs(dir, rows: 20000, ["--set", "epochs=1000", "--set", "log_every=1"]))
        // Wait until it trains (the first progress lines), then ask it to stop.
        #expect(child.waitForOutput(containing: " step 3/", seconds: 120), "\(child.stdoutSoFar)")
        kill(child.process.processIdentifier, SIGTERM)
        let run = try child.finish(seconds: 120)
        let stderr = run.stderr
        #expect(child.process.terminationReason == .exit && run.status == 1, "status \(run.status): \(stderr)")
        #expect(stderr.contains("stopped by SIGTERM after step"), "\(stderr)")
        let names = checkpoints(dir)
        let last = try #require(names.last, "no checkpoint written")
        #expect(stderr.contains(last), "the message names the checkpoint: \(stderr)")
        // It resumes from there.
        let r = try cli.rechub(["train", "--resume", dir.path + "/out/checkpoints", "--set", "max_steps=1"]
                               + ["--set", "epochs=1000"])
        #expect(r.stdout.contains("resumed from") , "\(r.stdout) \(r.stderr)")
        // The run's output_dir works too: its checkpoints folder is searched.
        let o = try cli.rechub(["train", "--resume", dir.path + "/out", "--set", "max_steps=1"])
        #expect(o.stdout.contains("resumed from \(dir.path)/out/checkpoints/"), "\(o.stdout) \(o.stderr)")
        // A missing checkpoint file says why it cannot be read.
        let missing = try cli.rechub(["evaluate", "--checkpoint", dir.path + "/nope.rhck"])
        #expect(missing.status != 0 && missing.stderr.contains("No such file or directory"), "\(missing.stderr)")
    }

    /// A second run on the folders of a run still training is refused, naming the key, and
    /// leaves the first one's checkpoints alone (it used to set them aside as an earlier run's,
    /// and the first run's keep_last then pruned the second's).
    @Test func aSecondRunOnTheFoldersOfARunningOneIsRefused() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try cli.start(trainArgs(dir, rows: 20000, ["--set", "epochs=1000", "--set", "log_every=1",
                                                               "--set", "checkpoint_every=2"]))
        #expect(first.waitForOutput(containing: " step 5/", seconds: 120), "\(first.stdoutSoFar)")
        let same = try cli.rechub(trainArgs(dir, rows: 20000, ["--set", "max_steps=2", "--set", "seed=5"]))
        #expect(same.status != 0 && same.stderr.contains("key 'output_dir'") && same.stderr.contains("is in use by another rechub run"),
                "\(same.stderr)")
        let shared = try cli.rechub(trainArgs(dir, rows: 20000, ["--set", "max_steps=2", "--set", "seed=5",
                                                                  "--set", "output_dir=\(dir.path)/second",
                                                                  "--set", "checkpoint_dir=\(dir.path)/out/checkpoints"]))
        #expect(shared.status != 0 && shared.stderr.contains("key 'checkpoint_dir'"), "\(shared.stderr)")
        kill(first.process.processIdentifier, SIGTERM)
        let run = try first.finish(seconds: 120)
        #expect(run.status == 1 && run.stderr.contains("its state is in"), "\(run.stderr)")
        #expect(!checkpoints(dir).contains { $0.hasPrefix("earlier-") }, "\(checkpoints(dir))")
        // Once it ended, the folder is free again.
        let after = try cli.rechub(["train", "--resume", dir.path + "/out", "--set", "max_steps=1"])
        #expect(after.status == 0, "\(after.stderr)")
    }

    /// Before training (generating data) and after it (the test evaluation) there is no step
    /// to finish: a signal ends the run at once, saying so; after training, the checkpoint is
    /// there, and a resume scores it.
    @Test func aSignalBeforeOrAfterTrainingEndsTheRunAtOnceSayingSo() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let generating = try cli.start(trainArgs(dir, rows: 4_000_000))
        usleep(1_500_000)
        kill(generating.process.processIdentifier, SIGINT)
        let early = try generating.finish(seconds: 60)
        #expect(early.status == 1 && early.stderr.contains("error: stopped by SIGINT before training started: no step was taken"),
                "\(early.stderr)")
        let late = try cli.start(trainArgs(dir, rows: 6000, ["--set", "data.generate.dir=\(dir.path)/data2",
                                                              "--set", "data.generate.test_rows=600000", "--set", "max_steps=2",
                                                              "--set", "eval_batch_size=64"]))
        #expect(late.waitForOutput(containing: "checkpoint: ", seconds: 300), "\(late.stdoutSoFar)")
        kill(late.process.processIdentifier, SIGTERM)
        let after = try late.finish(seconds: 60)
        #expect(after.status == 1 && after.stderr.contains("error: stopped by SIGTERM after training: its checkpoints hold"),
                "\(after.stderr)")
        #expect(checkpoints(dir) == ["step-00000002.rhck"])
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out/metrics.json"))
    }

    /// A signal during an epoch's validation stops the run after it, on the epoch's checkpoint,
    /// before the next epoch's first step (no further step, no second checkpoint).
    @Test func aSignalDuringValidationStopsOnTheEpochsCheckpoint() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // About 1.5 s of validation (300k rows through wide experts) against ~0.1 s to signal.
        let child = try cli.start(trainArgs(dir, rows: 6400, ["--set", "data.generate.val_rows=300000", "--set", "epochs=3",
                                                               "--set", "expert_units=[256,128]", "--set", "log_every=1"]))
        #expect(child.waitForOutput(containing: " step 100/100", seconds: 300), "\(child.stdoutSoFar)")
        kill(child.process.processIdentifier, SIGINT)
        let run = try child.finish(seconds: 120)
        #expect(run.status == 1 && run.stderr.contains("stopped by SIGINT after step 100; its state is in"), "\(run.stderr)")
        #expect(checkpoints(dir) == ["step-00000100.rhck"], "\(checkpoints(dir))")
    }

    /// A generated data folder is held while a run generates and loads it: a second run waits
    /// (said) instead of rewriting files the first one reads, and one with other generator
    /// settings says that it generated the data again.
    @Test func aDataFolderIsHeldWhileARunGeneratesAndLoadsIt() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        // This test holds the folder as another run would.
        let fd = open(data, O_RDONLY | O_DIRECTORY)
        #expect(fd >= 0 && flock(fd, LOCK_EX) == 0)
        let waiting = try cli.start(trainArgs(dir, ["--set", "max_steps=2"]))
        #expect(waiting.waitForOutput(containing: "note: waiting for another rechub run using \(data)", seconds: 60),
                "\(waiting.stdoutSoFar)")
        usleep(300_000)
        #expect(!FileManager.default.fileExists(atPath: data + "/train.csv"), "it generated while the folder was held")
        flock(fd, LOCK_UN)
        close(fd)
        let first = try waiting.finish(seconds: 120)
        #expect(first.status == 0 && first.stdout.contains("generated data in"), "\(first.stderr)")
        let other = try cli.rechub(trainArgs(dir, rows: 5000, ["--set", "max_steps=2", "--set", "output_dir=\(dir.path)/other"]))
        #expect(other.status == 0 && other.stdout.contains("note: \(data) held data generated with other settings"),
                "\(other.stdout)\(other.stderr)")
        // Data generated into the run's own output folder (which the run holds): no wait on itself.
        let inOwn = try cli.start(trainArgs(dir, ["--set", "max_steps=2", "--set", "data.generate.dir=\(dir.path)/self",
                                                  "--set", "output_dir=\(dir.path)/self"]))
        let own = try inOwn.finish(seconds: 60)
        #expect(own.status == 0 && !own.stdout.contains("waiting"), "\(own.stdout)\(own.stderr)")
    }
}
