/// What can go wrong reading or writing TensorBoard's files; every case names the file.
public enum TensorBoardError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file could not be created, written, read or renamed.
    case io(file: String, reason: String)
    /// A TFRecord's length or data does not match its checksum, or the file ends inside a
    /// record. `offset` is the record's first byte in the file.
    case corruptRecord(file: String, offset: Int, reason: String)
    /// A record's bytes are not an `Event` message.
    case badEvent(file: String, offset: Int, reason: String)

    public var description: String {
        switch self {
        case let .io(file, reason): return "\(file): \(reason)"
        case let .corruptRecord(file, offset, reason): return "\(file): record at byte \(offset): \(reason)"
        case let .badEvent(file, offset, reason): return "\(file): record at byte \(offset) is not an Event: \(reason)"
        }
    }
}
