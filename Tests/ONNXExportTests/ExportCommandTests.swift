import Foundation
import ONNXExport
import Testing

/// End to end through the built `rechub`: train a batch-norm MMoE, `rechub export` its
/// checkpoint, `rechub predict` test rows with ids past the vocabulary, and evaluate the
/// exported file with `ONNXReferenceEvaluator` on the same rows: the graph gives predict's
/// numbers within 1e-5 for every row and task.
struct ExportCommandTests {
    /// The `rechub` built beside this test bundle (same configuration); build it first.
    static let binary: URL = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("rechub")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "rechub")
    }()

    /// Runs `rechub`; returns its status, stdout and stderr.
    func rechub(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        // Output goes to files, not pipes (see RecHubCLITests.rechub: a pipe's write end can leak
        // into an MPI singleton's orted that another test starts in this process).
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment
            .filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") && !$0.key.hasPrefix("PMI_") }
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-export-out-\(UUID().uuidString)")
        let outURL = base.appendingPathExtension("stdout"), errURL = base.appendingPathExtension("stderr")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        p.standardOutput = out
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        try out.close()
        try err.close()
        return (p.terminationStatus, String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    @Test func exportedCheckpointMatchesPredict() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = try rechub(["train", "--set", "data.generate.rows=2000", "--set", "data.generate.val_rows=300",
                                "--set", "data.generate.test_rows=300", "--set", "data.generate.scale=0.01",
                                "--set", "data.generate.dir=\(dir.path)/data", "--set", "output_dir=\(dir.path)/out",
                                "--set", "expert_units=[12, 8]", "--set", "num_experts=3", "--set", "tower_units=[4]",
                                "--set", "batch_norm=true", "--set", "batch_size=100", "--set", "threads=1"])
        #expect(train.status == 0, "\(train.stderr)")
        let folder = dir.appendingPathComponent("out/checkpoints")
        let ckpt = folder.appendingPathComponent(try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".rhck") }.sorted().last!).path
        let onnx = dir.appendingPathComponent("model.onnx")
        let export = try rechub(["export", "--checkpoint", ckpt, "--out", onnx.path])
        #expect(export.status == 0, "\(export.stderr)")

        // 300 test rows (no scoring or training batch size), every 7th id moved past the vocabulary.
        let model = try ONNXReferenceEvaluator(bytes: Data(contentsOf: onnx))
        let meta = Dictionary(uniqueKeysWithValues: model.model.metadataProps.map { ($0.key, $0.value) })
        func list(_ key: String) throws -> [String] {
            try JSONSerialization.jsonObject(with: Data(try #require(meta[key]).utf8)) as? [String] ?? []
        }
        let sparse = try list("rechub.sparse_features"), dense = try list("rechub.dense_features")
        let sizes = try #require(meta["rechub.vocabulary_sizes"])
        let vocab = try #require(try JSONSerialization.jsonObject(with: Data(sizes.utf8)) as? [Int]).map(Int64.init)
        let lines = try String(contentsOf: dir.appendingPathComponent("data/test.csv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = lines[0]
        var rows = Array(lines.dropFirst())
        let sparseColumns = try sparse.map { name in try #require(header.firstIndex(of: name)) }
        let denseColumns = try dense.map { name in try #require(header.firstIndex(of: name)) }
        var ids: [Int64] = [], values: [Double] = [], moved = 0
        for (r, _) in rows.enumerated() {
            for (f, c) in sparseColumns.enumerated() {
                if (r * sparse.count + f) % 7 == 0 {
                    rows[r][c] = String(vocab[f] + Int64(r % 5))
                    moved += 1
                }
                ids.append(try #require(Int64(rows[r][c])))
            }
            for c in denseColumns { values.append(try #require(Double(rows[r][c]))) }
        }
        let input = dir.appendingPathComponent("rows.csv")
        try ([header] + rows).map { $0.joined(separator: ",") }.joined(separator: "\n").appending("\n")
            .write(to: input, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("predict.csv")
        let predict = try rechub(["predict", "--checkpoint", ckpt, "--data", input.path, "--out", out.path])
        #expect(predict.status == 0, "\(predict.stderr)")
        let expected = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",").compactMap { Double($0) } }

        let n = rows.count
        let result = try model.run([
            ONNXExporter.sparseInput: RefTensor(shape: [n, sparse.count], values: .int(ids)),
            ONNXExporter.denseInput: RefTensor(shape: [n, dense.count], values: .float(values)),
        ])
        let got = try #require(result[ONNXExporter.predictionsOutput])
        #expect(got.shape == [n, 2] && expected.count == n && moved > 0)
        let p = try got.floats()
        var worst = 0.0
        for i in 0..<n { for t in 0..<2 { worst = max(worst, abs(p[i * 2 + t] - expected[i][t])) } }
        #expect(worst <= 1e-5, "max |onnx − predict| = \(worst)")
    }
}
