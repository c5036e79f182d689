import Foundation
import RecHub
import Testing

/// A file a run writes (atomically: a new file renamed over the path) is written through a
/// symbolic link, keeping the link, and a path that is not a regular file (a folder, FIFO,
/// device or socket) is refused naming the setting and the path, instead of being replaced by
/// a regular file.
struct OutputPlacesLinkTests {
    func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-links-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }

    func isLink(_ path: String) -> Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
    }

    func isFIFO(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO
    }

    func tinyModel() -> any MultiTaskModel {
        let features = Features(sparseNames: ["user", "item"], vocabularySizes: [5, 7], embeddingDim: 2, denseNames: ["d"])
        let model = MMoE(features: features, expertUnits: [4], numExperts: 2, numTasks: 2, towerUnits: [2])
        model.initialize(seed: 3)
        return model
    }

    @Test func aLinkLeadsToItsTarget() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let real = "\(dir)/real.bin"
        _ = FileManager.default.createFile(atPath: real, contents: Data("x".utf8))
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/absolute", withDestinationPath: real)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/relative", withDestinationPath: "real.bin")
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/chain", withDestinationPath: "relative")
        #expect(try OutputPlaces.fileTarget(real) == real)
        #expect(try OutputPlaces.fileTarget("\(dir)/missing.bin") == "\(dir)/missing.bin")
        for name in ["absolute", "relative", "chain"] { #expect(try OutputPlaces.fileTarget("\(dir)/\(name)") == real, "\(name)") }
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/loop-a", withDestinationPath: "loop-b")
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/loop-b", withDestinationPath: "loop-a")
        #expect(throws: OutputPlaces.Refusal.self) { try OutputPlaces.fileTarget("\(dir)/loop-a") }
    }

    /// The FIFO stands for every special file (as root a test must not make device nodes);
    /// a link to one is refused alike, naming the link's target.
    @Test(arguments: ["fifo", "folder", "link to fifo"])
    func whatARenameWouldReplaceIsRefused(kind: String) throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = "\(dir)/pipe", path = kind == "link to fifo" ? "\(dir)/link" : kind == "fifo" ? fifo : "\(dir)/folder"
        #expect(mkfifo(fifo, 0o644) == 0)
        try FileManager.default.createDirectory(atPath: "\(dir)/folder", withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link", withDestinationPath: "pipe")
        do {
            try OutputPlaces.check([.init(key: "--save-parameters", path: path, isFolder: false)])
            Issue.record("accepted \(path)")
        } catch let e as ConfigError {
            #expect(e.key == "--save-parameters" && e.message.contains(path), "\(e)")
            #expect(e.message.contains(kind == "folder" ? "a folder, not a regular file" : "a FIFO (named pipe), not a regular file"), "\(e)")
            if kind == "link to fifo" { #expect(e.message.contains("the link's target \(dir)/pipe"), "\(e)") }
        }
        #expect(isFIFO(fifo) && isLink("\(dir)/link"))
    }

    @Test func saveParametersWritesThroughALinkAndRefusesAFIFO() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = tinyModel()
        // A link to a file in a missing folder: checked (which creates the folder) and written
        // as if the target had been named.
        let link = "\(dir)/params.bin", target = "\(dir)/runs/a/params.bin"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "runs/a/params.bin")
        #expect(try OutputPlaces.check([.init(key: "--save-parameters", path: link, isFolder: false)]) == [target])
        try saveParameters(model, to: link)
        #expect(isLink(link), "the link is kept")
        let (dense, embeddings) = try loadParameters(from: target)
        #expect(dense.count == model.parameters.count && embeddings.count == model.embeddings.weights.count)
        #expect(dense == Array(UnsafeBufferPointer(start: model.parameters.base, count: model.parameters.count)))

        let fifo = "\(dir)/pipe"
        #expect(mkfifo(fifo, 0o644) == 0)
        do {
            try saveParameters(model, to: fifo)
            Issue.record("wrote over the FIFO")
        } catch let e as DatasetError {
            #expect("\(e)".contains(fifo) && "\(e)".contains("FIFO"), "\(e)")
        }
        #expect(isFIFO(fifo), "the FIFO is left alone")
    }
}

/// The run log's own file is held to the same rule as an --out file: a FIFO in its place is
/// refused at once (opening it for appending blocked the run forever).
struct RunLogFileTests {
    @Test func aFIFOInPlaceOfTheRunLogIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-runlog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo("\(dir)/\(RunLog.fileName)", 0o644) == 0)
        #expect {
            _ = try RunLog(directory: dir, taskNames: ["click"], resumingAfter: nil)
        } throws: { "\($0)".contains("FIFO") && "\($0)".contains(RunLog.fileName) }
    }
}
