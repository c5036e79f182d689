import Foundation
import TensorBoard

/// The run's training log, written by rank 0 as training goes: `train_log.jsonl` (one JSON
/// object per line, sorted keys) and a TensorBoard event file holding the same values.
///
/// ```
/// {"cosines":{"click,purchase":-0.12},"epoch":1,"kind":"step","losses":{"click":0.41,"purchase":0.05},
///  "samples_per_second":11800.5,"step":300,"weights":{"click":1,"purchase":1}}
/// {"epoch":1,"kind":"epoch","samples_per_second":…,"seconds":…,"step":977,"train_loss":{…},
///  "validation":{"click":{"auc":0.7,"logloss":0.41},"purchase (on click = 1)":{"auc":…,"logloss":…}}}
/// ```
///
/// TensorBoard tags: per step line `train/loss/<task>`, `train/weight/<task>`,
/// `train/samples_per_second` and, on monitored steps, `train/cosine/<a>,<b>`; per epoch line
/// `epoch/train_loss/<task>`, `epoch/samples_per_second` and `val/auc/<series>`,
/// `val/logloss/<series>`, `val/mse/<series>` (a series is a task, or a task over its sample
/// space). An epoch's values sit at the epoch's last global step. A value that is not finite
/// (an undefined metric) is left out of both.
///
/// Every line and event reaches the files before `write` returns, so a killed run keeps all
/// it logged. A resumed run first cuts both back to the checkpoint's step (`init`), then
/// appends: its curves continue the old ones with no step twice.
public final class RunLog {
    /// The folder written to (`output_dir`).
    public let directory: String
    /// Task names, in task order (the keys of `losses`, `weights`, `train_loss`).
    public let taskNames: [String]
    /// What the opening did to earlier files (lines dropped on a resume, old event files
    /// removed on a fresh run), for the run's log; empty when nothing.
    public private(set) var notes: [String] = []
    /// The event file this run appends to.
    public var eventFilePath: String { events.path }
    /// `train_log.jsonl`'s path.
    public var linesPath: String { lines.path }

    private let lines: AppendOnlyFile
    private let events: EventFileWriter
    private let encoder: JSONEncoder

    /// The log's file name in `directory`.
    public static let fileName = "train_log.jsonl"

    /// Opens the run's log in `directory` (which must exist).
    /// - resumingAfter: nil for a fresh run: `train_log.jsonl` starts empty and the folder's
    ///   old event files are removed (they belong to the run being replaced, and TensorBoard
    ///   would draw them over the new one). A step for a resumed run: every line and event after
    ///   it is dropped (each file rewritten atomically, only when something goes), then a new
    ///   event file is started beside the old ones.
    /// - Throws: `TensorBoardError.io` naming the file that cannot be read, rewritten or created.
    public init(directory: String, taskNames: [String], resumingAfter step: Int?) throws {
        self.directory = directory
        self.taskNames = taskNames
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        // A FIFO or device in its place would block or swallow the log: refused, as for --out.
        do { _ = try OutputPlaces.fileTarget(path) } catch {
            throw TensorBoardError.io(file: path, reason: error.reason)
        }
        let old = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter(EventFileWriter.isEventFileName).sorted()
        if let step {
            let dropped = try Self.truncateLines(path, keepingStepsThrough: step)
            if dropped > 0 { notes.append("\(Self.fileName): dropped \(dropped) line(s) after step \(step)") }
            for name in old {
                let file = (directory as NSString).appendingPathComponent(name)
                let n = try EventFileReader.truncate(file, keepingStepsThrough: step)
                if n > 0 { notes.append("\(name): dropped \(n) event(s) after step \(step)") }
            }
        } else {
            for name in old {
                let file = (directory as NSString).appendingPathComponent(name)
                do {
                    try FileManager.default.removeItem(atPath: file)
                } catch {
                    throw TensorBoardError.io(file: file, reason: "cannot remove the previous run's events: \(error.localizedDescription)")
                }
            }
            if !old.isEmpty { notes.append("removed \(old.count) event file(s) of the previous run in \(directory)") }
        }
        lines = try AppendOnlyFile(path: path, truncate: step == nil)
        events = try EventFileWriter(directory: directory)
    }

    /// Rewrites `train_log.jsonl` at `path` without the lines after `step` (and without a torn
    /// last line or a line that is not a JSON object with a step), atomically and only when a
    /// line goes. A missing file is left missing.
    /// - Returns: how many lines were dropped.
    /// - Throws: `TensorBoardError.io` when the file cannot be read or replaced.
    @discardableResult
    public static func truncateLines(_ path: String, keepingStepsThrough step: Int) throws -> Int {
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TensorBoardError.io(file: path, reason: "cannot read the file")
        }
        var kept = Data(), dropped = 0
        var start = data.startIndex
        while start < data.endIndex {
            let end = data[start...].firstIndex(of: UInt8(ascii: "\n"))
            let line = data[start..<(end ?? data.endIndex)]
            start = end.map { $0 + 1 } ?? data.endIndex
            if line.isEmpty && end != nil { continue }
            let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any]
            if end != nil, let s = (object?["step"] as? NSNumber)?.intValue, s <= step {
                kept.append(line)
                kept.append(UInt8(ascii: "\n"))
            } else {
                dropped += 1
            }
        }
        if dropped > 0 { try AppendOnlyFile.replace(path, with: kept) }
        return dropped
    }

    /// Appends a step line and its event.
    /// - Throws: `TensorBoardError.io` when a write fails; `EncodingError`.
    public func write(_ r: StepReport, wallTime: Double = Date().timeIntervalSince1970) throws {
        precondition(r.losses.count == taskNames.count && r.weights.count == taskNames.count,
                     "\(r.losses.count) losses and \(r.weights.count) weights for \(taskNames.count) tasks")
        var line = StepLine(step: r.step, epoch: r.epoch, losses: keyed(r.losses), weights: [:],
                            samplesPerSecond: r.samplesPerSecond.isFinite ? r.samplesPerSecond : nil)
        var scalars: [(tag: String, value: Float)] = []
        for (name, loss) in zip(taskNames, r.losses) where loss.isFinite { scalars.append(("train/loss/\(name)", Float(loss))) }
        for (name, w) in zip(taskNames, r.weights) where w.isFinite {
            line.weights[name] = w
            scalars.append(("train/weight/\(name)", w))
        }
        if let s = line.samplesPerSecond { scalars.append(("train/samples_per_second", Float(s))) }
        if let c = r.cosines {
            let pairs = pairNames
            precondition(c.count == pairs.count, "\(c.count) cosines for \(pairs.count) task pairs")
            line.cosines = keyed(c, names: pairs)
            for (pair, x) in zip(pairs, c) where x.isFinite { scalars.append(("train/cosine/\(pair)", Float(x))) }
        }
        try append(line, scalars: scalars, step: r.step, wallTime: wallTime)
    }

    /// Appends an epoch line and its event, at global step `step` (the epoch's last).
    /// - Throws: `TensorBoardError.io` when a write fails; `EncodingError`.
    public func write(_ e: EpochRecord, step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        var line = EpochLine(epoch: e.epoch, step: step, trainLoss: keyed(e.trainLoss), validation: [:],
                             samplesPerSecond: e.samplesPerSecond.isFinite ? e.samplesPerSecond : nil,
                             seconds: e.seconds.isFinite ? e.seconds : nil)
        var scalars: [(tag: String, value: Float)] = []
        for (name, loss) in zip(taskNames, e.trainLoss) where loss.isFinite {
            scalars.append(("epoch/train_loss/\(name)", Float(loss)))
        }
        if let s = line.samplesPerSecond { scalars.append(("epoch/samples_per_second", Float(s))) }
        for m in e.validation {
            var metrics: [String: Double] = [:]
            for (key, value) in [("auc", m.auc), ("logloss", m.logLoss), ("mse", m.mse)] {
                guard let value, value.isFinite else { continue }
                metrics[key] = value
                scalars.append(("val/\(key)/\(m.task)", Float(value)))
            }
            line.validation[m.task] = metrics
        }
        try append(line, scalars: scalars, step: step, wallTime: wallTime)
    }

    /// "a,b" for every task pair (a, b), a before b, in task order.
    var pairNames: [String] {
        var out: [String] = []
        for a in taskNames.indices {
            for b in taskNames.indices where b > a { out.append("\(taskNames[a]),\(taskNames[b])") }
        }
        return out
    }

    private func keyed(_ values: [Double], names: [String]? = nil) -> [String: Double] {
        var out: [String: Double] = [:]
        for (name, v) in zip(names ?? taskNames, values) where v.isFinite { out[name] = v }
        return out
    }

    private func append<Line: Encodable>(_ line: Line, scalars: [(tag: String, value: Float)], step: Int,
                                         wallTime: Double) throws {
        try lines.append(try encoder.encode(line) + Data("\n".utf8))
        try events.add(scalars: scalars, step: step, wallTime: wallTime)
    }
}

/// A `"kind": "step"` line of `train_log.jsonl`.
private struct StepLine: Encodable {
    let kind = "step"
    var step: Int
    var epoch: Int
    var losses: [String: Double]
    var weights: [String: Float]
    var samplesPerSecond: Double?
    var cosines: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case kind, step, epoch, losses, weights, cosines
        case samplesPerSecond = "samples_per_second"
    }
}

/// A `"kind": "epoch"` line of `train_log.jsonl`.
private struct EpochLine: Encodable {
    let kind = "epoch"
    var epoch: Int
    var step: Int
    var trainLoss: [String: Double]
    var validation: [String: [String: Double]]
    var samplesPerSecond: Double?
    var seconds: Double?

    enum CodingKeys: String, CodingKey {
        case kind, epoch, step, validation, seconds
        case trainLoss = "train_loss", samplesPerSecond = "samples_per_second"
    }
}
