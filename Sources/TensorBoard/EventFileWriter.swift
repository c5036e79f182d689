import Foundation
import RecHubProto
import SwiftProtobuf

/// Writes a TensorBoard event file of scalar curves, record by record as training goes.
///
/// The file is `events.out.tfevents.<seconds>.<hostname>` in `directory` (a `.1`, `.2`, …
/// suffix when that name is taken); its first record is an `Event` with `file_version`
/// "brain.Event:2", every later one an `Event` at a step whose `Summary` holds tagged
/// `simple_value`s (what TensorBoard's scalar dashboard reads). Records are TFRecord-framed
/// (`TFRecordWriter`) and each reaches the file when `add` returns.
///
/// Source: TensorFlow's event.proto and summary.proto (Sources/RecHubProto/Protos), and
/// tensorflow/core/util/events_writer.cc for the file name and the version record.
public final class EventFileWriter {
    /// The `file_version` of the first record; TensorBoard reads version 2 files without
    /// guessing restarts from out-of-order steps.
    public static let fileVersion = "brain.Event:2"
    /// The file's name prefix (TensorBoard loads every file whose name contains "tfevents").
    public static let namePrefix = "events.out.tfevents."
    private let records: TFRecordWriter

    /// The file written.
    public var path: String { records.path }

    /// Creates a new event file in `directory` (which must exist) and writes its version record.
    /// - wallTime: seconds since the Unix epoch, for the name and the first record.
    /// - hostname: the name's last part (this machine's by default).
    /// - Throws: `TensorBoardError.io` naming the file.
    public init(directory: String, wallTime: Double = Date().timeIntervalSince1970,
                hostname: String = EventFileWriter.hostname) throws {
        let base = (directory as NSString).appendingPathComponent(
            Self.namePrefix + String(format: "%010lld", Int64(wallTime.rounded(.down))) + "." + hostname)
        var path = base
        var n = 0
        while FileManager.default.fileExists(atPath: path) {
            n += 1
            path = "\(base).\(n)"
        }
        records = try TFRecordWriter(path: path)
        var event = Tensorboard_Event()
        event.wallTime = wallTime
        event.fileVersion = Self.fileVersion
        try write(event)
    }

    /// Appends one event at `step` holding the scalars (tag, value), e.g.
    /// ("train/loss/click", 0.41).
    /// - wallTime: seconds since the Unix epoch.
    /// - Throws: `TensorBoardError.io` when the write fails.
    public func add(scalars: [(tag: String, value: Float)], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        var summary = Tensorboard_Summary()
        summary.value = scalars.map { s in
            var v = Tensorboard_Summary.Value()
            v.tag = s.tag
            v.simpleValue = s.value
            return v
        }
        var event = Tensorboard_Event()
        event.wallTime = wallTime
        event.step = Int64(step)
        event.summary = summary
        try write(event)
    }

    private func write(_ event: Tensorboard_Event) throws {
        let bytes: Data
        do {
            bytes = try event.serializedBytes()
        } catch {
            throw TensorBoardError.io(file: path, reason: "cannot encode an event: \(error)")
        }
        try records.write(bytes)
    }

    /// This machine's host name (`gethostname`), "localhost" when it has none.
    public static var hostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name.replacingOccurrences(of: "/", with: "_")
    }

    /// Whether `name` is an event file's name (as TensorBoard decides: it contains "tfevents").
    public static func isEventFileName(_ name: String) -> Bool {
        name.contains("tfevents") && !name.contains(".tmp-")
    }
}
