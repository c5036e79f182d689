import Foundation

/// Why a run folder could not be read or a report could not be written; every case names the
/// path, and the line and field where there is one.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    /// The run folder does not exist.
    case noSuchFolder(path: String)
    /// The path given as the run folder is a file.
    case notAFolder(path: String)
    /// The folder exists but has no `run.json`, so it is not a training run's `output_dir`.
    case notARun(folder: String, lookedFor: String)
    /// A file could not be read.
    case unreadable(file: String, reason: String)
    /// A file (or one line of `train_log.jsonl`) is not valid JSON.
    case malformedJSON(file: String, line: Int?, reason: String)
    /// A field is missing or has the wrong type.
    case badField(file: String, line: Int?, field: String, reason: String)
    /// The report could not be written.
    case cannotWrite(path: String, reason: String)

    /// The message shown to the user.
    public var description: String {
        func place(_ file: String, _ line: Int?) -> String { line.map { "\(file):\($0)" } ?? file }
        switch self {
        case .noSuchFolder(let path):
            return "\(path): no such run folder (expected a training run's output_dir)"
        case .notAFolder(let path):
            let name = (path as NSString).lastPathComponent, parent = (path as NSString).deletingLastPathComponent
            let hint = [RunRecord.runFile, RunRecord.logFile, RunRecord.metricsFile].contains(name)
                ? "; give the folder holding it: \(parent.isEmpty ? "." : parent)" : ""
            return "\(path) is a file, not a run folder (expected a training run's output_dir)\(hint)"
        case .notARun(let folder, let lookedFor):
            return "\(folder) is not a training run: \(lookedFor) not found (rechub train writes run.json, "
                + "train_log.jsonl and, when it ends, metrics.json into its output_dir)"
        case .unreadable(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .malformedJSON(let file, let line, let reason):
            return "\(place(file, line)): not valid JSON: \(reason)"
        case .badField(let file, let line, let field, let reason):
            return "\(place(file, line)): field \"\(field)\" \(reason)"
        case .cannotWrite(let path, let reason):
            return "\(path): cannot write the report: \(reason)"
        }
    }
}
