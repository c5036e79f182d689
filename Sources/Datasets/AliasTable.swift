#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RecHubRandom

/// Walker's alias method: O(1) draws from fixed discrete distributions.
///
/// ```
/// Walker, "An efficient method for generating discrete random variables with general
/// distributions", ACM TOMS 3(3), 1977; built with Vose's stable construction.
/// ```
/// The table may hold several independent distributions side by side ("segments", e.g. the
/// items of each category); one 64-bit draw gives both the column (high 32 bits,
/// multiply-shift) and the coin (low 32 bits against a 32-bit threshold).
struct AliasTable: Sendable {
    /// Per column, the coin threshold in units of 2^-32 for keeping the column itself.
    private let threshold: [UInt32]
    /// Per column, the other outcome (an absolute column index).
    private let alias: [Int32]

    /// Number of outcomes over all segments.
    var count: Int { threshold.count }

    /// One distribution over `0..<weights.count`, from non-negative `weights` with a positive sum.
    init(weights: [Double]) {
        self.init(weights: weights, segmentStarts: [0])
    }

    /// Independent distributions over `segmentStarts[s]..<segmentStarts[s + 1]` (the last segment
    /// ends at `weights.count`); each segment's weights need a positive sum unless it is empty.
    init(weights: [Double], segmentStarts: [Int]) {
        let n = weights.count
        precondition(n > 0 && n <= Int(Int32.max), "AliasTable needs 1...\(Int32.max) weights, got \(n)")
        var threshold = [UInt32](repeating: UInt32.max, count: n)
        var alias = (0..<n).map { Int32($0) }
        var small: [Int] = [], large: [Int] = []
        var scaled = [Double](repeating: 0, count: n)
        for (s, start) in segmentStarts.enumerated() {
            let end = s + 1 < segmentStarts.count ? segmentStarts[s + 1] : n
            guard end > start else { continue }
            var total = 0.0
            for i in start..<end { total += weights[i] }
            precondition(total > 0 && total.isFinite, "AliasTable segment \(s) has weight sum \(total)")
            small.removeAll(keepingCapacity: true)
            large.removeAll(keepingCapacity: true)
            let m = Double(end - start)
            for i in start..<end {
                scaled[i] = weights[i] * m / total
                if scaled[i] < 1 { small.append(i) } else { large.append(i) }
            }
            while let sm = small.popLast() {
                guard let l = large.last else { break }
                threshold[sm] = UInt32(min(scaled[sm] * 4_294_967_296.0, 4_294_967_295.0))
                alias[sm] = Int32(l)
                scaled[l] -= 1 - scaled[sm]
                if scaled[l] < 1 { large.removeLast(); small.append(l) }
            }
            // Columns left over (rounding) keep themselves with certainty.
        }
        self.threshold = threshold
        self.alias = alias
    }

    /// Zipf–Mandelbrot weights `(k + 1 + offset)^-exponent` for `k` in `0..<count`.
    static func zipfWeights(count: Int, exponent: Double, offset: Double) -> [Double] {
        (0..<count).map { pow(Double($0) + 1 + offset, -exponent) }
    }

    /// One draw in `0..<count` (for a single-segment table).
    @inline(__always)
    func sample(_ rng: inout SeededRandom) -> Int {
        sample(&rng, start: 0, count: threshold.count)
    }

    /// One draw from the segment `start..<start + count`; returns an absolute index.
    @inline(__always)
    func sample(_ rng: inout SeededRandom, start: Int, count: Int) -> Int {
        let r = rng.next()
        let column = start + Int((UInt64(count) &* (r >> 32)) >> 32)
        return UInt32(truncatingIfNeeded: r) < threshold[column] ? column : Int(alias[column])
    }
}
