import Foundation
import RecHub
import Testing

/// What a job checks and reports about its data before training: out-of-vocabulary ids per
/// split and field (warned above 5 % of rows), and early stopping that could never act.
struct JobChecksTests {
    func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-checks-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }

    /// A CSV of `rows` rows: click alternates, purchase is 1 on every `purchaseEvery`-th row (0
    /// for none), sparse ids 0..<ids cycling, one dense column.
    func csv(_ path: String, rows: Int, ids: Int, purchaseEvery: Int) throws {
        var s = "click,purchase,101,205,D1\n"
        for i in 0..<rows {
            let p = purchaseEvery > 0 && i % purchaseEvery == 0 ? 1 : 0
            s += "\(i % 2),\(p),\(i % ids),\((i * 7) % ids),\(Double(i % 10) / 10)\n"
        }
        try s.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func job(_ dir: String, _ sets: [String]) throws -> (TrainingJob, () -> [String]) {
        var node = try ConfigNode.parse(yaml: """
            model: shared_bottom
            data:
              train: \(dir)/train.csv
              val: \(dir)/val.csv
              labels: [click, purchase]
            hidden_units: [8]
            task_hidden_units: [4]
            batch_size: 64
            epochs: 1
            threads: 1
            checkpoints: false
            output_dir: \(dir)/out
            """, file: "test")
        for s in sets { node = try node.setting(s) }
        var job = TrainingJob(config: try TrainConfig.parse(node))
        final class Lines: @unchecked Sendable { var all: [String] = [] }
        let lines = Lines()
        job.log = { lines.all.append($0) }
        return (job, { lines.all })
    }

    @Test func earlyStoppingOnASplitWithOneClassIsRefused() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try csv("\(dir)/train.csv", rows: 256, ids: 20, purchaseEvery: 5)
        try csv("\(dir)/val.csv", rows: 128, ids: 20, purchaseEvery: 0)
        let (refused, _) = try job(dir, ["earlystop_task=purchase"])
        do {
            _ = try refused.run()
            Issue.record("early stopping on a validation split without a purchase was accepted")
        } catch let e as ConfigError {
            #expect(e.key == "earlystop_task" && e.message.contains("0 positive") && e.message.contains("val.csv"), "\(e)")
        }
        // The same on the task's sample space: purchases only on rows where click = 0.
        try csv("\(dir)/val.csv", rows: 128, ids: 20, purchaseEvery: 2)  // purchase on even rows, where click = 0
        let (space, _) = try job(dir, ["earlystop_task=purchase", "task_sample_space={purchase: click}"])
        #expect(throws: ConfigError.self) { _ = try space.run() }
        // Both classes: it runs.
        try csv("\(dir)/val.csv", rows: 128, ids: 20, purchaseEvery: 3)
        let (fine, _) = try job(dir, ["earlystop_task=purchase"])
        _ = try fine.run()
    }

    /// Batch norm over a single row on a rank is refused with the keys named; drop_last skips
    /// the last partial batch that would cause it.
    @Test func batchNormOnOneRowIsRefused() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try csv("\(dir)/train.csv", rows: 257, ids: 20, purchaseEvery: 5)  // 4 batches of 64, then 1 row
        try csv("\(dir)/val.csv", rows: 64, ids: 20, purchaseEvery: 3)
        let (lastRow, _) = try job(dir, ["batch_norm=true"])
        do {
            _ = try lastRow.run()
            Issue.record("a last batch of one row under batch norm was accepted")
        } catch let e as ConfigError {
            #expect(e.key == "drop_last" && e.message.contains("last batch of 1 of 257 rows"), "\(e)")
        }
        let (dropped, _) = try job(dir, ["batch_norm=true", "drop_last=true"])
        let r = try dropped.run()
        #expect(r.history.count == 1)
        let (single, _) = try job(dir, ["batch_norm=true", "batch_size=1"])
        do {
            _ = try single.run()
            Issue.record("a batch of one row under batch norm was accepted")
        } catch let e as ConfigError {
            #expect(e.key == "batch_size", "\(e)")
        }
        // Without batch norm both are fine.
        let (plain, _) = try job(dir, [])
        _ = try plain.run()
    }

    @Test func outOfVocabularyIdsAreCountedForEverySplitAndWarned() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try csv("\(dir)/train.csv", rows: 200, ids: 50, purchaseEvery: 5)
        try csv("\(dir)/val.csv", rows: 100, ids: 50, purchaseEvery: 5)
        // Field 101 takes ids 0..<50 but is given a vocabulary of 10: 80 % of rows go to its OOV row.
        let (j, lines) = try job(dir, ["data.sparse=[101, 205]", "data.dense=[D1]", "data.vocabulary_sizes=[10, 50]"])
        let r = try j.run()
        let train = try #require(r.outOfVocabulary.first { $0.split == "train" })
        #expect(train.counts == [160, 0] && train.rows == 200)
        #expect(r.outOfVocabulary.first { $0.split == "val" }?.counts == [80, 0])
        #expect(lines().contains { $0.contains("out-of-vocabulary ids: train 160 (101: 160), val 80 (101: 80)") }, "\(lines())")
        #expect(lines().contains { $0.hasPrefix("warning: 80.0 % of the train rows") && $0.contains("field 101") })
        #expect(!lines().contains { $0.contains("warning") && $0.contains("field 205") })
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/out/metrics.json")))
        let oov = (json as? [String: Any])?["out_of_vocabulary"] as? [String: Any]
        #expect(((oov?["train"] as? [String: Any])?["fields"] as? [String: Int]) == ["101": 160])
    }

    /// Threads beyond the cores they may run on are named, with a count that fits.
    @Test func blasThreadsBeyondTheCoresAreNoted() {
        func note(_ ranks: Int, _ threads: Int, node: Int, rank: Int) -> String? {
            TrainingJob.oversubscription(ranksOnNode: ranks, threads: threads, nodeCores: node, rankCores: rank)
        }
        #expect(note(1, 2, node: 2, rank: 2) == nil)
        #expect(note(2, 1, node: 2, rank: 2) == nil)
        #expect(note(2, 1, node: 2, rank: 1) == nil)  // bound to one core each
        #expect(note(4, 4, node: 16, rank: 16) == nil)
        #expect(note(1, 4, node: 2, rank: 2) == "4 BLAS threads on the 2 cores this rank may use: they share cores and run slower (set threads to 2 or fewer)")
        #expect(note(2, 2, node: 2, rank: 1) == "2 BLAS threads on the 1 core this rank may use: they share cores and run slower (set threads to 1)")
        #expect(note(2, 2, node: 2, rank: 2) == "2 ranks × 2 BLAS threads on this node's 2 cores: they share cores and run slower (set threads to 1)")
        #expect(note(3, 1, node: 2, rank: 2) == "3 ranks × 1 BLAS thread on this node's 2 cores: they share cores and run slower (start at most 2 ranks per node)")
    }
}
