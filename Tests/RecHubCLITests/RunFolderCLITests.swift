import Foundation
import Testing

/// A run folder keeps its own work: a fresh run sets an earlier run's checkpoints aside rather
/// than letting keep_last prune its own, and a resumed run writes where its checkpoints are now.
struct RunFolderCLITests {
    let cli = RecHubCLITests()

    /// Every regular file under `folder`, by relative path, with its bytes.
    static func files(_ folder: URL) -> [String: Data] {
        let fm = FileManager.default
        var all: [String: Data] = [:]
        for name in (try? fm.subpathsOfDirectory(atPath: folder.path)) ?? [] {
            var isDir: ObjCBool = false
            let path = folder.appendingPathComponent(name).path
            if fm.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue { all[name] = fm.contents(atPath: path) }
        }
        return all
    }

    /// Every file of `before` is in `after`, byte for byte, under an `earlier-…` folder: the run
    /// files in the run folder's, the checkpoints in `checkpoints/`'s.
    static func expectSetAside(_ before: [String: Data], in after: [String: Data], run: String) {
        for (name, data) in before {
            let parts = name.split(separator: "/").map(String.init)
            let kept = after.first { key, value in
                key.hasSuffix("/" + parts.last!) && key.contains("earlier-") && value == data
                    && (parts.count == 1 ? !key.hasPrefix("checkpoints/") : key.hasPrefix("checkpoints/"))
            }
            #expect(kept != nil, "\(name) of \(run) was lost or changed")
        }
    }

    /// The steps of the step lines in the run folder's train_log.jsonl.
    static func loggedSteps(_ run: URL) throws -> [Int] {
        let log = try String(contentsOf: run.appendingPathComponent("train_log.jsonl"), encoding: .utf8)
        return log.split(separator: "\n").compactMap { line -> Int? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  o["kind"] as? String == "step" else { return nil }
            return o["step"] as? Int
        }
    }

    @Test func aFreshRunSetsAnEarlierRunsCheckpointsAside() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (first, old) = try cli.trainTinyRun(in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        let oldName = try #require(old.map { ($0 as NSString).lastPathComponent })
        // The same folder again, with step checkpoints at lower step numbers than the old one's.
        let (second, newest) = try cli.trainTinyRun(in: dir, extra: ["--set", "checkpoint_every=3", "--set", "keep_last=1"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("were moved to"), "\(second.stdout)")
        let folder = dir.appendingPathComponent("out/checkpoints")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        let aside = try #require(names.first { $0.hasPrefix("earlier-") })
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(aside).appendingPathComponent(oldName).path))
        // The new run's last checkpoint is there, and resume picks it.
        let path = try #require(newest)
        #expect(FileManager.default.fileExists(atPath: path))
        let resumed = try cli.rechub(["train", "--resume", dir.appendingPathComponent("out").path, "--print-config"])
        #expect(resumed.stdout.contains("checkpoint_every: 3"), "\(resumed.stdout)")
    }

    @Test func aResumedCopyWritesIntoItsOwnFolder() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (first, _) = try cli.trainTinyRun(in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        let original = dir.appendingPathComponent("out"), copy = dir.appendingPathComponent("copy")
        try FileManager.default.copyItem(at: original, to: copy)
        let before = try Data(contentsOf: original.appendingPathComponent("train_log.jsonl"))
        let resumed = try cli.rechub(["train", "--resume", copy.path, "--set", "epochs=2"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("metrics in \(copy.path)/metrics.json"), "\(resumed.stdout)")
        #expect(try Data(contentsOf: original.appendingPathComponent("train_log.jsonl")) == before, "the original run was touched")
        let log = try String(contentsOf: copy.appendingPathComponent("train_log.jsonl"), encoding: .utf8)
        #expect(log.contains("\"epoch\":2"), "the copy's log goes on into epoch 2")
    }

    /// A run resumed into a folder that holds another run (`--set output_dir=`) leaves that run
    /// whole: its checkpoints and its run files are moved aside, byte for byte, and said; the
    /// continued run's log there holds its own steps from the start, none of the other run's.
    @Test func aRunMovedOntoAnotherRunSetsItAside() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (first, _) = try cli.trainTinyRun(in: dir, extra: ["--set", "epochs=2", "--set", "max_steps=10",
                                                               "--set", "log_every=2", "--set", "checkpoint_every=4"])
        #expect(first.status == 0, "\(first.stderr)")
        let mine = dir.appendingPathComponent("out"), other = dir.appendingPathComponent("other")
        let otherRun = try cli.trainTinyRun(in: dir, extra: ["--set", "model=ple", "--set", "output_dir=\(other.path)",
                                                             "--set", "log_every=3"])
        #expect(otherRun.run.status == 0, "\(otherRun.run.stderr)")
        let before = Self.files(other)
        let otherInfo = try JSONSerialization.jsonObject(with: Data(contentsOf: other.appendingPathComponent("run.json")))
        let otherID = try #require((otherInfo as? [String: Any])?["run_id"] as? String)
        let r = try cli.rechub(["train", "--resume", mine.path, "--set", "output_dir=\(other.path)", "--set", "max_steps=16"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("held another run's checkpoints: moved to") && r.stdout.contains("held run \(otherID)'s files"),
                "\(r.stdout)")
        // Every file of the other run is still there, unchanged, under an earlier-… folder.
        let after = Self.files(other)
        Self.expectSetAside(before, in: after, run: "the other run")
        // The continued run's log: its own steps 2, 4, …, 8 (cut at the checkpoint), then on to 16.
        let steps = try Self.loggedSteps(other)
        #expect(steps == [2, 4, 6, 8, 10, 12, 14, 16], "\(steps)")
    }

    /// Two runs in `dir`: A in `out` (12 steps) and B in `other` (6 steps, another seed), both
    /// logging every 2 steps and checkpointing every 4; returns B's folder and A's newest checkpoint.
    func twoRuns(in dir: URL) throws -> (b: URL, newestOfA: String) {
        let b = dir.appendingPathComponent("other")
        let common = ["--set", "epochs=3", "--set", "log_every=2", "--set", "checkpoint_every=4"]
        let (first, copied) = try cli.trainTinyRun(in: dir, extra: common + ["--set", "max_steps=12"])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try cli.trainTinyRun(in: dir, extra: common + ["--set", "max_steps=6", "--set", "seed=9",
                                                                    "--set", "output_dir=\(b.path)"])
        #expect(second.run.status == 0, "\(second.run.stderr)")
        return (b, try #require(copied))
    }

    /// A checkpoint of run A copied into run B's checkpoints/ and resumed there: B's run.json
    /// names another run, so B's checkpoints and run files are set aside byte for byte (said,
    /// naming both runs); the continued run is A's (its run_id), with a log of its own.
    @Test func aCheckpointCopiedIntoAnotherRunsFolderSetsThatRunAside() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let a = dir.appendingPathComponent("out")
        let (b, source) = try twoRuns(in: dir)
        func runID(_ folder: URL) throws -> String {
            let data = try Data(contentsOf: folder.appendingPathComponent("run.json"))
            return try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["run_id"] as? String)
        }
        let (idA, idB) = (try runID(a), try runID(b))
        #expect(idA.count == 16 && idA != idB)
        let before = Self.files(b)
        let name = (source as NSString).lastPathComponent
        try fm.copyItem(atPath: source, toPath: b.appendingPathComponent("checkpoints/\(name)").path)
        // An older checkpoint of A's too: it is A's, so it stays (each checkpoint says its run).
        let older = a.appendingPathComponent("checkpoints/step-00000008.rhck")
        try fm.copyItem(at: older, to: b.appendingPathComponent("checkpoints/step-00000008.rhck"))
        let r = try cli.rechub(["train", "--resume", b.path, "--set", "max_steps=14"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("held checkpoints of run \(idB) (step-00000004.rhck, step-00000006.rhck)")
                && r.stdout.contains("not of run \(idA)") && r.stdout.contains("held run \(idB)'s files"), "\(r.stdout)")
        #expect(fm.contents(atPath: b.appendingPathComponent("checkpoints/step-00000008.rhck").path)
                == fm.contents(atPath: older.path), "A's own older checkpoint was set aside or changed")
        let after = Self.files(b)
        Self.expectSetAside(before, in: after, run: "run B")
        #expect(try runID(b) == idA, "the continued run is A's")
        let steps = try Self.loggedSteps(b)
        #expect(steps == [14], "B's steps must not be in A's continued log: \(steps)")
        // Resumed again in place: the same run, nothing set aside.
        let again = try cli.rechub(["train", "--resume", b.path, "--set", "max_steps=16"])
        #expect(again.status == 0 && !again.stdout.contains("moved to"), "\(again.stdout)\(again.stderr)")
        #expect(try runID(b) == idA)
    }

    /// A's checkpoint copied into B's `checkpoints/` and resumed with `--set output_dir=C`: the
    /// continued run (A's) starts a new log in C, B's log is not taken for A's history, and B is
    /// left byte for byte.
    @Test func aCopiedCheckpointMovedOnDoesNotTakeTheFoldersLog() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let c = dir.appendingPathComponent("third")
        let (b, source) = try twoRuns(in: dir)
        try fm.copyItem(atPath: source, toPath: b.appendingPathComponent("checkpoints/" + (source as NSString).lastPathComponent).path)
        let before = Self.files(b)
        let r = try cli.rechub(["train", "--resume", b.path, "--set", "output_dir=\(c.path)", "--set", "max_steps=14"])
        #expect(r.status == 0 && r.stdout.contains("its log stays there, and the continued run starts a new one in \(c.path)"),
                "\(r.stdout)\(r.stderr)")
        #expect(try Self.loggedSteps(c) == [14], "B's steps must not be in A's continued log")
        #expect(Self.files(b) == before, "B was changed")
    }

    /// Where a resumed run goes on: with its own checkpoint_dir apart from the run folder, in
    /// place (its log kept whole, nothing set aside); from a checkpoint copied out of its run,
    /// in that checkpoint's folder, said, and the run it came from is left byte for byte.
    @Test func aResumedRunGoesOnWhereItsCheckpointBelongs() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("out"), apart = dir.appendingPathComponent("ck")
        let (first, _) = try cli.trainTinyRun(in: dir, extra: ["--set", "checkpoint_dir=\(apart.path)", "--set", "epochs=2",
                                                               "--set", "max_steps=10", "--set", "log_every=2"])
        #expect(first.status == 0, "\(first.stderr)")
        let inPlace = try cli.rechub(["train", "--resume", apart.path, "--set", "max_steps=12"])
        #expect(inPlace.status == 0 && !inPlace.stdout.contains("another run"), "\(inPlace.stdout)\(inPlace.stderr)")
        let log = try String(contentsOf: run.appendingPathComponent("train_log.jsonl"), encoding: .utf8)
        #expect(log.contains("\"step\":2,") && log.contains("\"step\":12,"), "the log lost its first steps:\n\(log)")
        // A checkpoint copied out of its run.
        let lone = dir.appendingPathComponent("lone"), fm = FileManager.default
        try fm.createDirectory(at: lone, withIntermediateDirectories: true)
        let newest = try #require(try fm.contentsOfDirectory(atPath: apart.path).filter { $0.hasPrefix("step-") }.sorted().last)
        try fm.copyItem(at: apart.appendingPathComponent(newest), to: lone.appendingPathComponent("copy.rhck"))
        let before = try fm.contentsOfDirectory(atPath: run.path).sorted().map { try Data(contentsOf: run.appendingPathComponent($0)) }
        let copied = try cli.rechub(["train", "--resume", lone.appendingPathComponent("copy.rhck").path, "--set", "max_steps=14"])
        #expect(copied.status == 0 && copied.stderr.contains("is not in its run's checkpoint folder: the run goes on in \(lone.path)"),
                "\(copied.stderr)")
        #expect(fm.fileExists(atPath: lone.appendingPathComponent("train_log.jsonl").path)
                && fm.fileExists(atPath: lone.appendingPathComponent("metrics.json").path))
        let after = try fm.contentsOfDirectory(atPath: run.path).sorted().map { try Data(contentsOf: run.appendingPathComponent($0)) }
        #expect(after == before, "the run the checkpoint came from was touched")
        // `--resume` of the run folder itself finds the checkpoint_dir its run.json names.
        let viaRun = try cli.rechub(["train", "--resume", run.path, "--set", "max_steps=16"])
        #expect(viaRun.status == 0 && viaRun.stdout.contains("resumed from \(apart.path)/step-00000012.rhck"),
                "\(viaRun.stdout)\(viaRun.stderr)")
        let grown = try String(contentsOf: run.appendingPathComponent("train_log.jsonl"), encoding: .utf8)
        #expect(grown.contains("\"step\":2,") && grown.contains("\"step\":16,"), "\(grown)")
        // Moved away: said, naming where run.json points.
        try fm.moveItem(at: apart, to: dir.appendingPathComponent("moved"))
        let gone = try cli.rechub(["train", "--resume", run.path])
        #expect(gone.status != 0 && gone.stderr.contains("the checkpoint_dir its run.json names, \(apart.path), does not exist"),
                "\(gone.stderr)")
    }

    /// A 4-step tiny run started in `dir/<startingIn>` with the relative `output` and
    /// `checkpoints` folders (logging every step); returns its start folder, an empty folder
    /// `dir/elsewhere` to resume from, and the `--set` arguments of the run's data and model.
    func relativeRun(in dir: URL, startingIn: String, output: String, checkpoints: String) throws
        -> (start: URL, elsewhere: URL, sets: [String])
    {
        let start = dir.appendingPathComponent(startingIn), elsewhere = dir.appendingPathComponent("elsewhere")
        for d in [start, elsewhere] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let sets = ["data.generate.rows=4000", "data.generate.val_rows=300", "data.generate.test_rows=300",
                    "data.generate.scale=0.01", "data.generate.dir=\(dir.path)/data", "expert_units=[8]", "num_experts=2",
                    "tower_units=[4]", "batch_size=256", "threads=1", "log_every=1"].flatMap { ["--set", $0] }
        let first = try cli.rechub(["train"] + sets + ["--set", "output_dir=\(output)", "--set", "checkpoint_dir=\(checkpoints)",
                                                       "--set", "max_steps=4"], cwd: start)
        #expect(first.status == 0, "\(first.stderr)")
        return (start, elsewhere, sets)
    }

    /// Relative `output_dir` and `checkpoint_dir`, resumed from another folder: run.json holds
    /// them absolute, so `--resume` of the run folder finds the checkpoints, and the run goes on
    /// in its own folder (also from a run.json that stored them relative, as before, and from
    /// the checkpoint folder). A checkpoint folder that another run has taken over since is
    /// refused, not resumed as this run.
    @Test func relativeFoldersResumeFromAnyFolder() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let (start, elsewhere, sets) = try relativeRun(in: dir, startingIn: "start", output: "runA", checkpoints: "ckA")
        let runA = start.appendingPathComponent("runA"), ckA = start.appendingPathComponent("ckA")
        let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: runA.appendingPathComponent("run.json"))) as? [String: Any])
        let config = try #require(info["config"] as? [String: Any])
        #expect((config["logging"] as? [String: Any])?["outputDirectory"] as? String == runA.path)
        #expect((config["checkpointing"] as? [String: Any])?["directory"] as? String == ckA.path)
        let viaRun = try cli.rechub(["train", "--resume", runA.path, "--set", "max_steps=6"], cwd: elsewhere)
        #expect(viaRun.status == 0 && viaRun.stdout.contains("resumed from \(ckA.path)/step-00000004.rhck")
                && viaRun.stdout.contains("metrics in \(runA.path)/metrics.json"), "\(viaRun.stdout)\(viaRun.stderr)")
        // A run.json from before, with the folders as written.
        var old = info
        old["config"] = config.merging(["logging": ["outputDirectory": "runA"], "checkpointing": ["directory": "ckA"]]) { $1 }
        try JSONSerialization.data(withJSONObject: old).write(to: runA.appendingPathComponent("run.json"))
        let viaOld = try cli.rechub(["train", "--resume", runA.path, "--set", "max_steps=8"], cwd: elsewhere)
        #expect(viaOld.status == 0 && viaOld.stdout.contains("resumed from \(ckA.path)/step-00000006.rhck"),
                "\(viaOld.stdout)\(viaOld.stderr)")
        let viaFolder = try cli.rechub(["train", "--resume", "../start/ckA", "--set", "max_steps=10"], cwd: elsewhere)
        #expect(viaFolder.status == 0 && viaFolder.stdout.contains("metrics in \(runA.path)/metrics.json")
                && !fm.fileExists(atPath: ckA.appendingPathComponent("train_log.jsonl").path), "\(viaFolder.stdout)\(viaFolder.stderr)")
        #expect(try Self.loggedSteps(runA) == Array(1...10))
        // Another run now writes its checkpoints into ckA.
        for name in try fm.contentsOfDirectory(atPath: ckA.path) { try fm.removeItem(at: ckA.appendingPathComponent(name)) }
        let other = try cli.rechub(["train"] + sets + ["--set", "output_dir=runB", "--set", "checkpoint_dir=ckA",
                                                       "--set", "max_steps=2"], cwd: start)
        #expect(other.status == 0, "\(other.stderr)")
        let refused = try cli.rechub(["train", "--resume", runA.path], cwd: elsewhere)
        #expect(refused.status != 0 && refused.stderr.contains("belongs to another run")
                && refused.stderr.contains("this run's own checkpoints are not there any more"), "\(refused.stderr)")
    }

    /// A run whose `checkpoint_dir` is set apart, copied whole (run folder and checkpoint
    /// folder in one tree): resuming the copy, by its run folder or its checkpoint folder, goes
    /// on in the copy and leaves the original byte for byte. A copy of the run folder alone is
    /// refused, naming where the original's checkpoints are.
    @Test func aCopiedRunTreeResumesAsTheCopy() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let (original, elsewhere, _) = try relativeRun(in: dir, startingIn: "original", output: "runs/r", checkpoints: "ck/r")
        let again = try cli.rechub(["train", "--resume", "runs/r", "--set", "max_steps=6"], cwd: original)
        #expect(again.status == 0, "\(again.stderr)")
        let copy = dir.appendingPathComponent("copy")
        try fm.copyItem(at: original, to: copy)
        let before = Self.files(original)
        let viaRun = try cli.rechub(["train", "--resume", "../copy/runs/r", "--set", "max_steps=8"], cwd: elsewhere)
        #expect(viaRun.status == 0 && viaRun.stdout.contains("resumed from \(copy.path)/ck/r/step-00000006.rhck")
                && viaRun.stdout.contains("metrics in \(copy.path)/runs/r/metrics.json") && !viaRun.stdout.contains("moved to"),
                "\(viaRun.stdout)\(viaRun.stderr)")
        let viaFolder = try cli.rechub(["train", "--resume", "../copy/ck/r", "--set", "max_steps=10"], cwd: elsewhere)
        #expect(viaFolder.status == 0 && viaFolder.stdout.contains("metrics in \(copy.path)/runs/r/metrics.json"),
                "\(viaFolder.stdout)\(viaFolder.stderr)")
        #expect(try Self.loggedSteps(copy.appendingPathComponent("runs/r")) == Array(1...10))
        #expect(Self.files(original) == before, "the original run was changed")
        // The run folder copied without its checkpoint folder.
        let alone = dir.appendingPathComponent("alone")
        try fm.createDirectory(at: alone, withIntermediateDirectories: true)
        try fm.copyItem(at: original.appendingPathComponent("runs"), to: alone.appendingPathComponent("runs"))
        let refused = try cli.rechub(["train", "--resume", alone.path + "/runs/r"], cwd: elsewhere)
        #expect(refused.status != 0 && refused.stderr.contains("is a copy of the run in \(original.path)/runs/r, without its checkpoints"),
                "\(refused.stderr)")
        #expect(Self.files(original) == before, "the original run was changed")
    }

    /// `--resume FILE` resumes from that checkpoint; a run with no checkpoint says how to go on.
    @Test func resumeFromOneFileAndFromNothing() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (first, newest) = try cli.trainTinyRun(in: dir, extra: ["--set", "checkpoint_every=3"])
        #expect(first.status == 0, "\(first.stderr)")
        let folder = dir.appendingPathComponent("out/checkpoints")
        let earliest = try #require(try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasPrefix("step-") }.sorted().first)
        #expect(folder.appendingPathComponent(earliest).path != newest)
        let r = try cli.rechub(["train", "--resume", folder.appendingPathComponent(earliest).path, "--set", "epochs=2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("resumed from \(folder.appendingPathComponent(earliest).path)"), "\(r.stdout)")
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let none = try cli.rechub(["train", "--resume", empty.path])
        #expect(none.status != 0 && (none.stdout + none.stderr).contains("start it again without --resume"), "\(none.stderr)")
    }
}
