#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import Evaluation

// Tolerances.
// - Against `reference` (sklearn's log_loss on the float32-clipped values as float64):
//   1e-12 relative. Both sides take one float64 log per sample of the same exact argument
//   (glibc's and NumPy's logs are within a few ulps) and sum ≤ 200 terms in float64, so
//   they agree to ~1e-15; 1e-12 leaves room for another libm.
// - Against `sklearnFloat32` (sklearn's own arithmetic on the raw float32 array): 1e-6
//   relative. Its logs and sums are float32 (unit roundoff 6e-8); the generator asserts the
//   same bound, and the largest gap it saw is printed at the top of SklearnFixtures.swift.
// - Closed forms and the seeded direct formula: 1e-14 relative (a few ulps per term).

/// −log of the clipping bound: what a confidently wrong Float32 prediction costs.
let clippedCost = -log(0x1p-23)

@Suite("logLoss")
struct LogLossTests {
    @Test("matches scikit-learn's log_loss with float32 clipping", arguments: logLossFixtures)
    func matchesSklearn(_ fixture: LogLossFixture) {
        let loss = logLoss(probabilities: fixture.probabilities, labels: fixture.labels)
        #expect(abs(loss - fixture.reference) <= 1e-12 * fixture.reference)
        #expect(abs(loss - fixture.sklearnFloat32) <= 1e-6 * fixture.sklearnFloat32)
    }

    @Test("buffer and array overloads agree", arguments: logLossFixtures)
    func bufferOverload(_ fixture: LogLossFixture) {
        let viaBuffers = fixture.probabilities.withUnsafeBufferPointer { p in
            fixture.labels.withUnsafeBufferPointer { l in logLoss(probabilities: p, labels: l) }
        }
        #expect(viaBuffers == logLoss(probabilities: fixture.probabilities, labels: fixture.labels))
    }

    @Test("the clipping bound is Float32's machine epsilon")
    func epsilon() {
        #expect(logLossEpsilon == Double(Float.ulpOfOne))
        #expect(logLossEpsilon == 0x1p-23)
    }

    @Test("exact 0 and 1 are clipped to ε and 1 − ε")
    func clippingAtTheEnds() {
        // 1 − (1 − 2^-23) is exactly 2^-23, so both wrong answers cost the same.
        #expect(logLoss(probabilities: [0], labels: [1]) == clippedCost)
        #expect(logLoss(probabilities: [1], labels: [0]) == clippedCost)
        #expect(logLoss(probabilities: [0], labels: [0]) == -log(1 - 0x1p-23))
        #expect(logLoss(probabilities: [1], labels: [1]) == -log(1 - 0x1p-23))
        #expect(logLoss(probabilities: [0, 1], labels: [1, 0]) == clippedCost)
    }

    @Test("values inside the clipping band cost the same as the bound",
          arguments: [Float(0), .leastNonzeroMagnitude, 1e-30, 1e-10, 0x1p-24, 0x1p-23])
    func clippingBand(_ tiny: Float) {
        let nearOne = 1 - tiny
        for label: Float in [0, 1] {
            #expect(logLoss(probabilities: [tiny], labels: [label])
                    == logLoss(probabilities: [0x1p-23], labels: [label]))
            #expect(logLoss(probabilities: [nearOne], labels: [label])
                    == logLoss(probabilities: [1 - 0x1p-23], labels: [label]))
        }
        // Just inside the band nothing is clipped.
        let inside: Float = 0x1p-22
        #expect(logLoss(probabilities: [inside], labels: [1]) == -log(0x1p-22))
    }

    @Test("probabilities outside [0, 1] are clipped too")
    func outOfRange() {
        #expect(logLoss(probabilities: [-0.5], labels: [1]) == clippedCost)
        #expect(logLoss(probabilities: [1.5], labels: [0]) == clippedCost)
        #expect(logLoss(probabilities: [-.infinity, .infinity], labels: [1, 0]) == clippedCost)
    }

    @Test("empty input gives NaN")
    func empty() {
        #expect(logLoss(probabilities: [], labels: []).isNaN)
    }

    @Test("a NaN probability makes the loss NaN")
    func nanProbability() {
        #expect(logLoss(probabilities: [0.5, .nan], labels: [1, 0]).isNaN)
        #expect(logLoss(probabilities: [.nan], labels: [1]).isNaN)
    }

    @Test("labels above 0.5 count as 1, the rest (NaN too) as 0")
    func labelThreshold() {
        let p: [Float] = [0.25, 0.25, 0.25, 0.25]
        #expect(logLoss(probabilities: p, labels: [0.51, 2, 0.5, .nan])
                == logLoss(probabilities: p, labels: [1, 1, 0, 0]))
    }

    @Test("agrees with the textbook formula on seeded inputs", arguments: [1, 7, 100, 4096])
    func directFormula(_ count: Int) {
        var rng = SplitMix64(seed: UInt64(count))
        var p = [Float]()
        var y = [Float]()
        for _ in 0..<count {
            let q = Float(0x1p-20) + rng.nextFloat() * Float(1 - 0x1p-19)  // inside the band
            p.append(q)
            y.append(rng.nextLabel(probability: q))
        }
        var sum = 0.0
        for (q, label) in zip(p, y) {
            let q = Double(q), label = Double(label)
            sum += label * log(q) + (1 - label) * log1p(-q)
        }
        let expected = -sum / Double(count)
        #expect(abs(logLoss(probabilities: p, labels: y) - expected) <= 1e-14 * expected)
    }

    @Test("a count mismatch is a precondition failure that names both counts")
    func countMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = logLoss(probabilities: [0.5], labels: [1, 0, 1])
        }
        // Only debug builds print the message: -O builds trap without it.
        #if DEBUG
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("logLoss: 1 probabilities but 3 labels"))
        #endif
    }
}
