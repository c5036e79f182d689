import Foundation
import Testing
@testable import TensorBoard

/// TFRecord framing: round trip through a file, the exact layout, and every kind of damage
/// detected with the record's offset named.
struct TFRecordTests {
    static func tempPath(_ name: String = "records") -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("rechub-tb-\(UUID().uuidString)-\(name)").path
    }

    static let records: [Data] = [Data(), Data("a".utf8), Data((0..<1000).map { UInt8($0 % 251) }), Data("brain".utf8)]

    @Test func roundTripThroughAFile() throws {
        let path = Self.tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try TFRecordWriter(path: path)
        for r in Self.records { try writer.write(r) }
        var reader = try TFRecordReader(path: path)
        #expect(try reader.readAll() == Self.records)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == Self.records.map { $0.count + 16 }.reduce(0, +))
    }

    /// A second writer on the same path appends after the first one's records.
    @Test func reopeningAppends() throws {
        let path = Self.tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TFRecordWriter(path: path).write(Self.records[1])
        try TFRecordWriter(path: path).write(Self.records[3])
        var reader = try TFRecordReader(path: path)
        #expect(try reader.readAll() == [Self.records[1], Self.records[3]])
    }

    /// The frame is length (u64 LE), its masked CRC, the data, the data's masked CRC.
    @Test func frameLayout() {
        let data = Data("123456789".utf8)
        let frame = [UInt8](TFRecordWriter.frame(data))
        #expect(frame.count == 9 + 16)
        #expect(frame[0..<8] == [9, 0, 0, 0, 0, 0, 0, 0])
        func u32(_ at: Int) -> UInt32 { frame[at..<(at + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        #expect(u32(8) == CRC32C.mask(CRC32C.checksum(frame[0..<8])))
        #expect(Array(frame[12..<21]) == Array(data))
        #expect(u32(21) == CRC32C.mask(0xE306_9283))
    }

    /// TensorBoard's own record writer frames "brain" as these bytes, and its masked CRC of
    /// "123456789" is 0xC78AB0E5. Generated with tensorboard 2.21.0:
    ///
    /// ```python
    /// import io
    /// from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
    /// from tensorboard.summary.writer.record_writer import RecordWriter
    /// print(hex(masked_crc32c(b"123456789")))
    /// buf = io.BytesIO(); RecordWriter(buf).write(b"brain")
    /// print(", ".join("0x%02X" % b for b in buf.getvalue()))
    /// ```
    @Test func sameBytesAsTensorBoardsWriter() {
        #expect(Array(TFRecordWriter.frame(Data("brain".utf8))) == [
            0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xEA, 0xB2, 0x04, 0x3E,
            0x62, 0x72, 0x61, 0x69, 0x6E, 0x92, 0xD2, 0x79, 0xCB,
        ])
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32C.maskedChecksum($0) } == 0xC78A_B0E5)
    }

    /// A flipped bit in the length, a length CRC, the data or the data CRC, and a file cut
    /// inside a record: each is refused naming the record's offset.
    @Test(arguments: [("length", 0), ("length crc", 9), ("data", 14), ("data crc", 18)])
    func corruptionIsDetected(part: String, at: Int) throws {
        var bytes = [UInt8](TFRecordWriter.frame(Data("first".utf8)))
        let second = bytes.count
        bytes += [UInt8](TFRecordWriter.frame(Data("second record".utf8)))
        bytes[second + at] ^= 0x10
        var reader = TFRecordReader(data: Data(bytes), file: "x.tfevents")
        #expect(try reader.next() == Data("first".utf8))
        do {
            _ = try reader.next()
            Issue.record("a flipped bit in the \(part) was not detected")
        } catch let TensorBoardError.corruptRecord(file, offset, reason) {
            #expect(file == "x.tfevents" && offset == second, "\(reason)")
            #expect(reason.contains(part.hasPrefix("data") ? "data" : "length") || reason.contains("ends inside"), "\(part): \(reason)")
        }
        #expect(reader.offset == second, "the reader stays at the bad record")
    }

    @Test(arguments: [1, 11, 12, 20, 27])
    func tornTailIsDetected(keep: Int) throws {
        let one = [UInt8](TFRecordWriter.frame(Data("whole".utf8)))
        let bytes = one + [UInt8](TFRecordWriter.frame(Data("torn record!".utf8))).prefix(keep)
        var reader = TFRecordReader(data: Data(bytes), file: "t")
        #expect(try reader.next() == Data("whole".utf8))
        #expect(throws: TensorBoardError.self) { try reader.next() }
    }

    @Test func missingFileIsNamed() {
        #expect(throws: TensorBoardError.io(file: "/nonexistent/x", reason: "cannot read the file")) {
            try TFRecordReader(path: "/nonexistent/x")
        }
    }
}
