import Foundation
import Testing

/// `rechub report`: the page is written where asked, and a folder that is not a run, a file
/// given as the run folder, or a bad log line, is named with a non-zero exit.
struct ReportCommandTests {
    let cli = RecHubCLITests()

    func runFolder(log: String) throws -> URL {
        let dir = try cli.tempDir()
        try #"{"config":{"epochs":1,"model":"esmm"},"model":"esmm","oracle_auc":{"click":0.7},"ranks":1,"tasks":["click","purchase"]}"#
            .write(to: dir.appendingPathComponent("run.json"), atomically: true, encoding: .utf8)
        try log.write(to: dir.appendingPathComponent("train_log.jsonl"), atomically: true, encoding: .utf8)
        return dir
    }

    static let log = """
        {"epoch":1,"kind":"step","losses":{"click":0.5,"purchase":0.1},"samples_per_second":900,"step":10,"weights":{"click":1,"purchase":1}}
        {"epoch":1,"kind":"step","losses":{"click":0.4,"purchase":0.08},"samples_per_second":950,"step":20,"weights":{"click":1,"purchase":1}}
        {"epoch":1,"kind":"epoch","step":20,"train_loss":{"click":0.45,"purchase":0.09},"validation":{"click":{"auc":0.61,"logloss":0.3}}}

        """

    @Test func writesTheReportIntoTheRunFolderOrOut() throws {
        let dir = try runFolder(log: Self.log)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try cli.rechub(["report", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("report.html") && r.stdout.contains("2 step line(s), 1 epoch(s)"), "\(r.stdout)")
        #expect(r.stderr.contains("metrics.json"), "a note says the run has not finished")
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("data-series=\"click\"") && html.contains("data-series=\"purchase\""))
        #expect(html.contains("data-reference=\"click\"") && !html.contains("<script"))

        let other = dir.appendingPathComponent("elsewhere.html").path
        let o = try cli.rechub(["report", dir.path, "--out", other])
        #expect(o.status == 0 && FileManager.default.fileExists(atPath: other), "\(o.stderr)")
    }

    @Test func namesWhatIsWrong() throws {
        let missing = try cli.rechub(["report", "/nonexistent/run-\(UUID().uuidString)"])
        #expect(missing.status == 1 && missing.stderr.contains("/nonexistent/run-") && missing.stderr.contains("no such run folder"),
                "\(missing.stderr)")

        let file = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: file) }
        let readme = file.appendingPathComponent("README.md")
        try "# notes\n".write(to: readme, atomically: true, encoding: .utf8)
        let notFolder = try cli.rechub(["report", readme.path])
        #expect(notFolder.status == 1 && notFolder.stderr.contains("\(readme.path) is a file, not a run folder")
                && !notFolder.stderr.contains("no such"), "\(notFolder.stderr)")

        let empty = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: empty) }
        let notRun = try cli.rechub(["report", empty.path])
        #expect(notRun.status == 1 && notRun.stderr.contains("run.json") && notRun.stderr.contains("not a training run"),
                "\(notRun.stderr)")

        let dir = try runFolder(log: Self.log.replacingOccurrences(of: "\"samples_per_second\":950,", with: "\"samples_per_second\":950"))
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = try cli.rechub(["report", dir.path])
        #expect(bad.status == 1 && bad.stderr.contains("train_log.jsonl:2"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.html").path))

        let unwritable = try runFolder(log: Self.log)
        defer { try? FileManager.default.removeItem(at: unwritable) }
        let target = unwritable.appendingPathComponent("run.json/report.html").path
        let w = try cli.rechub(["report", unwritable.path, "--out", target])
        #expect(w.status == 1 && w.stderr.contains(target) && !w.stderr.contains("NSCocoaErrorDomain"), "\(w.stderr)")
    }
}
