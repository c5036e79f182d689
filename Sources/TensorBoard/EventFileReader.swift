import Foundation
import RecHubProto
import SwiftProtobuf

/// Reads the events of a TensorBoard event file (what `EventFileWriter` writes), and cuts a
/// file back to a step for a resumed run.
public struct EventFileReader: Sendable {
    /// One scalar read back: its step, wall time, tag and value.
    public struct Scalar: Sendable, Equatable {
        /// The step of its event.
        public var step: Int
        /// Its event's wall time (seconds since the Unix epoch).
        public var wallTime: Double
        /// The curve's name.
        public var tag: String
        /// The value.
        public var value: Float
    }

    /// The file read.
    public let path: String
    /// Its events in file order, the version record first.
    public let events: [Tensorboard_Event]
    /// Why reading stopped before the end of the file (a torn or corrupt record), or nil when
    /// every byte was read. Only with `lenient: true`.
    public let problem: TensorBoardError?

    /// Reads every event of the file at `path`.
    /// - lenient: stop at a corrupt or torn record and name it in `problem`, instead of throwing
    ///   (what a killed writer leaves at the end).
    /// - Throws: `TensorBoardError` naming the file: it cannot be read, a record fails its
    ///   checksum (unless lenient), or a record is not an `Event`.
    public init(path: String, lenient: Bool = false) throws {
        self.path = path
        var reader = try TFRecordReader(path: path)
        var events: [Tensorboard_Event] = []
        var problem: TensorBoardError?
        while true {
            let offset = reader.offset
            let record: Data?
            do {
                record = try reader.next()
            } catch let e as TensorBoardError {
                if !lenient { throw e }
                problem = e
                break
            }
            guard let record else { break }
            do {
                events.append(try Tensorboard_Event(serializedBytes: record))
            } catch {
                let e = TensorBoardError.badEvent(file: path, offset: offset, reason: "\(error)")
                if !lenient { throw e }
                problem = e
                break
            }
        }
        self.events = events
        self.problem = problem
    }

    /// The file's `file_version` (its first record's), or nil.
    public var fileVersion: String? {
        guard let first = events.first, case .fileVersion(let v)? = first.what else { return nil }
        return v
    }

    /// Every scalar (`simple_value`) in file order.
    public var scalars: [Scalar] {
        events.flatMap { e -> [Scalar] in
            guard case .summary(let s)? = e.what else { return [] }
            return s.value.compactMap { v in
                guard case .simpleValue(let x)? = v.value else { return nil }
                return Scalar(step: Int(e.step), wallTime: e.wallTime, tag: v.tag, value: x)
            }
        }
    }

    /// Rewrites the event file at `path` (atomically) without any event after `step`, and
    /// without a torn or corrupt tail; the version record stays. Unchanged files are left alone.
    /// A resumed run calls this on the run's old files before writing a new one whose steps
    /// start after `step`, so that TensorBoard, which reads every file of the folder, shows
    /// each step once.
    /// - Returns: how many events were dropped (a torn tail counts as one).
    /// - Throws: `TensorBoardError` naming the file when it cannot be read or replaced.
    @discardableResult
    public static func truncate(_ path: String, keepingStepsThrough step: Int) throws -> Int {
        let file = try EventFileReader(path: path, lenient: true)
        let kept = file.events.filter { e in
            if case .fileVersion? = e.what { return true }
            return e.step <= Int64(step)
        }
        let dropped = file.events.count - kept.count + (file.problem == nil ? 0 : 1)
        guard dropped > 0 else { return 0 }
        var out = Data()
        for e in kept {
            do {
                out.append(TFRecordWriter.frame(try e.serializedBytes()))
            } catch {
                throw TensorBoardError.io(file: path, reason: "cannot re-encode an event: \(error)")
            }
        }
        try AppendOnlyFile.replace(path, with: out)
        return dropped
    }
}
