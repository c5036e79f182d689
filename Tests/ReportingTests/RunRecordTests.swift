import Foundation
import Testing
@testable import Reporting

/// Reading run folders: finished, still going or killed, and the errors for what is not a run.
struct RunRecordTests {
    @Test func readsAFinishedRun() throws {
        let f = try RunFolderFixture.finished()
        defer { f.remove() }
        let r = try RunRecord.load(directory: f.path)
        #expect(r.info.model == "mmoe" && r.info.tasks == ["click", "purchase"] && r.info.ranks == 1)
        #expect(r.info.blasCore == "SkylakeX" && r.info.startedAt == "2025-03-01T10:00:00Z")
        #expect(r.info.oracleAUC["click"] == 0.7123)
        #expect(r.info.oracle(for: "purchase (on click = 1)") == 0.6611)
        #expect(r.steps.count == 10 && r.epochs.count == 2)
        #expect(r.steps.map(\.step) == Array(stride(from: 100, through: 1000, by: 100)))
        #expect(r.steps[2].losses["purchase"] == RunFolderFixture.loss(1, 300))
        #expect(r.steps[1].cosines["click,purchase"] == RunFolderFixture.cosine(200))
        #expect(r.steps[0].cosines.isEmpty)
        #expect(r.epochs[1].validation["click"]?["auc"] == RunFolderFixture.auc(0, 2))
        #expect(r.epochs[1].validation["purchase (on click = 1)"]?["logloss"] == nil)
        #expect(r.test?.count == 3 && r.test?[0].auc == 0.6801 && r.test?[2].positives == 7)
        #expect(r.totalSeconds == 93.25)
        #expect(r.notes.isEmpty)
    }

    /// A metrics.json an earlier run left in the folder (this run was started again, or resumed
    /// past its end, and has not finished): its start time differs from run.json's, so the run
    /// is not taken as finished and no earlier test metrics are shown as its own.
    @Test func anEarlierRunsMetricsAreNotThisRuns() throws {
        let f = try RunFolderFixture.finished()
        defer { f.remove() }
        try f.writeMetrics(startedAt: "2025-02-27T08:00:00Z")
        let r = try RunRecord.load(directory: f.path)
        #expect(r.test == nil && r.totalSeconds == nil)
        #expect(r.notes.contains { $0.contains("from an earlier run (started 2025-02-27T08:00:00Z)") }, "\(r.notes)")
    }

    @Test func aKilledRunSkipsItsHalfWrittenLastLine() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        var lines = try RunFolderFixture.logLines(epochs: 1)
        let cut = lines.count
        let next = lines[0].replacingOccurrences(of: "\"step\":100", with: "\"step\":600")
        lines.append(String(next.prefix(next.count / 2)))  // killed mid-write: no closing brace, no newline
        try f.write("train_log.jsonl", lines.joined(separator: "\n"))
        let r = try RunRecord.load(directory: f.path)
        #expect(r.test == nil)
        #expect(r.steps.count == 5 && r.epochs.count == 1)
        #expect(r.notes.contains { $0.contains("train_log.jsonl:\(cut + 1)") && $0.contains("incomplete last line") })
        #expect(r.notes.contains { $0.contains("metrics.json") })
    }

    @Test func anEarlierBadLineIsAnErrorNamingFileAndLine() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        var lines = try RunFolderFixture.logLines(epochs: 1)
        lines[2] = String(lines[2].dropLast(3))
        try f.write("train_log.jsonl", lines.joined(separator: "\n") + "\n")
        let error = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        guard case .malformedJSON(let file, let line, _) = error else { Issue.record("\(error)"); return }
        #expect(file.hasSuffix("train_log.jsonl") && line == 3)
        #expect(error.description.contains("train_log.jsonl:3"))
    }

    /// A bad last line that ends with its newline was written whole (the writer appends each
    /// line with its newline at once), so it is an error, not a line cut short by a kill.
    @Test(arguments: ["garbage\n", "garbage\n\n", "{\"kind\":\"step\",\"ep\n"])
    func aCompleteBadLastLineIsAnErrorNamingFileAndLine(last: String) throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        let lines = try RunFolderFixture.logLines(epochs: 1)
        try f.write("train_log.jsonl", lines.joined(separator: "\n") + "\n" + last)
        let error = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        guard case .malformedJSON(let file, let line, _) = error else { Issue.record("\(error)"); return }
        #expect(file == f.url.appendingPathComponent("train_log.jsonl").path && line == lines.count + 1)
        #expect(error.description.contains("train_log.jsonl:\(lines.count + 1): not valid JSON"), "\(error)")
    }

    /// A number no double holds is named as such, not as the parser's last attempt at a type.
    @Test func aNumberPastTheDoubleRangeIsNamed() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        let lines = try RunFolderFixture.logLines(epochs: 1)
        try f.write("train_log.jsonl", lines.joined(separator: "\n") + "\n{\"kind\":\"step\",\"step\":1e400}\n")
        let error = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        #expect(error.description.contains("train_log.jsonl:\(lines.count + 1): not valid JSON: a value this reader cannot hold"),
                "\(error)")
    }

    /// Blank lines hold nothing and are skipped; fields and kinds the reader does not know may
    /// come from a newer writer and are ignored; a last line without its newline that is whole
    /// JSON is read. None of these is noted.
    @Test func blankLinesAndUnknownFieldsAreSkippedSilently() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        var lines = try RunFolderFixture.logLines(epochs: 1)
        lines[0] = #"{"grad_norm":{"click":1.5},"# + lines[0].dropFirst()  // a step line with a new field
        lines[5] = #"{"lr":0.001,"# + lines[5].dropFirst()  // the epoch line, likewise
        lines.insert("", at: 2)
        lines.insert(" \t\r", at: 4)
        lines.append(#"{"kind":"future-kind","step":600}"#)
        try f.write("train_log.jsonl", lines.joined(separator: "\n"))  // the last line has no newline
        let r = try RunRecord.load(directory: f.path)
        #expect(r.steps.map(\.step) == [100, 200, 300, 400, 500] && r.epochs.map(\.epoch) == [1])
        #expect(r.steps[0].losses["click"] == RunFolderFixture.loss(0, 100))
        #expect(r.epochs[0].validation["click"]?["auc"] == RunFolderFixture.auc(0, 1))
        #expect(!r.notes.contains { $0.contains("train_log.jsonl") }, "\(r.notes)")
    }

    @Test func aLineWithAWrongFieldNamesFileLineAndField() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        var lines = try RunFolderFixture.logLines(epochs: 1)
        lines[1] = lines[1].replacingOccurrences(of: "\"epoch\":1", with: "\"epoch\":\"one\"")
        lines.append(#"{"epoch":1,"step":5}"#)  // complete JSON, so not skipped as a cut-off line
        try f.write("train_log.jsonl", lines.joined(separator: "\n") + "\n")
        let error = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        #expect(error == .badField(file: f.url.appendingPathComponent("train_log.jsonl").path, line: 2, field: "epoch",
                                   reason: "should be an integer, found a string"))

        lines[1] = try RunFolderFixture.logLines(epochs: 1)[1]
        try f.write("train_log.jsonl", lines.joined(separator: "\n") + "\n")
        let noKind = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        #expect(noKind.description.contains("train_log.jsonl:\(lines.count)") && noKind.description.contains("\"kind\""),
                "\(noKind)")
    }

    @Test func nestedFieldErrorsNameTheDottedPath() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        try f.write("train_log.jsonl", #"{"epoch":1,"kind":"epoch","step":5,"validation":{"click":{"auc":"high"}}}"# + "\n")
        let error = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        #expect(error.description.contains("train_log.jsonl:1") && error.description.contains("validation.click.auc"),
                "\(error)")
    }

    @Test func missingFolderAndNotARunAreNamed() throws {
        let missing = "/nonexistent/rechub-run-\(UUID().uuidString)"
        #expect(throws: ReportError.noSuchFolder(path: missing)) { try RunRecord.load(directory: missing) }

        let f = try RunFolderFixture()
        defer { f.remove() }
        let error = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        #expect(error == .notARun(folder: f.path, lookedFor: f.url.appendingPathComponent("run.json").path))
        #expect(error.description.contains("run.json") && error.description.contains(f.path))
    }

    /// A path that is a file (README.md, or a file of a run folder) is said to be a file; for a
    /// run folder's own file the message names the folder to give instead.
    @Test func aFileIsNotARunFolder() throws {
        let f = try RunFolderFixture.finished()
        defer { f.remove() }
        try f.write("README.md", "# notes\n")
        let readme = f.url.appendingPathComponent("README.md").path
        let error = try #require(throws: ReportError.self) { try RunRecord.load(directory: readme) }
        #expect(error == .notAFolder(path: readme))
        #expect(error.description == "\(readme) is a file, not a run folder (expected a training run's output_dir)")

        let run = f.url.appendingPathComponent("run.json").path
        let inside = try #require(throws: ReportError.self) { try RunRecord.load(directory: run) }
        #expect(inside.description.hasPrefix("\(run) is a file, not a run folder")
                && inside.description.hasSuffix("give the folder holding it: \(f.path)"), "\(inside)")
    }

    @Test func aRunWithoutLogYetIsReadWithANote() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun(oracle: false)
        let r = try RunRecord.load(directory: f.path)
        #expect(r.steps.isEmpty && r.epochs.isEmpty && r.test == nil && r.info.oracleAUC.isEmpty)
        #expect(r.notes.contains { $0.contains("train_log.jsonl") })
    }

    @Test func badRunAndMetricsFilesAreNamed() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.write("run.json", #"{"model": "mmoe", "tasks": "click", "config": {}}"#)
        let tasks = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        #expect(tasks.description.contains("run.json") && tasks.description.contains("\"tasks\""), "\(tasks)")

        try f.write("run.json", #"{"model": "mmoe", "tasks": ["click"], "config": {}"#)
        let cut = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        guard case .malformedJSON(let file, nil, _) = cut else { Issue.record("\(cut)"); return }
        #expect(file.hasSuffix("run.json"))

        try f.writeRun()
        try f.write("metrics.json", #"{"test": [{"task": "click", "auc": "0.7"}]}"#)
        let metrics = try #require(throws: ReportError.self) { try RunRecord.load(directory: f.path) }
        #expect(metrics.description.contains("metrics.json") && metrics.description.contains("test[0].auc"), "\(metrics)")
    }

    @Test func nonFiniteSpellingsAreReadAsNumbers() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        try f.write("train_log.jsonl", """
            {"epoch":1,"kind":"step","losses":{"click":"NaN","purchase":null},"step":1,"weights":{"click":"Infinity"}}
            {"epoch":1,"kind":"future-kind","anything":true}

            """)
        let r = try RunRecord.load(directory: f.path)
        #expect(r.steps.count == 1)
        #expect(r.steps[0].losses["click"]!.isNaN && r.steps[0].losses["purchase"]!.isNaN)
        #expect(r.steps[0].weights["click"] == .infinity)
    }
}
