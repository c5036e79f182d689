import Foundation

/// A linear map from a data interval (the domain, widened to round tick values) onto a pixel
/// interval, with its tick values and their labels.
///
/// The ticks follow the "nice numbers" rule (P. S. Heckbert, "Nice numbers for graph labels",
/// Graphics Gems, 1990): the tick step is 1, 2 or 5 times a power of ten, and the domain is
/// widened outwards to whole steps:
/// ```
/// step = nice(nice(max − min) / (ticks − 1)),  lo = ⌊min / step⌋·step,  hi = ⌈max / step⌉·step
/// pixel(v) = start + (v − lo) / (hi − lo) · (end − start)
/// ```
/// No values gives the domain [0, 1]; one distinct value v is widened to v ± 10 % of |v| (± 1
/// for 0, or ± 1 for integral axes), so the width is never zero. Values that are NaN, infinite or
/// beyond ±1e300 (where `max − min` would overflow) are ignored.
public struct AxisScale: Sendable, Equatable {
    /// The domain's lower end (data units).
    public let lo: Double
    /// The domain's upper end (data units), always greater than `lo`.
    public let hi: Double
    /// The pixel where `lo` lands.
    public let start: Double
    /// The pixel where `hi` lands (smaller than `start` for a y axis, which grows upwards).
    public let end: Double
    /// The tick step (data units).
    public let step: Double
    /// The tick values, from `lo` to `hi` inclusive.
    public let ticks: [Double]

    /// The largest magnitude a plotted value may have.
    public static let plottableLimit = 1e300

    /// Whether `v` can be drawn (finite and within ±`plottableLimit`).
    public static func isPlottable(_ v: Double) -> Bool { v.isFinite && abs(v) <= plottableLimit }

    /// A scale over `values` mapped onto the pixels [start, end].
    /// - Parameters:
    ///   - values: the data (unplottable values are ignored).
    ///   - start: pixel of the domain's lower end.
    ///   - end: pixel of the domain's upper end.
    ///   - targetTicks: about how many ticks to place (at least 2).
    ///   - integral: ticks are whole numbers (steps, epochs): the step is at least 1.
    ///   - includeZero: the domain contains 0 (for signed quantities such as cosines).
    public init(values: [Double], start: Double, end: Double, targetTicks: Int = 6, integral: Bool = false,
                includeZero: Bool = false) {
        let finite = values.filter(AxisScale.isPlottable)
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        if includeZero { lo = min(lo, 0); hi = max(hi, 0) }
        if hi == lo {
            let pad = integral ? 1 : (lo == 0 ? 1 : abs(lo) * 0.1)
            lo -= pad
            hi += pad
        }
        let n = Double(max(2, targetTicks))
        var step = AxisScale.niceNumber(AxisScale.niceNumber(hi - lo, round: false) / (n - 1), round: true)
        if integral { step = max(1, step.rounded()) }
        let niceLo = (lo / step).rounded(.down) * step, niceHi = (hi / step).rounded(.up) * step
        self.lo = niceLo
        self.hi = niceHi
        self.start = start
        self.end = end
        self.step = step
        let count = Int(((niceHi - niceLo) / step).rounded()) + 1
        self.ticks = (0..<count).map { niceLo + Double($0) * step }
    }

    /// Heckbert's nice number near `x` (> 0): 1, 2, 5 or 10 times a power of ten, rounded to the
    /// nearest when `round`, else the smallest not below `x`.
    static func niceNumber(_ x: Double, round: Bool) -> Double {
        let exponent = log10(x).rounded(.down)
        let power = pow(10, exponent)
        let f = x / power
        let nice: Double
        if round { nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10 }
        else { nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10 }
        return nice * power
    }

    /// The pixel of data value `v`.
    public func pixel(_ v: Double) -> Double { start + (v - lo) / (hi - lo) * (end - start) }

    /// The data value at pixel `p` (the inverse of `pixel`).
    public func value(atPixel p: Double) -> Double { lo + (p - start) / (end - start) * (hi - lo) }

    /// A tick label: as many decimals as the step needs, thousands as `k` and millions as `M`
    /// when the step is that coarse, and `%g` form (with enough digits to tell ticks apart) for very
    /// small steps or very large values.
    public func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let magnitude = max(abs(lo), abs(hi))
        if magnitude >= 1e9 || step < 1e-5 {
            // Enough significant digits to tell neighbouring ticks apart.
            let digits = min(15, max(3, Int(log10(magnitude / step).rounded(.up)) + 1))
            return String(format: "%.\(digits)g", v)
        }
        func fixed(_ x: Double, _ s: Double) -> String {
            let decimals = max(0, Int(-log10(s).rounded(.down)))
            return String(format: "%.\(decimals)f", x)
        }
        if step >= 1e6 { return fixed(v / 1e6, step / 1e6) + "M" }
        if step >= 1e3 && magnitude >= 1e4 { return fixed(v / 1e3, step / 1e3) + "k" }
        return fixed(v, step)
    }
}
