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
        Runtime.run(nil) {
            let record = try RunRecord.load(directory: runDir)
            for note in record.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            let path = out ?? URL(fileURLWithPath: runDir).appendingPathComponent("report.html").path
            let report = RunReport(record: record)
            try report.write(to: path)
            print("wrote \(path): \(record.info.model), \(record.steps.count) step line(s), "
                  + "\(record.epochs.count) epoch(s); \(report.status)")
        }
    }
}
