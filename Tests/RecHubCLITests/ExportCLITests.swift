import Foundation
import Testing

/// `rechub export`, run as a user would: a checkpoint becomes an ONNX file; bad input exits 1
/// naming the file or flag. (The file's numbers are proven against `rechub predict` by
/// ONNXExportTests' `ExportCommandTests` and by Tools/interop/check_onnx.py with onnxruntime.)
struct ExportCLITests {
    let cli = RecHubCLITests()

    @Test func exportWritesAnONNXFileAndRefusesBadInput() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (train, newest) = try cli.trainTinyRun(in: dir, batchSize: 250)
        #expect(train.status == 0, "\(train.stderr)")
        let ckpt = try #require(newest)

        let onnx = dir.appendingPathComponent("export/model.onnx")
        let r = try cli.rechub(["export", "--checkpoint", ckpt, "--out", onnx.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("wrote \(onnx.path): mmoe") && r.stdout.contains("sparse_ids int64 (batch, 23)")
                && r.stdout.contains("dense float (batch, 8)") && r.stdout.contains("[click, purchase]")
                && r.stdout.contains("opset 17"), "\(r.stdout)")
        let bytes = try Data(contentsOf: onnx)
        // ModelProto field 1 (ir_version), varint 8: the file starts 0x08 0x08.
        #expect(bytes.count > 1000 && bytes.prefix(2) == Data([0x08, 0x08]))
        #expect(r.stdout.contains("\(bytes.count) bytes"))

        let missing = try cli.rechub(["export", "--checkpoint", dir.appendingPathComponent("nope.rhck").path,
                                      "--out", onnx.path])
        #expect(missing.status == 1 && missing.stderr.contains("nope.rhck"), "\(missing.stderr)")
        let junk = dir.appendingPathComponent("junk.rhck")
        try Data(repeating: 7, count: 200).write(to: junk)
        let corrupt = try cli.rechub(["export", "--checkpoint", junk.path, "--out", onnx.path])
        #expect(corrupt.status == 1 && corrupt.stderr.contains("junk.rhck"), "\(corrupt.stderr)")
        // --out under a regular file: refused before the checkpoint is read, naming the flag.
        let under = try cli.rechub(["export", "--checkpoint", ckpt, "--out", junk.path + "/model.onnx"])
        #expect(under.status == 1 && under.stderr.contains("--out"), "\(under.stderr)")
        let noArgs = try cli.rechub(["export", "--out", onnx.path])
        #expect(noArgs.status != 0 && noArgs.stderr.contains("--checkpoint"))
    }

    @Test func helpDescribesTheGraph() throws {
        let r = try cli.rechub(["export", "--help"])
        #expect(r.status == 0 && r.stdout.contains("opset 17") && r.stdout.contains("sparse_ids")
                && r.stdout.contains("out-of-vocabulary"), "\(r.stdout)")
        #expect(try cli.rechub(["--help"]).stdout.contains("export"))
    }
}
