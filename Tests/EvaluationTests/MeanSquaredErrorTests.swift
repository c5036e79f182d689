import Testing
import Evaluation

// Tolerance against scikit-learn: 1e-13 relative. Both sides square the same exact float64
// differences and sum ≤ 100 terms in float64 (NumPy pairwise, ours left to right), which
// differ by at most ~n ulps.

@Suite("meanSquaredError")
struct MeanSquaredErrorTests {
    @Test("matches scikit-learn's mean_squared_error", arguments: mseFixtures)
    func matchesSklearn(_ fixture: MSEFixture) {
        let mse = meanSquaredError(predictions: fixture.predictions, labels: fixture.labels)
        #expect(abs(mse - fixture.sklearnMSE) <= 1e-13 * fixture.sklearnMSE)
    }

    @Test("buffer and array overloads agree", arguments: mseFixtures)
    func bufferOverload(_ fixture: MSEFixture) {
        let viaBuffers = fixture.predictions.withUnsafeBufferPointer { p in
            fixture.labels.withUnsafeBufferPointer { l in meanSquaredError(predictions: p, labels: l) }
        }
        #expect(viaBuffers == meanSquaredError(predictions: fixture.predictions, labels: fixture.labels))
    }

    @Test("differences are taken in Float64, so large nearby values lose nothing")
    func exactDifferences() {
        // In Float, 16777217 is not representable; 16777216 and 16777218 are, 2 apart.
        #expect(meanSquaredError(predictions: [16_777_218], labels: [16_777_216]) == 4)
        // Float's largest values: the difference squared overflows Float but not Double.
        let big = Float.greatestFiniteMagnitude
        let expected = Double(big) * Double(big)
        #expect(meanSquaredError(predictions: [big], labels: [0]) == expected)
    }

    @Test("empty input gives NaN")
    func empty() {
        #expect(meanSquaredError(predictions: [], labels: []).isNaN)
    }

    @Test("a count mismatch is a precondition failure that names both counts")
    func countMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = meanSquaredError(predictions: [1, 2], labels: [1, 2, 3])
        }
        // Only debug builds print the message: -O builds trap without it.
        #if DEBUG
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("meanSquaredError: 2 predictions but 3 labels"))
        #endif
    }
}
