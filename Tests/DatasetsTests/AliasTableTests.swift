import RecHubRandom
import Testing
@testable import Datasets

@Suite struct AliasTableTests {
    /// 400 000 draws per case; each outcome's frequency must be within 5 standard errors
    /// (√(p(1-p)/n)) plus 1e-4 of its probability: a false failure has odds below 1e-5.
    @Test(arguments: [
        [1.0], [1, 1], [0.6, 0.3, 0.1], [5, 0, 1, 0, 4], AliasTable.zipfWeights(count: 50, exponent: 1.1, offset: 2),
    ])
    func frequenciesMatchTheWeights(weights: [Double]) {
        let table = AliasTable(weights: weights)
        var rng = SeededRandom(seed: 17)
        let n = 400_000
        var counts = [Int](repeating: 0, count: weights.count)
        for _ in 0..<n { counts[table.sample(&rng)] += 1 }
        let total = weights.reduce(0, +)
        for (k, w) in weights.enumerated() {
            let p = w / total
            let tolerance = 5 * (p * (1 - p) / Double(n)).squareRoot() + 1e-4
            #expect(abs(Double(counts[k]) / Double(n) - p) <= tolerance, "outcome \(k): \(counts[k]) vs p \(p)")
        }
    }

    @Test func segmentsAreIndependentDistributions() {
        // Segments [0, 3), [3, 3) (empty), [3, 5).
        let table = AliasTable(weights: [1, 2, 1, 9, 1], segmentStarts: [0, 3, 3])
        var rng = SeededRandom(seed: 3)
        var first = [0, 0, 0], second = [0, 0]
        for _ in 0..<100_000 {
            first[table.sample(&rng, start: 0, count: 3)] += 1
            second[table.sample(&rng, start: 3, count: 2) - 3] += 1
        }
        #expect(abs(Double(first[1]) / 100_000 - 0.5) < 0.01)
        #expect(abs(Double(second[0]) / 100_000 - 0.9) < 0.01)
    }

    @Test func zipfWeightsDecrease() {
        let w = AliasTable.zipfWeights(count: 5, exponent: 1, offset: 0)
        #expect(w == [1, 0.5, 1.0 / 3, 0.25, 0.2])
    }
}
