import Foundation

/// Writes TFRecord files: each record framed as
///
/// ```
/// length       UInt64, little-endian
/// masked CRC   UInt32 LE, CRC32C.mask(crc32c(length's 8 bytes))
/// data         length bytes
/// masked CRC   UInt32 LE, CRC32C.mask(crc32c(data))
/// ```
///
/// Source: TensorFlow, tensorflow/core/lib/io/record_writer.h (the record format comment),
/// the framing of TensorBoard's event files. Each record reaches the file in one write
/// (see `AppendOnlyFile`), so a killed writer leaves whole records, at worst a torn last one.
public final class TFRecordWriter {
    /// Bytes of framing around a record's data: 8 + 4 before it, 4 after.
    public static let overhead = 16
    private let file: AppendOnlyFile

    /// The file written.
    public var path: String { file.path }

    /// Opens `path` for appending records (created when absent).
    /// - truncate: start the file empty.
    /// - Throws: `TensorBoardError.io` naming the path.
    public init(path: String, truncate: Bool = false) throws {
        file = try AppendOnlyFile(path: path, truncate: truncate)
    }

    /// Appends one record holding `data`.
    /// - Throws: `TensorBoardError.io` when the write fails.
    public func write(_ data: Data) throws {
        try file.append(Self.frame(data))
    }

    /// `data` framed as one TFRecord (length, its masked CRC, data, its masked CRC).
    public static func frame(_ data: Data) -> Data {
        var out = Data(capacity: data.count + overhead)
        var length = UInt64(data.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        var lengthCRC = CRC32C.mask(withUnsafeBytes(of: &length) { CRC32C.checksum($0) }).littleEndian
        withUnsafeBytes(of: &lengthCRC) { out.append(contentsOf: $0) }
        out.append(data)
        var dataCRC = CRC32C.mask(data.withUnsafeBytes { CRC32C.checksum($0) }).littleEndian
        withUnsafeBytes(of: &dataCRC) { out.append(contentsOf: $0) }
        return out
    }
}
