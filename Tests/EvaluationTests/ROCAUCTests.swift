#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import Evaluation

// Tolerances.
// - Against scikit-learn: 1e-12 absolute. Our AUC is one division of two exact integers
//   (2U and 2PN), so it is correctly rounded; sklearn integrates the ROC curve with float64
//   cumulative sums and the trapezoid rule, which for these ≤ 200-sample fixtures is off by
//   at most a few 1e-16 (e.g. it gives 0.49999999999999994 for an exact 0.5).
// - Against the exact ratio, the brute-force O(n²) count and the rank-sum reference: exact
//   equality. Each computes the same integers 2U and 2PN and divides them once in Double.
// - Identities that need a subtraction (1 − AUC): 1e-15 absolute, a few ulps of 1.

/// The reference: all P·N pairs, ties counted half, as an exact ratio.
func bruteForceAUC<S: BinaryFloatingPoint>(scores: [S], labels: [Float]) -> Double? {
    var twiceU = 0
    var positives = 0
    var negatives = 0
    for (s, y) in zip(scores, labels) {
        if y > 0.5 { positives += 1 } else { negatives += 1 }
        guard y > 0.5 else { continue }
        for (t, z) in zip(scores, labels) where !(z > 0.5) {
            twiceU += s > t ? 2 : (s == t ? 1 : 0)
        }
    }
    guard positives > 0, negatives > 0 else { return nil }
    return Double(twiceU) / (2 * Double(positives) * Double(negatives))
}

/// An independent O(n log n) reference: the Mann–Whitney rank sum with average ranks.
///
/// ```
/// 2U = Σ_{i positive} 2·rank_i − P(P + 1),  2·rank of a tie run at sorted positions a..<b = a + 1 + b
/// ```
func rankSumAUC(scores: [Float], labels: [Float]) -> Double? {
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var twiceRankSum = 0
    var positives = 0
    var a = 0
    while a < order.count {
        var b = a + 1
        while b < order.count && scores[order[b]] == scores[order[a]] { b += 1 }
        for k in a..<b where labels[order[k]] > 0.5 {
            twiceRankSum += a + 1 + b
            positives += 1
        }
        a = b
    }
    let negatives = scores.count - positives
    guard positives > 0, negatives > 0 else { return nil }
    let twiceU = twiceRankSum - positives * (positives + 1)
    return Double(twiceU) / (2 * Double(positives) * Double(negatives))
}

/// How a random test draws its scores.
enum ScoreKind: Sendable, CustomStringConvertible {
    /// k / levels for k in 0..<levels: many ties when `levels` is small.
    case levels(Int)
    /// Any non-NaN Float bit pattern: both signs, subnormals, huge values, infinities.
    case bits
    /// Drawn from a short list of special values (±0, ±∞, extremes): ties everywhere.
    case specials

    var description: String {
        switch self {
        case .levels(let k): "\(k) levels"
        case .bits: "random bits"
        case .specials: "special values"
        }
    }
}

/// Values whose order the key mapping must get right, ascending (−0 and +0 are equal).
let specialScores: [Float] = [
    -.infinity, -.greatestFiniteMagnitude, -1e20, -1, -.leastNormalMagnitude,
    -.leastNonzeroMagnitude, -0.0, 0, .leastNonzeroMagnitude, .leastNormalMagnitude,
    0x1p-23, 0.5, 1 - 0x1p-24, 1, 1e20, .greatestFiniteMagnitude, .infinity,
]

/// Seeded scores and labels; positives lean towards higher scores so AUC is not ~0.5.
func makeSample(count: Int, kind: ScoreKind, seed: UInt64) -> (scores: [Float], labels: [Float]) {
    var rng = SplitMix64(seed: seed)
    var scores = [Float]()
    var labels = [Float]()
    scores.reserveCapacity(count)
    labels.reserveCapacity(count)
    for _ in 0..<count {
        let s: Float
        let rank: Float  // in [0, 1]: where s sits, to bias the label
        switch kind {
        case .levels(let levels):
            let k = rng.nextInt(below: levels)
            s = Float(k) / Float(levels)
            rank = s
        case .bits:
            var x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            while x.isNaN { x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
            s = x
            rank = x > 0 ? 0.8 : 0.2
        case .specials:
            let k = rng.nextInt(below: specialScores.count)
            s = specialScores[k]
            rank = Float(k) / Float(specialScores.count - 1)
        }
        scores.append(s)
        labels.append(rng.nextLabel(probability: 0.2 + 0.6 * rank))
    }
    return (scores, labels)
}

@Suite("rocAUC")
struct ROCAUCTests {
    @Test("matches scikit-learn's roc_auc_score", arguments: aucFixtures)
    func matchesSklearn(_ fixture: AUCFixture) throws {
        let auc = try #require(rocAUC(scores: fixture.scores, labels: fixture.labels))
        #expect(abs(auc - fixture.sklearnAUC) <= 1e-12)
        #expect(auc == Double(fixture.twiceU) / Double(fixture.twicePairs))
    }

    @Test("Float64 scores rank like the same values as Float", arguments: aucFixtures)
    func doubleOverload(_ fixture: AUCFixture) {
        let wide = fixture.scores.map(Double.init)
        #expect(rocAUC(scores: wide, labels: fixture.labels)
                == rocAUC(scores: fixture.scores, labels: fixture.labels))
    }

    @Test("buffer and array overloads agree", arguments: aucFixtures)
    func bufferOverload(_ fixture: AUCFixture) {
        let viaBuffers = fixture.scores.withUnsafeBufferPointer { s in
            fixture.labels.withUnsafeBufferPointer { l in rocAUC(scores: s, labels: l) }
        }
        #expect(viaBuffers == rocAUC(scores: fixture.scores, labels: fixture.labels))
    }

    @Test("one class only: AUC is undefined")
    func oneClass() {
        #expect(rocAUC(scores: [0.25, 0.5, 0.75] as [Float], labels: [1, 1, 1]) == nil)
        #expect(rocAUC(scores: [0.25, 0.5, 0.75] as [Float], labels: [0, 0, 0]) == nil)
        #expect(rocAUC(scores: [0.5] as [Float], labels: [1]) == nil)
        #expect(rocAUC(scores: [0.5] as [Double], labels: [0]) == nil)
        // Undefined wins over NaN: there is no pair to rank.
        #expect(rocAUC(scores: [.nan, 0.5] as [Float], labels: [1, 1]) == nil)
    }

    @Test("empty input: AUC is undefined")
    func empty() {
        #expect(rocAUC(scores: [Float](), labels: []) == nil)
        #expect(rocAUC(scores: [Double](), labels: []) == nil)
    }

    @Test("two samples: 1, ½ or 0")
    func twoSamples() {
        #expect(rocAUC(scores: [0.75, 0.25] as [Float], labels: [1, 0]) == 1)
        #expect(rocAUC(scores: [0.25, 0.75] as [Float], labels: [1, 0]) == 0)
        #expect(rocAUC(scores: [0.5, 0.5] as [Float], labels: [1, 0]) == 0.5)
    }

    @Test("a NaN score makes the AUC NaN")
    func nanScore() throws {
        let auc = try #require(rocAUC(scores: [0.25, .nan, 0.75] as [Float], labels: [0, 1, 1]))
        #expect(auc.isNaN)
        let wide = try #require(rocAUC(scores: [0.25, .nan, 0.75] as [Double], labels: [0, 1, 1]))
        #expect(wide.isNaN)
    }

    @Test("labels above 0.5 are positive, the rest (NaN too) negative")
    func labelThreshold() {
        let scores: [Float] = [0.1, 0.2, 0.3, 0.4, 0.5]
        #expect(rocAUC(scores: scores, labels: [0, 0.5, 0.51, 0.9, 2]) == 1)
        #expect(rocAUC(scores: scores, labels: [0, .nan, -1, 1, 1]) == 1)
    }

    @Test("every pair of special values is ordered as Float compares them")
    func specialValueOrder() {
        for a in specialScores {
            for b in specialScores {
                let expected: Double = a > b ? 1 : (a == b ? 0.5 : 0)
                #expect(rocAUC(scores: [a, b], labels: [1, 0]) == expected, "positive \(a), negative \(b)")
                #expect(rocAUC(scores: [Double(a), Double(b)], labels: [1, 0]) == expected,
                        "Float64: positive \(a), negative \(b)")
            }
        }
    }

    @Test("Float64 scores closer than a Float ulp are not merged into ties")
    func doublePrecisionRanking() {
        let base = 0.3
        let scores = [base, base.nextUp, base.nextUp.nextUp, base.nextDown]
        #expect(Float(scores[0]) == Float(scores[1]))
        #expect(rocAUC(scores: scores, labels: [0, 1, 1, 0]) == 1)
    }

    struct BruteForceCase: Sendable, CustomTestStringConvertible {
        let count: Int
        let kind: ScoreKind
        let seed: UInt64
        var testDescription: String { "n=\(count), \(kind), seed \(seed)" }
    }

    static let bruteForceCases: [BruteForceCase] = [
        .init(count: 2, kind: .levels(2), seed: 1),
        .init(count: 3, kind: .levels(2), seed: 2),
        .init(count: 10, kind: .levels(3), seed: 3),
        .init(count: 57, kind: .levels(5), seed: 4),
        .init(count: 200, kind: .levels(17), seed: 5),
        .init(count: 256, kind: .levels(256), seed: 6),
        .init(count: 1000, kind: .levels(1 << 20), seed: 7),
        .init(count: 1000, kind: .levels(40), seed: 8),
        .init(count: 2049, kind: .levels(9), seed: 9),
        .init(count: 31, kind: .bits, seed: 10),
        .init(count: 1500, kind: .bits, seed: 11),
        .init(count: 40, kind: .specials, seed: 12),
        .init(count: 1200, kind: .specials, seed: 13),
    ]

    @Test("agrees exactly with the O(n²) pairwise count", arguments: bruteForceCases)
    func bruteForce(_ c: BruteForceCase) {
        let (scores, labels) = makeSample(count: c.count, kind: c.kind, seed: c.seed)
        let expected = bruteForceAUC(scores: scores, labels: labels)
        #expect(rocAUC(scores: scores, labels: labels) == expected)
        #expect(rocAUC(scores: scores.map(Double.init), labels: labels) == expected)
    }

    @Test("agrees exactly with the rank-sum formula on larger inputs",
          arguments: [ScoreKind.levels(1000), .levels(1 << 24), .bits])
    func rankSum(_ kind: ScoreKind) throws {
        let (scores, labels) = makeSample(count: 100_000, kind: kind, seed: 2024)
        let expected = try #require(rankSumAUC(scores: scores, labels: labels))
        #expect(rocAUC(scores: scores, labels: labels) == expected)
    }

    /// Strictly increasing maps of [0, 1) scores, applied in Float64 where no two distinct
    /// Float inputs can round to the same output.
    enum Transform: String, CaseIterable, Sendable {
        case affine, cube, exponential, logit, reciprocal

        func callAsFunction(_ x: Double) -> Double {
            switch self {
            case .affine: 3 * x - 7
            case .cube: x * x * x
            case .exponential: exp(4 * x)
            case .logit: log(x / (1 - x))
            case .reciprocal: -1 / (x + 0.5)
            }
        }
    }

    @Test("invariant under strictly increasing transforms of the scores", arguments: Transform.allCases)
    func monotoneInvariance(_ transform: Transform) throws {
        for (seed, levels) in [(UInt64(21), 12), (22, 1 << 24)] {
            let (scores, labels) = makeSample(count: 3000, kind: .levels(levels), seed: seed)
            let auc = try #require(rocAUC(scores: scores, labels: labels))
            let transformed = scores.map { transform(Double($0)) }
            #expect(rocAUC(scores: transformed, labels: labels) == auc)
        }
    }

    @Test("flipping labels or negating scores gives 1 − AUC; permuting samples changes nothing")
    func symmetries() throws {
        var (scores, labels) = makeSample(count: 5000, kind: .levels(50), seed: 31)
        let auc = try #require(rocAUC(scores: scores, labels: labels))
        let flipped = try #require(rocAUC(scores: scores, labels: labels.map { 1 - $0 }))
        let negated = try #require(rocAUC(scores: scores.map { -$0 }, labels: labels))
        #expect(abs(flipped - (1 - auc)) <= 1e-15)
        #expect(abs(negated - (1 - auc)) <= 1e-15)

        var order = Array(scores.indices)
        var rng = SplitMix64(seed: 32)
        rng.shuffle(&order)
        scores = order.map { scores[$0] }
        labels = order.map { labels[$0] }
        #expect(rocAUC(scores: scores, labels: labels) == auc)
    }

    @Test("a count mismatch is a precondition failure that names both counts")
    func countMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = rocAUC(scores: [0.5, 0.25] as [Float], labels: [1])
        }
        // Only debug builds print the message: -O builds trap without it.
        #if DEBUG
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("rocAUC: 2 scores but 1 labels"))
        #endif
    }
}
