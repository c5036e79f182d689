import Testing
@testable import Reporting

struct AxisScaleTests {
    @Test func ticksAreNiceAndCoverTheData() {
        let s = AxisScale(values: [0.613, 0.702, 0.688], start: 0, end: 100)
        #expect(s.step == 0.02)
        #expect(s.lo <= 0.613 && s.hi >= 0.702 && s.lo > 0.58 && s.hi < 0.73)
        #expect(s.ticks.first == s.lo && abs(s.ticks.last! - s.hi) < 1e-12)
        #expect(s.ticks.map(s.label) == ["0.60", "0.62", "0.64", "0.66", "0.68", "0.70", "0.72"])
    }

    @Test func pixelAndValueAreInverse() {
        let s = AxisScale(values: [3, 17], start: 250, end: 30)  // a y axis: grows upwards
        for v in [3.0, 7.5, 17] { #expect(abs(s.value(atPixel: s.pixel(v)) - v) < 1e-12) }
        #expect(s.pixel(s.lo) == 250 && s.pixel(s.hi) == 30)
    }

    @Test(arguments: [[], [0.0], [5.0], [-2.0, -2.0], [Double.nan, .infinity, -.infinity, 1e308]])
    func degenerateDataGivesAPositiveWidth(values: [Double]) {
        let s = AxisScale(values: values, start: 0, end: 100)
        #expect(s.hi > s.lo && s.lo.isFinite && s.hi.isFinite && s.ticks.count >= 2)
        for v in values where AxisScale.isPlottable(v) { #expect(s.lo <= v && v <= s.hi) }
        #expect(s.pixel(s.lo).isFinite && s.pixel(s.hi).isFinite)
    }

    @Test func integralAxesStepByWholeNumbers() {
        let one = AxisScale(values: [1], start: 0, end: 100, integral: true)
        #expect(one.ticks == [0, 1, 2])
        let epochs = AxisScale(values: [1, 2, 3], start: 0, end: 100, integral: true)
        #expect(epochs.step == 1 && epochs.ticks.map(epochs.label) == ["1", "2", "3"])
    }

    @Test func zeroCanBeIncluded() {
        let s = AxisScale(values: [0.2, 0.4], start: 0, end: 100, includeZero: true)
        #expect(s.lo == 0 && s.hi >= 0.4)
    }

    @Test func largeAndTinyLabels() {
        let big = AxisScale(values: [10500, 12900], start: 0, end: 100)
        #expect(big.ticks.map(big.label).contains("12k"))
        let tiny = AxisScale(values: [1.0000001, 1.0000004], start: 0, end: 100)
        let labels = tiny.ticks.map(tiny.label)
        #expect(Set(labels).count == labels.count, "\(labels)")
    }
}
