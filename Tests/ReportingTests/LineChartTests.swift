import Foundation
import Testing
@testable import Reporting

/// The chart's markup read back: the curves' points through the chart's own scale, breaks at
/// values that cannot be drawn, degenerate series, escaping.
///
/// Tolerance: coordinates are written with 2 decimals (±0.005 px) on a plot at least 220 px
/// high and 512 px wide, so a point read back is within 0.005 / 220 < 3e-5 of the axis span.
struct LineChartTests {
    static func chart(_ series: [LineChart.Series], integralX: Bool = true) -> (LineChart, SVGReader.Chart) {
        var c = LineChart(identifier: "c", title: "T", xLabel: "step", yLabel: "loss", series: series)
        c.integralX = integralX
        let read = SVGReader(html: c.svg()).charts["c"]!
        return (c, read)
    }

    @Test func pointsReadBackThroughTheScale() throws {
        let pts = (1...40).map { (x: Double($0 * 25), y: 0.5 * exp(-Double($0) / 10) + 0.01 * sin(Double($0))) }
        let (c, read) = Self.chart([.init(name: "click", points: pts, colorIndex: 0)])
        let back = try #require(read.points("click"))
        let xs = c.xScale, ys = c.yScale
        #expect(read.xDomain == (xs.lo, xs.hi) && read.yDomain == (ys.lo, ys.hi))
        #expect(back.count == pts.count)
        for (p, q) in zip(pts, back) {
            #expect(abs(p.x - q.x) <= 3e-5 * (xs.hi - xs.lo))
            #expect(abs(p.y - q.y) <= 3e-5 * (ys.hi - ys.lo))
        }
        #expect(read.texts.contains("step") && read.texts.contains("loss") && read.texts.contains("T"))
        // Every tick label is on the page.
        for t in ys.ticks { #expect(read.texts.contains(ys.label(t))) }
        #expect(read.elements("circle").count == pts.count)  // hover markers up to markerLimit points
    }

    @Test func unplottableValuesBreakTheLineAndAreCounted() throws {
        let pts: [(x: Double, y: Double)] = [(1, 0.3), (2, 0.4), (3, .nan), (4, .infinity), (5, 0.2), (6, 0.25)]
        let (_, read) = Self.chart([.init(name: "p", points: pts, colorIndex: 1)])
        let segs = try #require(read.segments("p"))
        #expect(segs.count == 2 && segs[0].count == 2 && segs[1].count == 2)
        #expect(abs(segs[1][0].y - 0.2) < 1e-4)
        #expect(read.texts.contains("p (2 not finite, not drawn)"))
        #expect(!read.markup.contains("nan") && !read.markup.contains("inf"))
    }

    @Test func onePointNoPointsAndConstantSeries() throws {
        let (_, one) = Self.chart([.init(name: "a", points: [(x: 100, y: 0.7)], colorIndex: 0)])
        let p = try #require(one.points("a"))
        #expect(p.count == 1 && abs(p[0].x - 100) < 1e-3 && abs(p[0].y - 0.7) < 1e-4)
        #expect(one.elements("circle").count == 1)

        let (_, none) = Self.chart([.init(name: "a", points: [], colorIndex: 0)])
        #expect(none.seriesNames == ["a"] && none.points("a")!.isEmpty && none.texts.contains("no data yet"))
        #expect(!none.markup.contains("nan"))

        let flat = (1...5).map { (x: Double($0), y: 1.0) }
        let (_, constant) = Self.chart([.init(name: "w", points: flat, colorIndex: 0)])
        let (lo, hi) = constant.yDomain
        #expect(lo < 1 && hi > 1)
        for q in constant.points("w")! { #expect(abs(q.y - 1) < 1e-4) }
    }

    @Test func namesAreEscaped() {
        let name = "<b>\"a&b\"</b>'"
        var c = LineChart(identifier: "x\"y", title: "t<i>", xLabel: "x&", yLabel: "y'", series: [
            .init(name: name, points: [(x: 1, y: 1)], colorIndex: 0)])
        c.references = [.init(label: "oracle <x>", key: name, y: 0.5, colorIndex: 0)]
        let svg = c.svg()
        #expect(!svg.contains("<b>") && !svg.contains("<i>") && !svg.contains("x\"y"))
        let read = SVGReader(html: svg).charts["x\"y"]
        #expect(read?.seriesNames == [name])
        #expect(read.map { abs($0.references[name]! - 0.5) < 1e-4 } == true)
    }

    @Test func referenceLinesAndMarkersWidenTheDomain() {
        var c = LineChart(identifier: "r", title: "AUC", xLabel: "epoch", yLabel: "AUC",
                          series: [.init(name: "click", points: [(x: 1, y: 0.60), (x: 2, y: 0.62)], colorIndex: 0)])
        c.references = [.init(label: "oracle", key: "click", y: 0.71, colorIndex: 0)]
        c.markers = [.init(label: "end", x: 4)]
        #expect(c.yScale.hi >= 0.71 && c.xScale.hi >= 4)
    }
}
