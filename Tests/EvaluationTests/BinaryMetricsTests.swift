import Testing
import Evaluation

// Tolerances: as in ROCAUCTests (AUC, 1e-12 absolute) and LogLossTests (log loss, 1e-12
// relative to the float64 reference); against our own functions, exact equality, since
// binaryMetrics must compute the very same numbers.

@Suite("binaryMetrics")
struct BinaryMetricsTests {
    @Test("matches scikit-learn's roc_auc_score and log_loss", arguments: logLossFixtures)
    func matchesSklearn(_ fixture: LogLossFixture) {
        let m = binaryMetrics(scores: fixture.probabilities, labels: fixture.labels)
        #expect(abs(m.logLoss - fixture.reference) <= 1e-12 * fixture.reference)
        switch (m.auc, fixture.sklearnAUC) {
        case (let auc?, let reference?): #expect(abs(auc - reference) <= 1e-12)
        case (nil, nil): break
        default:
            Issue.record("auc \(String(describing: m.auc)), sklearn \(String(describing: fixture.sklearnAUC))")
        }
    }

    @Test("is rocAUC, logLoss and the class counts in one call", arguments: logLossFixtures)
    func composition(_ fixture: LogLossFixture) {
        let m = binaryMetrics(scores: fixture.probabilities, labels: fixture.labels)
        let positives = fixture.labels.filter { $0 > 0.5 }.count
        #expect(m == BinaryMetrics(
            auc: rocAUC(scores: fixture.probabilities, labels: fixture.labels),
            logLoss: logLoss(probabilities: fixture.probabilities, labels: fixture.labels),
            count: fixture.labels.count,
            positives: positives))
        #expect(m.negatives == fixture.labels.count - positives)
    }

    @Test("buffer and array overloads agree", arguments: logLossFixtures)
    func bufferOverload(_ fixture: LogLossFixture) {
        let viaBuffers = fixture.probabilities.withUnsafeBufferPointer { s in
            fixture.labels.withUnsafeBufferPointer { l in binaryMetrics(scores: s, labels: l) }
        }
        #expect(viaBuffers == binaryMetrics(scores: fixture.probabilities, labels: fixture.labels))
    }

    @Test("empty split: no AUC, NaN loss, zero counts")
    func empty() {
        let m = binaryMetrics(scores: [], labels: [])
        #expect(m.auc == nil)
        #expect(m.logLoss.isNaN)
        #expect(m.count == 0)
        #expect(m.positives == 0)
        #expect(m.negatives == 0)
        // Synthesized == compares logLoss with ==, and NaN is not equal to itself.
        #expect(m != m)
    }

    @Test("one-class split keeps its loss and counts")
    func oneClass() {
        let m = binaryMetrics(scores: [0.5, 0.5], labels: [1, 1])
        #expect(m.auc == nil)
        #expect(m.logLoss == logLoss(probabilities: [0.5], labels: [1]))
        #expect(m.count == 2)
        #expect(m.positives == 2)
        #expect(m.negatives == 0)
    }

    @Test("a count mismatch is a precondition failure that names both counts")
    func countMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = binaryMetrics(scores: [], labels: [1])
        }
        // Only debug builds print the message: -O builds trap without it.
        #if DEBUG
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("binaryMetrics: 0 scores but 1 labels"))
        #endif
    }
}
