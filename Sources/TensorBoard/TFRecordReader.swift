import Foundation

/// Reads the records of a TFRecord file (the framing `TFRecordWriter` describes), checking
/// both masked CRCs of every record.
///
/// ```
/// var reader = TFRecordReader(data: bytes, file: path)
/// while let record = try reader.next() { … }
/// ```
public struct TFRecordReader: Sendable {
    /// The whole file's bytes.
    public let data: Data
    /// The file's name, for errors.
    public let file: String
    /// Where the next record starts (bytes from the file's start).
    public private(set) var offset = 0

    /// Reads records from `data`, the contents of `file`.
    public init(data: Data, file: String) {
        self.data = data
        self.file = file
    }

    /// Reads the whole file at `path`.
    /// - Throws: `TensorBoardError.io` when it cannot be read.
    public init(path: String) throws {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw TensorBoardError.io(file: path, reason: "cannot read the file")
        }
        self.init(data: bytes, file: path)
    }

    /// The next record's data, or nil at the end of the file.
    /// - Throws: `TensorBoardError.corruptRecord` naming the record's offset when its length or
    ///   data fails its checksum, or the file ends inside it (a torn last write); the reader
    ///   stays at that record.
    public mutating func next() throws -> Data? {
        let start = offset, total = data.count
        guard start < total else { return nil }
        func corrupt(_ reason: String) -> TensorBoardError { .corruptRecord(file: file, offset: start, reason: reason) }
        guard total - start >= 12 else { throw corrupt("the file ends inside the record's header (\(total - start) bytes)") }
        let (length, lengthOK) = data.withUnsafeBytes { raw -> (UInt64, Bool) in
            let base = raw.baseAddress! + start
            let n = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
            let stored = UInt32(littleEndian: (base + 8).loadUnaligned(as: UInt32.self))
            return (n, CRC32C.maskedChecksum(UnsafeRawBufferPointer(start: base, count: 8)) == stored)
        }
        guard lengthOK else { throw corrupt("the length's checksum does not match") }
        guard length <= UInt64(total - start - 12), Int(length) <= total - start - 16 else {
            throw corrupt("the file ends inside the record (\(length) data bytes announced, \(total - start - 12) left)")
        }
        let n = Int(length)
        let dataOK = data.withUnsafeBytes { raw -> Bool in
            let body = raw.baseAddress! + start + 12
            let stored = UInt32(littleEndian: (body + n).loadUnaligned(as: UInt32.self))
            return CRC32C.maskedChecksum(UnsafeRawBufferPointer(start: body, count: n)) == stored
        }
        guard dataOK else { throw corrupt("the data's checksum does not match") }
        offset = start + 16 + n
        let first = data.startIndex + start + 12
        return data.subdata(in: first..<(first + n))
    }

    /// Every record of the file.
    /// - Throws: `TensorBoardError.corruptRecord` at the first bad record.
    public mutating func readAll() throws -> [Data] {
        var out: [Data] = []
        while let r = try next() { out.append(r) }
        return out
    }
}
