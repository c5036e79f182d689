import Foundation
import Testing
@testable import Reporting

/// The whole page from fixture run folders: one curve per task, values matching the log (read
/// back through each chart's scale, tolerance as in `LineChartTests`: 3e-5 of the axis span),
/// the oracle lines, the tables, a killed run and hostile names.
struct RunReportTests {
    static func page(_ f: RunFolderFixture) throws -> (String, [String: SVGReader.Chart]) {
        let html = RunReport(record: try RunRecord.load(directory: f.path)).html()
        return (html, SVGReader(html: html).charts)
    }

    static func expectClose(_ got: [(x: Double, y: Double)]?, _ want: [(x: Double, y: Double)], in chart: SVGReader.Chart,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        guard let got else { Issue.record("series missing", sourceLocation: sourceLocation); return }
        #expect(got.count == want.count, sourceLocation: sourceLocation)
        let xSpan = chart.xDomain.1 - chart.xDomain.0, ySpan = chart.yDomain.1 - chart.yDomain.0
        for (g, w) in zip(got, want) {
            #expect(abs(g.x - w.x) <= 3e-5 * xSpan && abs(g.y - w.y) <= 3e-5 * ySpan, "\(g) vs \(w)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func aFinishedRunHasEveryChartWithTheLogsValues() throws {
        let f = try RunFolderFixture.finished()
        defer { f.remove() }
        let (html, charts) = try Self.page(f)
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("https://"), "nothing fetched from the network")
        // The config as written (escaped), then every field without the document again.
        #expect(html.contains("<pre class=\"config\">model: mmoe\nepochs: 2 # &lt;b&gt;two&lt;/b&gt;\n</pre>"), "\(html)")
        #expect(html.contains("<td>expert_units</td>") && !html.contains("<td>sourceYAML</td>"))
        #expect(html.contains("<dt>started or last resumed</dt><dd>2025-03-01T10:00:00Z</dd>"))
        #expect(Set(charts.keys) == ["loss-0", "loss-1", "validation-auc", "validation-logloss-0", "validation-logloss-1",
                                     "task-weights", "gradient-cosine", "throughput"])
        let steps = Array(stride(from: 100, through: 1000, by: 100))

        // One loss curve per task, each in its own chart, matching the log.
        for (i, task) in RunFolderFixture.tasks.enumerated() {
            let c = try #require(charts["loss-\(i)"])
            #expect(c.seriesNames == [task])
            #expect(c.texts.contains("step") && c.texts.contains("mean loss since previous point"))
            Self.expectClose(c.points(task), steps.map { (Double($0), RunFolderFixture.loss(i, $0)) }, in: c)
            #expect(c.texts.contains("epoch 1") && c.texts.contains("epoch 2"))
        }

        let auc = try #require(charts["validation-auc"])
        #expect(auc.seriesNames == ["click", "purchase", "purchase (on click = 1)"])
        Self.expectClose(auc.points("click"), [(1, RunFolderFixture.auc(0, 1)), (2, RunFolderFixture.auc(0, 2))], in: auc)
        Self.expectClose(auc.points("purchase (on click = 1)"), [(1, 0.61), (2, 0.62)], in: auc)
        let oracle = auc.references
        #expect(Set(oracle.keys) == ["click", "purchase", "purchase (on click = 1)"])
        #expect(abs(oracle["click"]! - 0.7123) < 1e-4 && abs(oracle["purchase (on click = 1)"]! - 0.6611) < 1e-4)
        #expect(auc.texts.contains("epoch") && auc.texts.contains("ROC AUC") && auc.texts.contains("oracle click 0.7123"))

        let logloss = try #require(charts["validation-logloss-1"])
        Self.expectClose(logloss.points("purchase"), [(1, RunFolderFixture.logloss(1, 1)), (2, RunFolderFixture.logloss(1, 2))],
                         in: logloss)

        let weights = try #require(charts["task-weights"])
        #expect(weights.seriesNames == RunFolderFixture.tasks)
        Self.expectClose(weights.points("purchase"), steps.map { (Double($0), RunFolderFixture.weight(1, $0)) }, in: weights)

        let cosine = try #require(charts["gradient-cosine"])
        #expect(cosine.seriesNames == ["click,purchase"])
        Self.expectClose(cosine.points("click,purchase"),
                         steps.filter { $0 % 200 == 0 }.map { (Double($0), RunFolderFixture.cosine($0)) }, in: cosine)
        #expect(cosine.yDomain.0 <= 0 && cosine.references["zero"] != nil)

        let throughput = try #require(charts["throughput"])
        Self.expectClose(throughput.points("samples/s"), steps.map { (Double($0), RunFolderFixture.throughput($0)) },
                         in: throughput)

        // Header and tables.
        for text in ["RecHub run: mmoe (click, purchase)", "Test CPU @ 2.0GHz", "SkylakeX", "2025-03-01T10:00:00Z",
                     "metrics.json written after 93.2 s", "<td>0.6801</td>", "<td>0.7123</td>", "<td>0.6611</td>",
                     "<td>data.generate.rows</td><td>20000</td>", "<td>expert_units</td><td>[256, 128]</td>",
                     "<td>learning_rate</td><td>0.001</td>", "<td>early_stop_task</td><td>null</td>"] {
            #expect(html.contains(text), "\(text) missing")
        }
        #expect(!html.contains("No metrics.json"))
    }

    /// The series scored on clicks only, `purchase (on click = 1)` of a task with
    /// `task_sample_space` or ESMM's `cvr (on click = 1)`, has `purchase_given_click` (0.6611) as
    /// its oracle, in the AUC chart and in the test table; the tasks keep their own.
    @Test(arguments: [false, true]) func aSeriesScoredOnClicksHasTheOracleOfPCVROnClicks(esmm: Bool) throws {
        let f = try esmm ? RunFolderFixture.finishedESMM() : RunFolderFixture.finished()
        defer { f.remove() }
        let series = esmm ? RunFolderFixture.esmmOnClicks : RunFolderFixture.onClicks()
        let (html, charts) = try Self.page(f)
        let auc = try #require(charts["validation-auc"])
        #expect(auc.seriesNames == ["click", "purchase", series])
        let oracle = auc.references
        #expect(Set(oracle.keys) == ["click", "purchase", series])
        #expect(abs((oracle["click"] ?? .nan) - 0.7123) < 1e-4 && abs((oracle["purchase"] ?? .nan) - 0.7421) < 1e-4)
        #expect(abs((oracle[series] ?? .nan) - 0.6611) < 1e-4, "\(oracle)")
        #expect(auc.texts.contains("oracle \(series) 0.6611"))
        // Test table: series, AUC, oracle AUC, LogLoss, rows, positives.
        #expect(html.contains("<tr><td>\(series)</td><td>0.6100</td><td>0.6611</td><td>0.29000</td><td>81</td><td>7</td></tr>"))
        #expect(html.contains("<tr><td>purchase</td><td>0.7002</td><td>0.7421</td>"))
    }

    @Test func withoutOracleThereIsNoOracleLine() throws {
        let f = try RunFolderFixture.finished(oracle: false)
        defer { f.remove() }
        let (html, charts) = try Self.page(f)
        #expect(charts["validation-auc"]!.references.isEmpty)
        #expect(!html.contains("oracle click"))
    }

    @Test func aKilledRunStillGivesAReport() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        let lines = try RunFolderFixture.logLines(epochs: 1).prefix(3)  // three step lines, no epoch line
        try f.write("train_log.jsonl", lines.joined(separator: "\n") + "\n{\"kind\":\"step\",\"ep")
        let (html, charts) = try Self.page(f)
        #expect(html.contains("not finished") && html.contains("last logged step 300"))
        #expect(html.contains("incomplete last line skipped"))
        #expect(html.contains("No metrics.json yet") && html.contains("No epoch has finished yet"))
        let loss = try #require(charts["loss-0"])
        Self.expectClose(loss.points("click"), [100, 200, 300].map { (Double($0), RunFolderFixture.loss(0, $0)) }, in: loss)
        #expect(charts["validation-auc"]!.texts.contains("no epoch finished yet"))
        #expect(charts["validation-auc"]!.seriesNames.isEmpty)
    }

    @Test func aRunThatHasNotLoggedYetGivesAnEmptyReport() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        try f.writeRun()
        let (html, charts) = try Self.page(f)
        #expect(charts["loss-0"]!.texts.contains("no data yet") && charts["loss-0"]!.seriesNames == ["click"])
        #expect(html.contains("no step logged"))
    }

    @Test func namesFromFilesAreEscaped() throws {
        let f = try RunFolderFixture()
        defer { f.remove() }
        let tasks = ["<script>alert(1)</script>", "a\"b&c"]
        try f.writeRun(tasks: tasks)
        try f.write("train_log.jsonl", try RunFolderFixture.logLines(epochs: 1, tasks: tasks).joined(separator: "\n") + "\n")
        try f.writeMetrics(tasks: tasks)
        let (html, charts) = try Self.page(f)
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(charts["loss-0"]!.seriesNames == [tasks[0]] && charts["loss-1"]!.seriesNames == [tasks[1]])
        #expect(charts["gradient-cosine"]!.seriesNames == ["\(tasks[0]),\(tasks[1])"])
    }

    @Test func writesThePageAndNamesAnUnwritablePath() throws {
        let f = try RunFolderFixture.finished()
        defer { f.remove() }
        let report = RunReport(record: try RunRecord.load(directory: f.path))
        let out = f.url.appendingPathComponent("report.html").path
        try report.write(to: out)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == report.html())
        let bad = f.url.appendingPathComponent("run.json/report.html").path
        let error = try #require(throws: ReportError.self) { try report.write(to: bad) }
        #expect(error.description.contains(bad))
    }
}
