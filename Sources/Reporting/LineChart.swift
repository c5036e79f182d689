import Foundation

/// A line chart as one self-contained inline SVG element: a title, a legend, x and y axes with
/// ticks, grid lines and labels, one `<path>` per series, and optional horizontal reference
/// lines (an oracle AUC, zero) and vertical markers (epoch ends).
///
/// The markup is meant to be read back: the `<svg>` carries `data-x-domain="lo hi"`,
/// `data-y-domain="lo hi"` and `data-plot="left top width height"` (pixels), so a point
/// `(px, py)` of a series' path maps back to data as
/// ```
/// x = xlo + (px − left) / width · (xhi − xlo)
/// y = ylo + (top + height − py) / height · (yhi − ylo)
/// ```
/// Each series is `<path class="series" data-series="NAME" d="M x y L x y …">`; a value that
/// cannot be drawn (NaN, ±∞, beyond ±1e300) breaks the line (the next point starts a new `M`)
/// and is counted in the legend. Series of at most `markerLimit` points also get a
/// `<circle data-point="NAME">` per point with its value as hover text. Every text that comes
/// from outside (title, names, labels) is HTML-escaped.
public struct LineChart: Sendable {
    /// One curve.
    public struct Series: Sendable {
        /// The legend name, also the path's `data-series` attribute.
        public var name: String
        /// The points in drawing order.
        public var points: [(x: Double, y: Double)]
        /// Index into `LineChart.palette` (wraps around).
        public var colorIndex: Int

        /// A series named `name` through `points`, drawn in palette colour `colorIndex`.
        public init(name: String, points: [(x: Double, y: Double)], colorIndex: Int) {
            self.name = name
            self.points = points
            self.colorIndex = colorIndex
        }
    }

    /// A horizontal dashed line at a fixed value (an oracle AUC, zero).
    public struct ReferenceLine: Sendable {
        /// The label written at its right end, also the hover text.
        public var label: String
        /// The `data-reference` attribute (for an oracle, the series it belongs to).
        public var key: String
        /// The value (y, data units).
        public var y: Double
        /// Palette colour, or nil for grey.
        public var colorIndex: Int?

        /// A reference line at `y`, labelled `label`, keyed `key`.
        public init(label: String, key: String, y: Double, colorIndex: Int?) {
            self.label = label
            self.key = key
            self.y = y
            self.colorIndex = colorIndex
        }
    }

    /// A vertical line at an x value (an epoch end).
    public struct Marker: Sendable {
        /// The label written at its top.
        public var label: String
        /// The position (x, data units).
        public var x: Double

        /// A marker at `x` labelled `label`.
        public init(label: String, x: Double) {
            self.label = label
            self.x = x
        }
    }

    /// Series colours: the Okabe–Ito colour-blind-safe set (without its yellow), then two more.
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                                 "#8C564B"]
    /// Series with at most this many points get a hover circle per point.
    public static let markerLimit = 60

    /// The title above the chart.
    public var title: String
    /// The x axis label (with unit).
    public var xLabel: String
    /// The y axis label (with unit).
    public var yLabel: String
    /// The curves.
    public var series: [Series]
    /// Horizontal reference lines.
    public var references: [ReferenceLine] = []
    /// Vertical markers.
    public var markers: [Marker] = []
    /// The x values are whole numbers (steps, epochs).
    public var integralX = true
    /// The y domain contains 0 (signed quantities).
    public var includeZeroY = false
    /// The text shown in the plot area when no series has a drawable point.
    public var emptyText = "no data yet"
    /// The `data-chart` identifier of the `<svg>`.
    public var identifier: String
    /// Width of the whole SVG (pixels).
    public var width = 600.0
    /// Height of the plot area (pixels); the legend and title add to the SVG's height.
    public var plotHeight = 220.0

    /// A chart titled `title` with axis labels and series; `identifier` becomes `data-chart`.
    public init(identifier: String, title: String, xLabel: String, yLabel: String, series: [Series]) {
        self.identifier = identifier
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    // Margins (pixels): room for the y tick labels and axis label on the left, the x tick
    // labels and axis label below.
    private let marginLeft = 70.0, marginRight = 18.0, titleHeight = 28.0, marginBottom = 46.0
    private let legendRowHeight = 18.0

    /// The legend entries' rows (each entry: its series index or reference index and its text),
    /// wrapped to the chart's width with an estimated 7 pixels per character.
    private var legendRows: [[(text: String, colorIndex: Int?, dashed: Bool)]] {
        var entries: [(text: String, colorIndex: Int?, dashed: Bool)] = series.map { s in
            let bad = s.points.filter { !AxisScale.isPlottable($0.x) || !AxisScale.isPlottable($0.y) }.count
            return (bad == 0 ? s.name : "\(s.name) (\(bad) not finite, not drawn)", s.colorIndex, false)
        }
        entries += references.map { ($0.label, $0.colorIndex, true) }
        var rows: [[(text: String, colorIndex: Int?, dashed: Bool)]] = []
        var row: [(text: String, colorIndex: Int?, dashed: Bool)] = []
        var used = 0.0
        let available = width - marginLeft - marginRight
        for e in entries {
            let w = entryWidth(e.text)
            if !row.isEmpty && used + w > available {
                rows.append(row)
                row = []
                used = 0
            }
            row.append(e)
            used += w
        }
        if !row.isEmpty { rows.append(row) }
        return rows
    }

    private func entryWidth(_ text: String) -> Double { 26 + 7 * Double(text.count) + 14 }

    /// The plot area's top edge (below the title and legend).
    private var plotTop: Double { titleHeight + Double(legendRows.count) * legendRowHeight + 8 }

    /// The SVG's total height.
    public var height: Double { plotTop + plotHeight + marginBottom }

    /// The x scale (all series' x values and the markers).
    public var xScale: AxisScale {
        let xs = series.flatMap { $0.points.filter { AxisScale.isPlottable($0.y) }.map(\.x) } + markers.map(\.x)
        return AxisScale(values: xs, start: marginLeft, end: width - marginRight, targetTicks: 7, integral: integralX)
    }

    /// The y scale (all series' y values and the reference lines).
    public var yScale: AxisScale {
        let ys = series.flatMap { $0.points.filter { AxisScale.isPlottable($0.x) }.map(\.y) } + references.map(\.y)
        return AxisScale(values: ys, start: plotTop + plotHeight, end: plotTop, targetTicks: 6,
                         includeZero: includeZeroY)
    }

    private func color(_ index: Int?) -> String {
        guard let index else { return "#888888" }
        return LineChart.palette[((index % LineChart.palette.count) + LineChart.palette.count) % LineChart.palette.count]
    }

    private func f(_ v: Double) -> String { String(format: "%.2f", v) }

    /// The value as hover text: up to 6 significant digits.
    private func hover(_ v: Double) -> String { v.isNaN ? "NaN" : String(format: "%.6g", v) }

    /// The chart as an `<svg>` element.
    public func svg() -> String {
        let xs = xScale, ys = yScale
        let left = marginLeft, top = plotTop, plotWidth = width - marginLeft - marginRight
        let bottom = top + plotHeight
        var o = ""
        o += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(Int(width))\" height=\"\(Int(height.rounded(.up)))\" "
        o += "viewBox=\"0 0 \(Int(width)) \(Int(height.rounded(.up)))\" role=\"img\" aria-label=\"\(title.htmlEscaped)\" "
        o += "data-chart=\"\(identifier.htmlEscaped)\" data-x-domain=\"\(xs.lo) \(xs.hi)\" data-y-domain=\"\(ys.lo) \(ys.hi)\" "
        o += "data-plot=\"\(left) \(top) \(plotWidth) \(plotHeight)\">\n"
        o += "<title>\(title.htmlEscaped)</title>\n"
        o += "<text class=\"chart-title\" x=\"\(f(left))\" y=\"18\">\(title.htmlEscaped)</text>\n"

        // Legend.
        o += "<g class=\"legend\">\n"
        for (r, row) in legendRows.enumerated() {
            var x = left
            let y = titleHeight + Double(r) * legendRowHeight + 8
            for e in row {
                let dash = e.dashed ? " stroke-dasharray=\"5 3\"" : ""
                o += "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + 20))\" y2=\"\(f(y))\" stroke=\"\(color(e.colorIndex))\" stroke-width=\"2.5\"\(dash)/>"
                o += "<text x=\"\(f(x + 26))\" y=\"\(f(y + 4))\">\(e.text.htmlEscaped)</text>\n"
                x += entryWidth(e.text)
            }
        }
        o += "</g>\n"

        // Grid, ticks and axis labels.
        o += "<g class=\"axis x-axis\">\n"
        for t in xs.ticks {
            let px = xs.pixel(t)
            o += "<line class=\"grid\" x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(bottom))\"/>"
            o += "<text class=\"tick\" x=\"\(f(px))\" y=\"\(f(bottom + 16))\" text-anchor=\"middle\">\(xs.label(t).htmlEscaped)</text>\n"
        }
        o += "<text class=\"axis-label\" x=\"\(f(left + plotWidth / 2))\" y=\"\(f(bottom + 36))\" text-anchor=\"middle\">\(xLabel.htmlEscaped)</text>\n"
        o += "</g>\n<g class=\"axis y-axis\">\n"
        for t in ys.ticks {
            let py = ys.pixel(t)
            o += "<line class=\"grid\" x1=\"\(f(left))\" y1=\"\(f(py))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py))\"/>"
            o += "<text class=\"tick\" x=\"\(f(left - 6))\" y=\"\(f(py + 4))\" text-anchor=\"end\">\(ys.label(t).htmlEscaped)</text>\n"
        }
        let labelX = 16.0, labelY = top + plotHeight / 2
        o += "<text class=\"axis-label\" x=\"\(f(labelX))\" y=\"\(f(labelY))\" text-anchor=\"middle\" "
        o += "transform=\"rotate(-90 \(f(labelX)) \(f(labelY)))\">\(yLabel.htmlEscaped)</text>\n"
        o += "</g>\n"
        o += "<rect class=\"frame\" x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\"/>\n"

        // Markers and reference lines, under the series.
        for m in markers where AxisScale.isPlottable(m.x) {
            let px = xs.pixel(m.x)
            o += "<g class=\"marker\"><line x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(bottom))\" stroke-dasharray=\"2 3\"/>"
            o += "<text x=\"\(f(px - 3))\" y=\"\(f(top + 11))\" text-anchor=\"end\">\(m.label.htmlEscaped)</text></g>\n"
        }
        for r in references where AxisScale.isPlottable(r.y) {
            let py = ys.pixel(r.y)
            o += "<path class=\"reference\" data-reference=\"\(r.key.htmlEscaped)\" d=\"M\(f(left)) \(f(py)) H\(f(left + plotWidth))\" "
            o += "stroke=\"\(color(r.colorIndex))\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\" fill=\"none\">"
            o += "<title>\(r.label.htmlEscaped)</title></path>\n"
        }

        // Series.
        var drawn = 0
        for (index, s) in series.enumerated() {
            // Earlier series are drawn wider, so a curve hidden under a later one with the
            // same values (equal task weights) still shows as a rim.
            let strokeWidth = 2 + min(2, 0.75 * Double(series.count - 1 - index))
            var d = ""
            var penDown = false
            var count = 0
            for p in s.points {
                guard AxisScale.isPlottable(p.x), AxisScale.isPlottable(p.y) else {
                    penDown = false
                    continue
                }
                d += (d.isEmpty ? "" : " ") + (penDown ? "L" : "M") + "\(f(xs.pixel(p.x))) \(f(ys.pixel(p.y)))"
                penDown = true
                count += 1
            }
            drawn += count
            let last = s.points.last.map { "; last \(hover($0.y)) at \(hover($0.x))" } ?? ""
            o += "<path class=\"series\" data-series=\"\(s.name.htmlEscaped)\" d=\"\(d)\" stroke=\"\(color(s.colorIndex))\" "
            o += "stroke-width=\"\(strokeWidth)\" fill=\"none\" stroke-linejoin=\"round\">"
            o += "<title>\("\(s.name): \(s.points.count) points\(last)".htmlEscaped)</title></path>\n"
            if s.points.count <= LineChart.markerLimit {
                for p in s.points where AxisScale.isPlottable(p.x) && AxisScale.isPlottable(p.y) {
                    o += "<circle data-point=\"\(s.name.htmlEscaped)\" cx=\"\(f(xs.pixel(p.x)))\" cy=\"\(f(ys.pixel(p.y)))\" r=\"3\" "
                    o += "fill=\"\(color(s.colorIndex))\"><title>\("\(s.name) at \(xLabel) \(hover(p.x)): \(hover(p.y))".htmlEscaped)</title></circle>\n"
                }
            }
        }
        if drawn == 0 {
            o += "<text class=\"empty\" x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight / 2))\" text-anchor=\"middle\">\(emptyText.htmlEscaped)</text>\n"
        }
        o += "</svg>"
        return o
    }
}
