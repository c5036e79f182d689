import Foundation

/// Everything a training run's `output_dir` records, read back: `run.json` (the run), the
/// step and epoch lines of `train_log.jsonl`, and `metrics.json` once the run has finished.
///
/// A run that is still going, or was killed, is read as far as it got: without
/// `metrics.json` the test metrics are nil, and a last line of `train_log.jsonl` without its
/// newline that is not JSON (a write cut short by the kill) is skipped and noted. Any other line
/// that is not JSON, or a line whose fields are wrong, is an error naming the file and line;
/// blank lines, and kinds and fields the reader does not know, are skipped.
public struct RunRecord: Sendable {
    /// The run folder as given.
    public var directory: String
    /// `run.json`.
    public var info: RunDescription
    /// The step lines, in file order.
    public var steps: [LoggedStep]
    /// The epoch lines, in file order.
    public var epochs: [LoggedEpoch]
    /// `metrics.json`'s test metrics; nil when the run has not written `metrics.json`.
    public var test: [TestMetric]?
    /// `metrics.json`'s total wall time, seconds.
    public var totalSeconds: Double?
    /// What was skipped or missing while reading (an incomplete last line, no log yet).
    public var notes: [String]

    /// The file names inside a run folder.
    public static let runFile = "run.json", logFile = "train_log.jsonl", metricsFile = "metrics.json"

    /// A record built from values already read (for callers that assemble one in memory).
    public init(directory: String, info: RunDescription, steps: [LoggedStep], epochs: [LoggedEpoch], test: [TestMetric]?,
                totalSeconds: Double? = nil, notes: [String] = []) {
        self.directory = directory
        self.info = info
        self.steps = steps
        self.epochs = epochs
        self.test = test
        self.totalSeconds = totalSeconds
        self.notes = notes
    }

    /// Reads the run folder `directory`.
    /// - Throws: `ReportError.noSuchFolder` when it does not exist; `.notAFolder` when it is a
    ///   file; `.notARun` when it has no `run.json`; `.unreadable`, `.malformedJSON` (file and
    ///   line) and `.badField` (file, line and field) for files that cannot be read or do not
    ///   follow the run-folder format.
    public static func load(directory: String) throws -> RunRecord {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder) else {
            throw ReportError.noSuchFolder(path: directory)
        }
        guard isFolder.boolValue else { throw ReportError.notAFolder(path: directory) }
        let folder = URL(fileURLWithPath: directory)
        let runPath = folder.appendingPathComponent(runFile).path
        guard FileManager.default.fileExists(atPath: runPath) else {
            throw ReportError.notARun(folder: directory, lookedFor: runPath)
        }
        let info = try RunDescription(JSONObjectReader(parseDocument(at: runPath), file: runPath))

        var notes: [String] = []
        var steps: [LoggedStep] = [], epochs: [LoggedEpoch] = []
        let logPath = folder.appendingPathComponent(logFile).path
        if FileManager.default.fileExists(atPath: logPath) {
            (steps, epochs, notes) = try readLog(at: logPath)
        } else {
            notes.append("\(logPath) not found: no step has been logged yet")
        }

        var test: [TestMetric]?
        var totalSeconds: Double?
        let metricsPath = folder.appendingPathComponent(metricsFile).path
        var metrics: JSONObjectReader?
        if FileManager.default.fileExists(atPath: metricsPath) {
            let m = try JSONObjectReader(parseDocument(at: metricsPath), file: metricsPath)
            // A metrics.json from an earlier run in the same folder (this one was started again,
            // or resumed past its end, and has not finished) is not this run's.
            let started = try m.optionalString("started_at")
            if let started, let mine = info.startedAt, started != mine {
                notes.append("\(metricsPath) is from an earlier run (started \(started)), not this one (started \(mine)): "
                             + "the run has not finished")
            } else {
                metrics = m
            }
        } else {
            notes.append("\(metricsPath) not found: the run has not finished (still going, or stopped early)")
        }
        if let m = metrics {
            guard let list = m.value("test") else {
                throw ReportError.badField(file: metricsPath, line: nil, field: "test", reason: "is missing")
            }
            guard case .array(let items) = list else {
                throw ReportError.badField(file: metricsPath, line: nil, field: "test",
                                           reason: "should be an array, found \(list.kindName)")
            }
            test = try items.enumerated().map { i, item in
                try TestMetric(JSONObjectReader(item, file: metricsPath, path: "test[\(i)]"))
            }
            totalSeconds = try m.optionalNumber("seconds")
        }
        return RunRecord(directory: directory, info: info, steps: steps, epochs: epochs, test: test,
                         totalSeconds: totalSeconds, notes: notes)
    }

    private static func readData(at path: String) throws -> Data {
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ReportError.unreadable(file: path, reason: (error as NSError).localizedDescription)
        }
    }

    private static func parseDocument(at path: String) throws -> JSONValue {
        do { return try JSONValue.parse(readData(at: path)) } catch let e as ReportError { throw e } catch {
            throw ReportError.malformedJSON(file: path, line: nil, reason: describe(error))
        }
    }

    /// A decoding error in a few words (Foundation's own text names no file).
    private static func describe(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let c) = error {
            let underlying = (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return underlying ?? c.debugDescription
        }
        // JSONValue tries each kind of value in turn: a number no double holds (1e400) fails
        // them all, the last attempt's "expected Dictionary" being no help.
        if case DecodingError.typeMismatch = error { return "a value this reader cannot hold (a number past a double's range?)" }
        return "\(error)"
    }

    /// Reads `train_log.jsonl`: every line is one JSON object with a `kind`.
    ///
    /// Blank lines are skipped (they hold nothing), and so are kinds and fields this reader does
    /// not know (a newer writer may add them). The writer ends every line with a newline, so
    /// only a last line without one can be a write cut short: when it is not JSON it is skipped
    /// and noted. Any other line that is not JSON is an error naming the file and line.
    private static func readLog(at path: String) throws -> ([LoggedStep], [LoggedEpoch], [String]) {
        let data = try readData(at: path)
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let isBlank: (Data.SubSequence) -> Bool = { $0.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }
        // The text after the last newline (empty when the file ends with one).
        let unterminated = lines.count - 1
        var steps: [LoggedStep] = [], epochs: [LoggedEpoch] = [], notes: [String] = []
        for (i, bytes) in lines.enumerated() where !isBlank(bytes) {
            let lineNumber = i + 1
            let value: JSONValue
            do { value = try JSONValue.parse(Data(bytes)) } catch {
                if i == unterminated {
                    notes.append("\(path):\(lineNumber): incomplete last line skipped (no newline at its end: "
                                 + "the run is still going or was stopped)")
                    break
                }
                throw ReportError.malformedJSON(file: path, line: lineNumber, reason: describe(error))
            }
            let r = try JSONObjectReader(value, file: path, line: lineNumber)
            switch try r.string("kind") {
            case "step": steps.append(try LoggedStep(r))
            case "epoch": epochs.append(try LoggedEpoch(r))
            default: continue  // a kind a newer writer adds: not charted
            }
        }
        return (steps, epochs, notes)
    }
}
