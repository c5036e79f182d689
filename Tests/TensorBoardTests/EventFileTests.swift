import Foundation
import RecHubProto
import Testing
@testable import TensorBoard

/// Event files: the version record first, scalars read back exactly, a fresh name when one is
/// taken, and the resume cut (steps after the checkpoint dropped, atomically).
struct EventFileTests {
    static func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-tb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }

    @Test func writesVersionThenScalars() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try EventFileWriter(directory: dir, wallTime: 1_700_000_000.5, hostname: "node1")
        #expect((w.path as NSString).lastPathComponent == "events.out.tfevents.1700000000.node1")
        try w.add(scalars: [("train/loss/click", 0.41), ("train/loss/purchase", 0.05)], step: 10, wallTime: 1_700_000_001)
        try w.add(scalars: [("val/auc/click", 0.7)], step: 20, wallTime: 1_700_000_002)
        let r = try EventFileReader(path: w.path)
        #expect(r.fileVersion == "brain.Event:2" && r.events.count == 3 && r.problem == nil)
        #expect(r.events[0].wallTime == 1_700_000_000.5)
        #expect(r.scalars == [
            .init(step: 10, wallTime: 1_700_000_001, tag: "train/loss/click", value: 0.41),
            .init(step: 10, wallTime: 1_700_000_001, tag: "train/loss/purchase", value: 0.05),
            .init(step: 20, wallTime: 1_700_000_002, tag: "val/auc/click", value: 0.7),
        ])
        let second = try EventFileWriter(directory: dir, wallTime: 1_700_000_000.9, hostname: "node1")
        #expect(second.path == w.path + ".1", "a taken name gets a suffix, never overwritten")
        #expect(try EventFileReader(path: w.path).events.count == 3)
    }

    /// Cutting back to step 20 keeps the version record and steps ≤ 20, drops later steps and
    /// a torn tail; a file with nothing to drop is left untouched.
    @Test func truncateKeepsStepsThroughTheCheckpoint() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try EventFileWriter(directory: dir, wallTime: 1, hostname: "h")
        for step in stride(from: 10, through: 50, by: 10) {
            try w.add(scalars: [("loss", Float(step) / 100)], step: step, wallTime: Double(step))
        }
        let handle = try AppendOnlyFile(path: w.path)
        try handle.append(TFRecordWriter.frame(Data(repeating: 7, count: 40)).prefix(30))  // a torn write
        #expect(throws: TensorBoardError.self) { try EventFileReader(path: w.path) }
        #expect(try EventFileReader(path: w.path, lenient: true).scalars.count == 5)
        #expect(try EventFileReader.truncate(w.path, keepingStepsThrough: 20) == 4)
        let r = try EventFileReader(path: w.path)
        #expect(r.fileVersion == "brain.Event:2")
        #expect(r.scalars.map(\.step) == [10, 20] && r.scalars.map(\.value) == [0.1, 0.2])
        let before = try FileManager.default.attributesOfItem(atPath: w.path)[.modificationDate] as? Date
        usleep(20_000)
        #expect(try EventFileReader.truncate(w.path, keepingStepsThrough: 20) == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: w.path)[.modificationDate] as? Date == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 1, "no temporary file left")
    }

    @Test func recordThatIsNotAnEventIsNamed() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = (dir as NSString).appendingPathComponent("events.out.tfevents.1.h")
        let w = try TFRecordWriter(path: path)
        try w.write(Data([0x1A, 0x10, 0x62]))  // file_version (field 3) announcing 16 bytes, holding 1
        #expect(throws: TensorBoardError.self) { try EventFileReader(path: path) }
        do {
            _ = try EventFileReader(path: path)
        } catch let TensorBoardError.badEvent(file, offset, _) {
            #expect(file == path && offset == 0)
        }
    }
}
