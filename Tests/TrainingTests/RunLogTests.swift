import Foundation
import RecHub
import TensorBoard
import Testing
@testable import Training

/// The run folder's log: `train_log.jsonl` and the TensorBoard event file carry the same step
/// and epoch values; the step lines' loss windows add up to the epoch's loss; a run resumed
/// from a mid-run checkpoint, after its log ran past that checkpoint, ends with the very lines
/// and curves of an uninterrupted run. Jobs pin one BLAS thread (see TrainingJobTests).
@Suite(.serialized)
struct RunLogTests {
    static func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-runlog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }

    /// 3000 rows in batches of 256: 12 steps an epoch, the last of 184 rows; 2 epochs.
    /// Step lines every 4 steps and on every 5th (monitored) step.
    static func config(_ dir: String, out: String, _ extra: [String] = []) throws -> TrainConfig {
        var node = try ConfigNode.parse(yaml: defaultConfigYAML, file: "default")
        for s in ["data.generate.rows=3000", "data.generate.val_rows=1000", "data.generate.test_rows=1000",
                  "data.generate.scale=0.01", "data.generate.dir=\(dir)/data", "output_dir=\(dir)/\(out)",
                  "expert_units=[16]", "num_experts=2", "tower_units=[8]", "batch_size=256", "threads=1", "epochs=2",
                  "log_every=4", "monitor_every=5", "checkpoint_every=5", "keep_last=10"] + extra {
            node = try node.setting(s)
        }
        return try TrainConfig.parse(node)
    }

    static func run(_ config: TrainConfig, resume: String? = nil) throws -> JobResult {
        var job = TrainingJob(config: config)
        job.log = { _ in }
        job.resumeDirectory = resume
        return try job.run()
    }

    /// A line of `train_log.jsonl`, either kind. Read with JSONDecoder, which parses numbers
    /// exactly (Foundation's JSONSerialization on Linux can be one unit off in the last place).
    struct Line: Decodable, Equatable {
        var kind: String
        var step: Int
        var epoch: Int
        var losses, weights, cosines, trainLoss: [String: Double]?
        var validation: [String: [String: Double]]?
        var samplesPerSecond, seconds: Double?

        enum CodingKeys: String, CodingKey {
            case kind, step, epoch, losses, weights, cosines, validation, seconds
            case trainLoss = "train_loss", samplesPerSecond = "samples_per_second"
        }

        /// Without the timing fields, which differ between runs.
        var untimed: Line {
            var l = self
            l.samplesPerSecond = nil
            l.seconds = nil
            return l
        }
    }

    static func lines(_ dir: String) throws -> [Line] {
        let text = try String(contentsOfFile: "\(dir)/train_log.jsonl", encoding: .utf8)
        #expect(text.hasSuffix("\n"))
        // Every key a line holds is one the contract names (Line would ignore others).
        let known: Set<String> = ["kind", "step", "epoch", "losses", "weights", "cosines", "samples_per_second",
                                  "train_loss", "validation", "seconds"]
        return try text.split(separator: "\n").map {
            let keys = try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]).keys
            #expect(Set(keys).isSubset(of: known), "\(keys)")
            return try JSONDecoder().decode(Line.self, from: Data($0.utf8))
        }
    }

    /// Every scalar of every event file in `dir`, files in name order (as TensorBoard reads them).
    static func scalars(_ dir: String) throws -> [EventFileReader.Scalar] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter(EventFileWriter.isEventFileName).sorted()
        return try names.flatMap { name -> [EventFileReader.Scalar] in
            let r = try EventFileReader(path: "\(dir)/\(name)")
            #expect(r.fileVersion == "brain.Event:2" && r.problem == nil)
            return r.scalars
        }
    }

    /// The (tag, step, value) each line should have produced in TensorBoard.
    static func expectedScalars(_ lines: [Line]) -> [(tag: String, step: Int, value: Double)] {
        var out: [(String, Int, Double)] = []
        for l in lines {
            func add(_ prefix: String, _ map: [String: Double]?) {
                for (k, v) in map ?? [:] { out.append((prefix + k, l.step, v)) }
            }
            if l.kind == "step" {
                add("train/loss/", l.losses); add("train/weight/", l.weights); add("train/cosine/", l.cosines)
                if let s = l.samplesPerSecond { out.append(("train/samples_per_second", l.step, s)) }
            } else {
                add("epoch/train_loss/", l.trainLoss)
                if let s = l.samplesPerSecond { out.append(("epoch/samples_per_second", l.step, s)) }
                for (series, metrics) in l.validation ?? [:] {
                    for (m, v) in metrics { out.append(("val/\(m)/\(series)", l.step, v)) }
                }
            }
        }
        return out
    }

    /// The event files hold exactly the lines' values (as Float), tag by tag, in step order.
    static func expectEventsMatchLines(_ dir: String) throws {
        let got = Dictionary(grouping: try scalars(dir), by: \.tag)
        let want = Dictionary(grouping: expectedScalars(try lines(dir)), by: \.tag)
        #expect(Set(got.keys) == Set(want.keys))
        for (tag, w) in want {
            let g = got[tag] ?? []
            #expect(g.map(\.step) == w.map(\.step).sorted(), "\(tag): steps")
            #expect(g.map(\.value) == w.sorted { $0.step < $1.step }.map { Float($0.value) }, "\(tag): values")
        }
    }

    @Test func shortRunWritesMatchingLinesAndEvents() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.config(dir, out: "out")
        let result = try Self.run(config)
        let out = "\(dir)/out"
        let lines = try Self.lines(out)
        let steps = lines.filter { $0.kind == "step" }
        let epochs = lines.filter { $0.kind == "epoch" }
        #expect(steps.map(\.step) == [4, 5, 8, 10, 12, 15, 16, 20, 24])
        #expect(steps.map(\.epoch) == [1, 1, 1, 1, 1, 2, 2, 2, 2])
        #expect(steps.allSatisfy { ($0.cosines != nil) == ($0.step % 5 == 0) }, "cosines on monitored steps only")
        #expect(steps.allSatisfy { Set(($0.losses ?? [:]).keys) == ["click", "purchase"] })
        #expect(steps.allSatisfy { $0.weights == ["click": 1, "purchase": 1] })
        #expect(steps.allSatisfy { ($0.samplesPerSecond ?? 0) > 0 && $0.trainLoss == nil && $0.validation == nil })
        let cosine = try #require(steps[1].cosines?["click,purchase"])
        #expect(cosine > -1 && cosine < 1 && steps[1].cosines?.count == 1)
        #expect(epochs.map(\.step) == [12, 24] && epochs.map(\.epoch) == [1, 2])
        // The epoch lines are the run's history, keyed by task; an undefined AUC is left out.
        for (line, record) in zip(epochs, result.history) {
            #expect(line.trainLoss == ["click": record.trainLoss[0], "purchase": record.trainLoss[1]])
            #expect(line.validation == Dictionary(uniqueKeysWithValues: record.validation.map { m in
                (m.task, ["auc": m.auc, "logloss": m.logLoss].compactMapValues { $0 })
            }))
            #expect(line.validation?["click"]?["auc"] != nil)
        }
        // Each epoch's step lines cover windows that add up to the epoch: 256 rows a step,
        // 184 in its last. Σ window mean · rows / Σ rows is the epoch's loss (only rounding
        // differs: the sums are taken in another order; bound 1e-12 relative).
        for (e, windows) in [(1, [(4, 4), (5, 1), (8, 3), (10, 2), (12, 2)]), (2, [(15, 3), (16, 1), (20, 4), (24, 4)])] {
            for (t, task) in ["click", "purchase"].enumerated() {
                var sum = 0.0, rows = 0
                for (step, n) in windows {
                    let line = try #require(steps.first { $0.step == step })
                    let r = 256 * n - (step % 12 == 0 ? 72 : 0)
                    sum += try #require(line.losses?[task]) * Double(r)
                    rows += r
                }
                let epochLoss = result.history[e - 1].trainLoss[t]
                #expect(rows == 3000 && abs(sum / Double(rows) - epochLoss) <= 1e-12 * epochLoss, "epoch \(e) \(task)")
            }
        }
        try Self.expectEventsMatchLines(out)
        // run.json: what the run is, before its first step.
        let info = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/run.json"))) as? [String: Any])
        #expect(info["model"] as? String == "mmoe" && info["tasks"] as? [String] == ["click", "purchase"] && info["ranks"] as? Int == 1)
        #expect(((info["config"] as? [String: Any])?["schedule"] as? [String: Any])?["batchSize"] as? Int == 256)
        #expect(((info["oracle_auc"] as? [String: Double])?["click"] ?? 0) > 0.5)
        #expect((info["started_at"] as? String).map { ISO8601DateFormatter().date(from: $0) != nil } == true)
    }

    /// The run is cut at step 17 (a checkpoint every 5 steps and at max_steps); its step-17
    /// checkpoint is then deleted, as if the run had been killed after logging step 16 but
    /// before its next checkpoint. Resumed from step 15, it ends with the uninterrupted run's
    /// lines (all but the timing fields, bit for bit: resume is bit-identical) and curves,
    /// no step twice.
    /// Each epoch's last step has a step line even off the log_every grid, so the loss curve
    /// ends where the epoch does and every step's loss reaches the log.
    @Test func everyEpochsLastStepIsLogged() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.run(try Self.config(dir, out: "out", ["log_every=5", "monitor_every=0", "checkpoints=false"]))
        let steps = try Self.lines("\(dir)/out").filter { $0.kind == "step" }
        #expect(steps.map(\.step) == [5, 10, 12, 15, 20, 24])
        #expect(steps.map(\.epoch) == [1, 1, 1, 2, 2, 2])
    }

    @Test func resumedRunContinuesTheSameCurves() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.run(try Self.config(dir, out: "full"))
        _ = try Self.run(try Self.config(dir, out: "cut", ["max_steps=17"]))
        let cut = "\(dir)/cut"
        // Step 17, where max_steps stops the run, is logged too (off the log_every grid).
        #expect(try Self.lines(cut).map(\.step) == [4, 5, 8, 10, 12, 12, 15, 16, 17])
        try FileManager.default.removeItem(atPath: "\(cut)/checkpoints/step-00000017.rhck")
        _ = try Self.run(try Self.config(dir, out: "cut"), resume: "\(cut)/checkpoints")

        let full = try Self.lines("\(dir)/full"), resumed = try Self.lines(cut)
        #expect(resumed.map(\.step) == full.map(\.step))
        #expect(resumed.map(\.untimed) == full.map(\.untimed))
        try Self.expectEventsMatchLines(cut)
        let files = try FileManager.default.contentsOfDirectory(atPath: cut).filter(EventFileWriter.isEventFileName).sorted()
        #expect(files.count == 2, "the first run's file, cut back, and the resumed run's: \(files)")
        #expect(try EventFileReader(path: "\(cut)/\(files[0])").scalars.map(\.step).max() == 15)
        #expect(try EventFileReader(path: "\(cut)/\(files[1])").scalars.map(\.step).min() == 16)
        // The curves of both runs, timing aside, are the same.
        func curves(_ d: String) throws -> [String] {
            try Self.scalars(d).filter { !$0.tag.contains("samples_per_second") }.map { "\($0.tag) \($0.step) \($0.value)" }.sorted()
        }
        #expect(try curves(cut) == curves("\(dir)/full"))
    }

    /// RunLog alone: a fresh log replaces the folder's old events; a resumed one keeps what
    /// precedes the step and drops the rest, torn last line included.
    @Test func freshAndResumedOpenings() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stale = try EventFileWriter(directory: dir, wallTime: 1, hostname: "old")
        try stale.add(scalars: [("train/loss/a", 1)], step: 99)
        let log = try RunLog(directory: dir, taskNames: ["a", "b"], resumingAfter: nil)
        #expect(!FileManager.default.fileExists(atPath: stale.path) && log.notes.count == 1)
        for step in 1...4 {
            try log.write(StepReport(step: step, epoch: 1, losses: [Double(step), 0.5], weights: [1, 1.5],
                                     samplesPerSecond: 100, cosines: step == 2 ? [-0.25] : nil))
        }
        let record = EpochRecord(epoch: 1, trainLoss: [2.5, 0.5],
                                 validation: [TaskMetrics(task: "a", auc: 0.75, logLoss: 0.5, count: 10, positives: 3),
                                              TaskMetrics(task: "b", auc: nil, logLoss: 0.25, count: 10, positives: 0)],
                                 seconds: 1, samplesPerSecond: 400)
        try log.write(record, step: 4)
        var text = try String(contentsOfFile: log.linesPath, encoding: .utf8)
        #expect(text.split(separator: "\n").first == #"{"epoch":1,"kind":"step","losses":{"a":1,"b":0.5},"samples_per_second":100,"step":1,"weights":{"a":1,"b":1.5}}"#)
        #expect(text.contains(#""cosines":{"a,b":-0.25}"#))
        #expect(text.split(separator: "\n").last == #"{"epoch":1,"kind":"epoch","samples_per_second":400,"seconds":1,"step":4,"train_loss":{"a":2.5,"b":0.5},"validation":{"a":{"auc":0.75,"logloss":0.5},"b":{"logloss":0.25}}}"#)
        try Self.expectEventsMatchLines(dir)
        // A torn line, as a kill mid-write would leave.
        try AppendOnlyFile(path: log.linesPath).append(Data(#"{"epoch":1,"kind":"st"#.utf8))
        let resumed = try RunLog(directory: dir, taskNames: ["a", "b"], resumingAfter: 2)
        text = try String(contentsOfFile: log.linesPath, encoding: .utf8)
        #expect(try Self.lines(dir).map(\.step) == [1, 2], "\(text)")
        #expect(resumed.notes.count == 2, "\(resumed.notes)")
        try resumed.write(StepReport(step: 3, epoch: 1, losses: [9, 9], weights: [1, 1], samplesPerSecond: 1))
        #expect(try Self.lines(dir).map(\.step) == [1, 2, 3])
        try Self.expectEventsMatchLines(dir)
    }
}
