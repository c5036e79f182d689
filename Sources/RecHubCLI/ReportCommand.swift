import ArgumentParser
import Foundation
import RecHub

/// `rechub report RUN_DIR`: one self-contained HTML page of a training run's curves and tables.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Write one self-contained HTML report of a training run.",
        discussion: """
            Reads run.json, train_log.jsonl and (once the run has finished) metrics.json from RUN_DIR, the run's \
            output_dir, and writes RUN_DIR/report.html (or --out): per-task training loss, validation AUC and \
            LogLoss per epoch beside the oracle AUC of generated data, task weights, the gradient cosine between \
            tasks, throughput, and the resolved config and test metrics as tables. Inline SVG and CSS only: no \
            script, nothing fetched. A run still going, or killed, is reported as far as it got.
            """)

    @Argument(help: "The run folder (the run's output_dir).") var runDir: String
    @Option(help: "Where to write the page (default: RUN_DIR/report.html).") var out: String?

    func run() throws {
        Runtime.runAlone("report") {
            guard out != "-" else {  // not a file named "-" in the current folder
                throw ConfigError(file: "command line", key: "--out", message: "'-' (standard output) is not supported: "
                                  + "give the page's path (default: RUN_DIR/report.html)")
            }
            // A given --out is checked before anything is read; the default (RUN_DIR/report.html) once
            // the run folder is known to hold a run, since the check creates a missing folder.
            let path = out ?? URL(fileURLWithPath: runDir).appendingPathComponent("report.html").path
            let place = OutputPlaces.Place(key: "--out", path: path, isFolder: false)
            // The page must not replace a file of the run (run.json, the log, a checkpoint, the
            // events): refused. An HTML page there (report.html, an earlier page) may be replaced.
            try OutputPlaces.checkNotInput(place, inputs: [(key: "run folder", path: runDir)],
                                           allowed: { $0.hasSuffix(".html") })
            // …nor take a name the run itself writes, present yet or not (a killed run's
            // metrics.json, its next checkpoint).
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent(), name = URL(fileURLWithPath: path).lastPathComponent
            let runURL = URL(fileURLWithPath: runDir)
            let inRun = Checkpointer.samePlace(folder.path, runURL.path)
            let inCheckpoints = Checkpointer.samePlace(folder.path, runURL.appendingPathComponent("checkpoints").path)
            if (inRun && (["run.json", "metrics.json", "train_log.jsonl"].contains(name) || EventFileWriter.isEventFileName(name)))
                || (inCheckpoints && !name.hasSuffix(".html")) {
                throw ConfigError(file: "command line", key: "--out",
                                  message: "\(path) is a file the run writes (\(name)): the page would stand in its place")
            }
            var target = out == nil ? path : try OutputPlaces.check([place])[0]
            let record = try RunRecord.load(directory: runDir)
            if out == nil { target = try OutputPlaces.check([place])[0] }
            for note in record.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            let report = RunReport(record: record)
            try report.write(to: target)
            print("wrote \(path): \(record.info.model), \(record.steps.count) step line(s), "
                  + "\(record.epochs.count) epoch(s); \(report.status)")
        }
    }
}
