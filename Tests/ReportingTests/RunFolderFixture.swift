import Foundation

/// A run folder written by hand as the run-folder contract describes it (run.json,
/// train_log.jsonl, metrics.json), in a fresh temporary directory.
struct RunFolderFixture {
    let url: URL
    var path: String { url.path }

    /// Two tasks, `steps` step lines every 100 steps over `epochs` epochs of `stepsPerEpoch`
    /// steps, a cosine on every other line, and known values (see `loss`, `cosine`, …).
    static let tasks = ["click", "purchase"]
    static let stepsPerEpoch = 500

    static func loss(_ task: Int, _ step: Int) -> Double { (task == 0 ? 0.45 : 0.06) * exp(-Double(step) / 900) + 0.1 }
    static func weight(_ task: Int, _ step: Int) -> Double { task == 0 ? 1 + Double(step) / 5000 : 1 - Double(step) / 5000 }
    static func cosine(_ step: Int) -> Double { 0.3 - Double(step) / 1500 }
    static func throughput(_ step: Int) -> Double { 11000 + Double(step % 500) * 2.5 }
    static func auc(_ task: Int, _ epoch: Int) -> Double { (task == 0 ? 0.66 : 0.71) + 0.01 * Double(epoch) }
    static func logloss(_ task: Int, _ epoch: Int) -> Double { (task == 0 ? 0.17 : 0.03) - 0.002 * Double(epoch) }

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: url) }

    static func json(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// The series scored on clicked impressions only: a task with `task_sample_space` (MMoE
    /// here), or ESMM's CVR tower.
    static func onClicks(_ tasks: [String] = RunFolderFixture.tasks) -> String { "\(tasks[1]) (on \(tasks[0]) = 1)" }
    static let esmmOnClicks = "cvr (on click = 1)"

    /// run.json, with the oracle when `oracle`.
    func writeRun(tasks: [String] = RunFolderFixture.tasks, oracle: Bool = true, model: String = "mmoe") throws {
        var run: [String: Any] = [
            "model": model, "tasks": tasks,
            "config": ["model": "mmoe", "epochs": 2, "learning_rate": 0.001, "expert_units": [256, 128],
                       "data": ["labels": tasks, "generate": ["rows": 20000, "seed": 7]],
                       "output_dir": "/tmp/r1", "early_stop_task": NSNull(),
                       "sourceYAML": "model: mmoe\nepochs: 2 # <b>two</b>\n"] as [String: Any],
            "blas_core": "SkylakeX", "cpu": "Test CPU @ 2.0GHz", "ranks": 1, "started_at": "2025-03-01T10:00:00Z",
        ]
        if oracle {
            run["oracle_auc"] = ["click": 0.7123, "purchase": 0.7421, "purchase_given_click": 0.6611]
        }
        try write("run.json", RunFolderFixture.json(run))
    }

    /// The step lines (every 100 steps) and epoch lines of `epochs` whole epochs, in file order.
    static func logLines(epochs: Int, tasks: [String] = RunFolderFixture.tasks, onClicks: String? = nil) throws -> [String] {
        var lines: [String] = []
        for epoch in 1...max(1, epochs) where epochs > 0 {
            for step in stride(from: (epoch - 1) * stepsPerEpoch + 100, through: epoch * stepsPerEpoch, by: 100) {
                var line: [String: Any] = [
                    "kind": "step", "step": step, "epoch": epoch,
                    "losses": Dictionary(uniqueKeysWithValues: tasks.enumerated().map { ($1, loss($0, step)) }),
                    "weights": Dictionary(uniqueKeysWithValues: tasks.enumerated().map { ($1, weight($0, step)) }),
                    "samples_per_second": throughput(step),
                ]
                if step % 200 == 0 { line["cosines"] = ["\(tasks[0]),\(tasks[1])": cosine(step)] }
                lines.append(try json(line))
            }
            var validation: [String: Any] = [:]
            for (i, t) in tasks.enumerated() { validation[t] = ["auc": auc(i, epoch), "logloss": logloss(i, epoch)] }
            validation[onClicks ?? RunFolderFixture.onClicks(tasks)] = ["auc": 0.6 + 0.01 * Double(epoch)]
            lines.append(try json([
                "kind": "epoch", "epoch": epoch, "step": epoch * stepsPerEpoch,
                "train_loss": Dictionary(uniqueKeysWithValues: tasks.enumerated().map { ($1, loss($0, epoch * stepsPerEpoch)) }),
                "validation": validation, "samples_per_second": 11500.0, "seconds": 44.5,
            ] as [String: Any]))
        }
        return lines
    }

    /// metrics.json as `TrainingJob.writeMetrics` writes it (the part the report reads, and more).
    func writeMetrics(tasks: [String] = RunFolderFixture.tasks, onClicks: String? = nil,
                      startedAt: String = "2025-03-01T10:00:00Z") throws {
        let test: [[String: Any]] = [
            ["task": tasks[0], "auc": 0.6801, "logloss": 0.1655, "count": 2000, "positives": 81],
            ["task": tasks[1], "auc": 0.7002, "logloss": 0.0281, "count": 2000, "positives": 7],
            ["task": onClicks ?? RunFolderFixture.onClicks(tasks), "auc": 0.61, "logloss": 0.29, "count": 81, "positives": 7],
        ]
        try write("metrics.json", RunFolderFixture.json(["model": "mmoe", "seconds": 93.25, "test": test, "epochs": [],
                                                          "started_at": startedAt] as [String: Any]))
    }

    /// A finished two-epoch run.
    static func finished(oracle: Bool = true) throws -> RunFolderFixture {
        let f = try RunFolderFixture()
        try f.writeRun(oracle: oracle)
        try f.write("train_log.jsonl", logLines(epochs: 2).joined(separator: "\n") + "\n")
        try f.writeMetrics()
        return f
    }

    /// A finished two-epoch ESMM run: its CVR is scored on clicks as `cvr (on click = 1)`.
    static func finishedESMM() throws -> RunFolderFixture {
        let f = try RunFolderFixture()
        try f.writeRun(model: "esmm")
        try f.write("train_log.jsonl", logLines(epochs: 2, onClicks: esmmOnClicks).joined(separator: "\n") + "\n")
        try f.writeMetrics(onClicks: esmmOnClicks)
        return f
    }
}
