import Foundation
import ONNXExport
import RecHub
import Testing

/// The exported file's metadata arrays are JSON of their element types (numbers for the
/// vocabulary sizes), and `ONNXExporter.write` writes through a symbolic link and refuses a
/// path that is not a regular file instead of replacing it.
struct ONNXExporterOutputTests {
    static let features = Features(sparseNames: ["user", "item", "city"], vocabularySizes: [9995, 10, 4], embeddingDim: 4,
                                   denseNames: ["D1", "D2"])

    func model() -> any MultiTaskModel {
        let m = MMoE(features: Self.features, expertUnits: [8], numExperts: 2, numTasks: 2, towerUnits: [4])
        m.initialize(seed: 1)
        return m
    }

    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-onnx-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }

    @Test func metadataArraysHoldNumbersAndStrings() throws {
        let proto = try ONNXExporter.makeModel(model(), taskNames: ["click", "purchase"])
        let meta = Dictionary(uniqueKeysWithValues: proto.metadataProps.map { ($0.key, $0.value) })
        func array(_ key: String) throws -> [Any] {
            let text = try #require(meta[key])
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any], "\(key)")
        }
        #expect(meta["rechub.vocabulary_sizes"] == "[9995,10,4]")
        #expect(try array("rechub.vocabulary_sizes") as? [Int] == [9995, 10, 4])
        #expect(try array("rechub.tasks") as? [String] == ["click", "purchase"])
        #expect(try array("rechub.task_types") as? [String] == ["classification", "classification"])
        #expect(try array("rechub.sparse_features") as? [String] == ["user", "item", "city"])
        #expect(try array("rechub.dense_features") as? [String] == ["D1", "D2"])
        #expect(try array("rechub.outputs") as? [String] == ["predictions"])
        #expect(meta["rechub.model"] == "mmoe")
    }

    @Test func writeGoesThroughALinkAndRefusesAFIFO() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = "\(dir)/exports/model.onnx", link = "\(dir)/link.onnx"
        try FileManager.default.createDirectory(atPath: "\(dir)/exports", withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: target, contents: Data("old".utf8))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "exports/model.onnx")
        let bytes = try ONNXExporter.write(model(), taskNames: ["click", "purchase"], to: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "exports/model.onnx", "the link is kept")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)).count == bytes)

        let fifo = "\(dir)/pipe"
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(throws: ONNXExportError.cannotWrite(path: fifo, reason: "it is a FIFO (named pipe), not a regular file")) {
            try ONNXExporter.write(model(), taskNames: ["click", "purchase"], to: fifo)
        }
        var st = stat()
        #expect(lstat(fifo, &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO, "the FIFO is left alone")
    }
}
