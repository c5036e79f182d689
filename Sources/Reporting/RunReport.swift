import Foundation

/// One self-contained HTML page about a training run: inline CSS and SVG charts, no script and
/// nothing fetched from the network.
///
/// It shows, from a `RunRecord`:
/// - each task's training loss over steps (one chart per task, epoch ends marked);
/// - validation AUC per epoch with the oracle AUC as a dashed line when the data was
///   generated, and validation LogLoss per epoch (one chart per scored series);
/// - the task weights and the gradient cosine between tasks over steps (a cosine below zero
///   is where the tasks' shared gradients conflict: negative transfer);
/// - throughput (samples/s) over steps;
/// - tables of the epochs and the test metrics (beside the oracle AUC), and the config: as written, then every resolved field.
///
/// Chart identifiers (`data-chart`): `loss-<task index>`, `validation-auc`,
/// `validation-logloss-<series index>`, `task-weights`, `gradient-cosine`, `throughput`.
public struct RunReport: Sendable {
    /// The run shown.
    public var record: RunRecord

    /// A report of `record`.
    public init(record: RunRecord) { self.record = record }

    // MARK: Series names, in a fixed order

    /// The tasks: `run.json`'s, then any other name the log uses, sorted.
    var tasks: [String] {
        let known = record.info.tasks
        let seen = Set(record.steps.flatMap { Array($0.losses.keys) + Array($0.weights.keys) })
        return known + seen.subtracting(known).sorted()
    }

    /// The validation series: each task, with a task over a sample space ("purchase (on click =
    /// 1)") right after its task, then names that match no task, sorted.
    var validationSeries: [String] {
        let keys = Set(record.epochs.flatMap { Array($0.validation.keys) })
            .union(record.test?.map(\.task) ?? [])
        let tasks = self.tasks
        func rank(_ key: String) -> (Int, Int, String) {
            if let i = tasks.firstIndex(of: key) { return (i, 0, key) }
            if let i = tasks.firstIndex(where: { key.hasPrefix($0 + " (") }) { return (i, 1, key) }
            return (tasks.count, 0, key)
        }
        return keys.sorted { rank($0) < rank($1) }
    }

    /// The cosine pairs "a,b": in task order when both names are tasks, others after, sorted.
    var cosinePairs: [String] {
        let pairs = Set(record.steps.flatMap { Array($0.cosines.keys) })
        let tasks = self.tasks
        func rank(_ pair: String) -> (Int, Int, String) {
            let parts = pair.split(separator: ",", maxSplits: 1).map(String.init)
            guard parts.count == 2, let a = tasks.firstIndex(of: parts[0]), let b = tasks.firstIndex(of: parts[1]) else {
                return (Int.max, Int.max, pair)
            }
            return (a, b, pair)
        }
        return pairs.sorted { rank($0) < rank($1) }
    }

    // MARK: Charts

    private var epochMarkers: [LineChart.Marker] {
        record.epochs.map { LineChart.Marker(label: "epoch \($0.epoch)", x: Double($0.step)) }
    }

    /// One training-loss chart per task, over steps.
    public var lossCharts: [LineChart] {
        tasks.enumerated().map { i, task in
            let points = record.steps.compactMap { s in s.losses[task].map { (x: Double(s.step), y: $0) } }
            var c = LineChart(identifier: "loss-\(i)", title: "\(task): training loss", xLabel: "step",
                              yLabel: "mean loss since previous point",
                              series: [.init(name: task, points: points, colorIndex: i)])
            c.markers = epochMarkers
            return c
        }
    }

    /// Validation AUC per epoch, every scored series, with the oracle AUCs.
    public var validationAUCChart: LineChart {
        let names = validationSeries
        let series = names.enumerated().map { i, name in
            LineChart.Series(name: name, points: record.epochs.compactMap { e in
                e.validation[name]?["auc"].map { (x: Double(e.epoch), y: $0) }
            }, colorIndex: i)
        }.filter { !$0.points.isEmpty || record.epochs.isEmpty }
        var c = LineChart(identifier: "validation-auc", title: "Validation AUC per epoch", xLabel: "epoch",
                          yLabel: "ROC AUC", series: series)
        c.references = names.enumerated().compactMap { i, name in
            record.info.oracle(for: name).map {
                LineChart.ReferenceLine(label: "oracle \(name) \(String(format: "%.4f", $0))", key: name, y: $0,
                                        colorIndex: i)
            }
        }
        c.emptyText = record.epochs.isEmpty ? "no epoch finished yet" : "no validation split"
        return c
    }

    /// Validation LogLoss per epoch, one chart per scored series that has one.
    public var validationLogLossCharts: [LineChart] {
        validationSeries.enumerated().compactMap { i, name in
            let points = record.epochs.compactMap { e in e.validation[name]?["logloss"].map { (x: Double(e.epoch), y: $0) } }
            if points.isEmpty { return nil }
            return LineChart(identifier: "validation-logloss-\(i)", title: "\(name): validation LogLoss per epoch",
                             xLabel: "epoch", yLabel: "LogLoss", series: [.init(name: name, points: points, colorIndex: i)])
        }
    }

    /// The task weights over steps.
    public var weightsChart: LineChart {
        var c = LineChart(identifier: "task-weights", title: "Task weights", xLabel: "step", yLabel: "weight",
                          series: tasks.enumerated().map { i, task in
                              .init(name: task, points: record.steps.compactMap { s in
                                  s.weights[task].map { (x: Double(s.step), y: $0) }
                              }, colorIndex: i)
                          })
        c.markers = epochMarkers
        return c
    }

    /// The gradient cosine per task pair over monitored steps, with zero marked.
    public var cosineChart: LineChart {
        var c = LineChart(identifier: "gradient-cosine", title: "Gradient cosine between tasks (shared parameters)",
                          xLabel: "step", yLabel: "cosine similarity",
                          series: cosinePairs.enumerated().map { i, pair in
                              .init(name: pair, points: record.steps.compactMap { s in
                                  s.cosines[pair].map { (x: Double(s.step), y: $0) }
                              }, colorIndex: i)
                          })
        c.includeZeroY = true
        c.references = [.init(label: "0: below it the tasks' gradients conflict", key: "zero", y: 0, colorIndex: nil)]
        c.markers = epochMarkers
        c.emptyText = record.steps.isEmpty ? "no data yet" : "no monitored step (monitor_every = 0?)"
        return c
    }

    /// Training throughput over steps.
    public var throughputChart: LineChart {
        var c = LineChart(identifier: "throughput", title: "Throughput (all ranks, since the epoch began)",
                          xLabel: "step", yLabel: "samples/s",
                          series: [.init(name: "samples/s", points: record.steps.compactMap { s in
                              s.samplesPerSecond.map { (x: Double(s.step), y: $0) }
                          }, colorIndex: 0)])
        c.markers = epochMarkers
        return c
    }

    // MARK: HTML

    private func e(_ s: String) -> String { s.htmlEscaped }

    private func number(_ v: Double?, _ decimals: Int) -> String {
        guard let v else { return "—" }
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "∞" : "−∞" }
        return String(format: "%.\(decimals)f", v)
    }

    /// The page's status line: finished, or how far an unfinished run got.
    public var status: String {
        let last = record.steps.last.map { "last logged step \($0.step) (epoch \($0.epoch))" } ?? "no step logged"
        if record.test != nil {
            let time = record.totalSeconds.map { " after \(number($0, 1)) s (since the run, or its last resume, began)" } ?? ""
            return "finished: metrics.json written\(time); \(last)"
        }
        return "not finished (no metrics.json: still going, or stopped); \(last)"
    }

    private func table(_ header: [String], _ rows: [[String]], cls: String) -> String {
        var o = "<table class=\"\(cls)\">\n<thead><tr>" + header.map { "<th>\(e($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for r in rows { o += "<tr>" + r.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n" }
        return o + "</tbody></table>\n"
    }

    private func charts(_ list: [LineChart]) -> String {
        "<div class=\"charts\">\n" + list.map { "<figure>\($0.svg())</figure>\n" }.joined() + "</div>\n"
    }

    private var epochTable: String {
        guard !record.epochs.isEmpty else { return "<p class=\"empty\">No epoch has finished yet.</p>\n" }
        let tasks = self.tasks, names = validationSeries
        let header = ["epoch", "step", "seconds", "samples/s"] + tasks.map { "train loss \($0)" }
            + names.flatMap { ["val AUC \($0)", "val LogLoss \($0)"] }
        let rows = record.epochs.map { ep in
            [String(ep.epoch), String(ep.step), number(ep.seconds, 1), number(ep.samplesPerSecond, 0)]
                + tasks.map { number(ep.trainLoss[$0], 5) }
                + names.flatMap { [number(ep.validation[$0]?["auc"], 4), number(ep.validation[$0]?["logloss"], 5)] }
        }
        return table(header, rows, cls: "epochs")
    }

    private var testTable: String {
        guard let test = record.test else {
            return "<p class=\"empty\">No metrics.json yet: the run has not finished, so there are no test metrics.</p>\n"
        }
        guard !test.isEmpty else { return "<p class=\"empty\">The run had no test split.</p>\n" }
        let hasMSE = test.contains { $0.mse != nil }
        let header = ["series", "AUC", "oracle AUC", "LogLoss"] + (hasMSE ? ["MSE"] : []) + ["rows", "positives"]
        let rows = test.map { m in
            [m.task, number(m.auc, 4), number(record.info.oracle(for: m.task), 4), number(m.logLoss, 5)]
                + (hasMSE ? [number(m.mse, 5)] : [])
                + [m.count.map(String.init) ?? "—", m.positives.map(String.init) ?? "—"]
        }
        return table(header, rows, cls: "test")
    }

    /// The config as the user wrote it (config keys, every `--set` applied), then every resolved
    /// setting, defaults included, under the trainer's field names.
    private var configSection: String {
        var o = ""
        if case .object(let c) = record.info.config, case .string(let yaml)? = c["sourceYAML"], !yaml.isEmpty {
            o += "<p>As stored: the config file (or the built-in default) with every <code>--set</code> applied; a "
            o += "resume also records where the run then was (<code>output_dir</code>, <code>checkpoint_dir</code>).</p>\n"
            o += "<pre class=\"config\">\(e(yaml))</pre>\n"
        }
        o += "<p>Every resolved setting, defaults included, under the trainer's field names (optional settings "
        o += "left unset, such as <code>gemmBackend</code> for the default products, are absent):</p>\n"
        let rows = record.info.config.flattened().filter { $0.key != "sourceYAML" }.map { [$0.key, $0.value.displayText] }
        return o + table(["field", "value"], rows, cls: "config")
    }

    /// The complete page.
    public func html() -> String {
        let info = record.info
        let title = "RecHub run: \(info.model) (\(info.tasks.joined(separator: ", ")))"
        var o = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        o += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        o += "<title>\(e(title))</title>\n<style>\n\(RunReport.css)</style>\n</head>\n<body>\n"
        o += "<header>\n<h1>\(e(title))</h1>\n<dl class=\"run\">\n"
        let facts: [(String, String)] = [
            ("model", info.model), ("tasks", info.tasks.joined(separator: ", ")),
            ("started or last resumed", info.startedAt ?? "—"), ("CPU", info.cpu ?? "—"), ("BLAS core", info.blasCore ?? "—"),
            ("products", info.products ?? "openblas fp32"),
            ("ranks", info.ranks.map(String.init) ?? "—"), ("status", status), ("folder", record.directory),
        ]
        for (k, v) in facts { o += "<dt>\(e(k))</dt><dd>\(e(v))</dd>\n" }
        o += "</dl>\n"
        if !record.notes.isEmpty {
            o += "<ul class=\"notes\">\n" + record.notes.map { "<li>\(e($0))</li>\n" }.joined() + "</ul>\n"
        }
        o += "</header>\n"

        o += "<section id=\"loss\">\n<h2>Training loss</h2>\n"
        o += "<p>Each task's mean training loss over the steps since the previous logged step; dotted lines mark epoch ends.</p>\n"
        o += charts(lossCharts) + "</section>\n"

        o += "<section id=\"validation\">\n<h2>Validation</h2>\n"
        o += "<p>AUC and LogLoss on the validation split after each epoch"
        o += info.oracleAUC.isEmpty ? ".</p>\n"
            : "; dashed lines are the oracle AUC (the AUC of the true probabilities on the generated test split).</p>\n"
        o += charts([validationAUCChart] + validationLogLossCharts) + "</section>\n"

        o += "<section id=\"weighting\">\n<h2>Task weights and gradient cosine</h2>\n"
        o += "<p>The weight of each task's loss after each logged step, and, on monitored steps, the cosine similarity of "
        o += "the tasks' gradients on the shared parameters: below zero the tasks pull the shared parameters apart "
        o += "(negative transfer).</p>\n"
        o += charts([weightsChart, cosineChart]) + "</section>\n"

        o += "<section id=\"throughput\">\n<h2>Throughput</h2>\n"
        o += "<p>Training samples per second over all ranks, averaged since the epoch (or the resumed run) began.</p>\n"
        o += charts([throughputChart]) + "</section>\n"

        o += "<section id=\"epochs\">\n<h2>Epochs</h2>\n" + epochTable + "</section>\n"
        o += "<section id=\"test\">\n<h2>Test metrics</h2>\n" + testTable + "</section>\n"
        o += "<section id=\"config\">\n<h2>Config</h2>\n" + configSection + "</section>\n"
        o += "<footer>Written by <code>rechub report</code> from run.json, train_log.jsonl and metrics.json.</footer>\n"
        o += "</body>\n</html>\n"
        return o
    }

    /// Writes the page to `path` atomically (a temporary file renamed over it).
    /// - Throws: `ReportError.cannotWrite` naming the path and the reason.
    public func write(to path: String) throws {
        do { try Data(html().utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ReportError.cannotWrite(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    static let css = """
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
               margin: 24px auto; max-width: 1290px; padding: 0 16px; }
        h1 { font-size: 22px; margin: 0 0 10px; }
        h2 { font-size: 17px; margin: 28px 0 4px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
        p { margin: 4px 0 10px; color: #444; }
        dl.run { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
        dl.run dt { color: #666; } dl.run dd { margin: 0; }
        ul.notes { color: #8a5a00; margin: 8px 0; }
        .charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
        figure { margin: 0; }
        svg.chart text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #333; }
        svg.chart .chart-title { font-size: 13px; font-weight: 600; }
        svg.chart .axis-label { font-size: 12px; fill: #555; }
        svg.chart .grid { stroke: #ebebeb; }
        svg.chart .frame { stroke: #999; }
        svg.chart .marker line { stroke: #aaa; }
        svg.chart .marker text { fill: #999; font-size: 10px; }
        svg.chart .empty { fill: #999; font-size: 13px; }
        table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
        th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
        th { background: #f4f4f4; }
        tbody tr:nth-child(even) { background: #fafafa; }
        table.epochs td, table.test td { font-variant-numeric: tabular-nums; }
        table.config td { white-space: pre-wrap; overflow-wrap: anywhere; max-width: 900px; }
        table.config td:first-child { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
        pre.config { background: #f6f6f6; padding: 8px; overflow-x: auto; max-width: 900px; }
        p.empty { color: #8a5a00; }
        footer { margin: 32px 0 8px; color: #888; font-size: 12px; }

        """
}
