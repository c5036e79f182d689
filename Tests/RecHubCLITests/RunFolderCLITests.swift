import Foundation
import Testing

/// A run folder keeps its own work: a fresh run sets an earlier run's checkpoints aside rather
/// than letting keep_last prune its own, and a resumed run writes where its checkpoints are now.
struct RunFolderCLITests {
    let cli = RecHubCLITests()

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
