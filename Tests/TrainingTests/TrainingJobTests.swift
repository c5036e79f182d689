import Foundation
import RecHub
import Testing

/// Whole jobs: generated data end to end, and the real Ali-CCP sample slices. Every job here
/// pins one BLAS thread: the thread count is process-wide and a different count changes
/// OpenBLAS's summation order, hence the last bits.
struct TrainingJobTests {
    static let shared = TrainConfigTests.root.deletingLastPathComponent().appendingPathComponent("shared/data")
    static let hasShared = FileManager.default.fileExists(atPath: shared.appendingPathComponent("ali-ccp").path)

    func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-job-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }

    @Test func generatedJobIsDeterministicAndWritesMetrics() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var node = try ConfigNode.parse(yaml: defaultConfigYAML, file: "default")
        for s in ["data.generate.rows=6000", "data.generate.val_rows=2000", "data.generate.test_rows=2000",
                  "data.generate.scale=0.01", "data.generate.dir=\(dir)/data", "output_dir=\(dir)/out",
                  "expert_units=[16]", "num_experts=2", "tower_units=[8]", "batch_size=256", "threads=1"] {
            node = try node.setting(s)
        }
        let config = try TrainConfig.parse(node)
        var job = TrainingJob(config: config)
        var lines: [String] = []
        job.log = { lines.append($0) }
        let a = try job.run()
        let b = try job.run()
        #expect(a.test.map(\.auc) == b.test.map(\.auc) && a.test.map(\.logLoss) == b.test.map(\.logLoss),
                "same config and seed give the same metrics to the last digit")
        #expect(b.generation?.reused == true && a.generation?.reused == false)
        #expect(a.test.count == 2 && a.generation?.oracle("click") ?? 0 > 0.6)
        #expect(lines.contains { $0.hasPrefix("test  click auc") && $0.contains("oracle click") })
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/out/metrics.json")))
        #expect((json as? [String: Any])?["test"] != nil)
    }

    /// The shipped CVR-on-clicks baseline, shrunk: its purchase task is scored over clicked
    /// rows too (the count is the number of clicks), early stopping reads that score, and the
    /// test line carries the oracle of the true pCVR over clicked impressions.
    @Test func cvrOnClicksIsScoredOnClicks() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = TrainConfigTests.root.appendingPathComponent("Configs/cvr_on_clicks.yaml")
        var node = try ConfigNode.parse(yaml: String(contentsOf: file, encoding: .utf8), file: file.path)
        for s in ["data.generate.rows=8000", "data.generate.val_rows=4000", "data.generate.test_rows=4000",
                  "data.generate.scale=0.01", "data.generate.selection_bias=0.5", "data.generate.dir=\(dir)/data",
                  "output_dir=\(dir)/out", "hidden_units=[16]", "task_hidden_units=[8]", "batch_size=256", "threads=1",
                  "epochs=2", "earlystop_task=purchase", "earlystop_patience=1"] {
            node = try node.setting(s)
        }
        var job = TrainingJob(config: try TrainConfig.parse(node))
        var lines: [String] = []
        job.log = { lines.append($0) }
        let result = try job.run()
        let clicked = result.test.first { $0.task == "purchase (on click = 1)" }
        #expect(result.test.map(\.task) == ["purchase", "purchase (on click = 1)"], "\(result.test.map(\.task))")
        #expect(clicked.map { $0.count > 50 && $0.count < 400 } == true, "clicked test rows \(clicked?.count ?? -1)")
        #expect(result.generation?.oracle("purchase_given_click") != nil)
        #expect(lines.contains { $0.hasPrefix("test  ") && $0.contains("purchase|click") }, "\(lines)")
    }

    @Test(.enabled(if: hasShared, "../shared/data is absent: the real Ali-CCP sample run is skipped"))
    func realAliCCPSamplesTrain() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = Self.shared.appendingPathComponent("ali-ccp").path
        let yaml = """
            model: mmoe
            data:
              train: \(base)/ali_ccp_train_sample.csv
              val: \(base)/ali_ccp_val_sample.csv
              test: \(base)/ali_ccp_test_sample.csv
              cache_dir: \(dir)/cache
            expert_units: [16]
            num_experts: 2
            tower_units: [8]
            batch_size: 32
            epochs: 2
            threads: 1
            output_dir: \(dir)/out
            """
        var job = TrainingJob(config: try TrainConfig.parse(ConfigNode.parse(yaml: yaml, file: "sample.yaml")))
        job.log = { _ in }
        let r = try job.run()
        #expect(r.history.count == 2 && r.test.count == 2 && r.test[0].count == 50)
        #expect(r.history.allSatisfy { $0.trainLoss.allSatisfy(\.isFinite) })
    }
}
