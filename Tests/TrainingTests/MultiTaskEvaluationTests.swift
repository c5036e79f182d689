import Collectives
import Datasets
import Foundation
import Models
@testable import Training
import Testing

/// `evaluateMultiTask` and `predictMultiTask` against a hand computation from the scores:
/// AUC as the fraction of (positive, negative) pairs ranked right (ties ½), LogLoss with the
/// documented clip ε = 2^-23, MSE as the mean squared difference; the entries keyed and
/// ordered as documented (tasks, then auxiliary metrics, then sample spaces).
struct MultiTaskEvaluationTests {
    /// Pairwise AUC in Double (nil with one class), O(P·N): independent of the library's sort.
    static func pairwiseAUC(_ scores: [Float], _ labels: [Float]) -> Double? {
        let pos = zip(scores, labels).filter { $0.1 > 0.5 }.map(\.0), neg = zip(scores, labels).filter { $0.1 <= 0.5 }.map(\.0)
        guard !pos.isEmpty, !neg.isEmpty else { return nil }
        var right = 0.0
        for p in pos { for n in neg { right += p > n ? 1 : (p == n ? 0.5 : 0) } }
        return right / Double(pos.count * neg.count)
    }

    static func logLoss(_ scores: [Float], _ labels: [Float]) -> Double {
        let eps = 0x1p-23
        var sum = 0.0
        for (s, y) in zip(scores, labels) {
            let p = min(max(Double(s), eps), 1 - eps)
            sum -= y > 0.5 ? Foundation.log(p) : Foundation.log(1 - p)
        }
        return sum / Double(scores.count)
    }

    /// Every classification entry against the hand computation from `scores`.
    static func expectMatches(_ m: TaskMetrics, _ scores: [Float], _ labels: [Float], _ what: String) {
        #expect(m.count == scores.count && m.positives == labels.filter { $0 > 0.5 }.count, "\(what): counts")
        let auc = pairwiseAUC(scores, labels)
        #expect((m.auc == nil) == (auc == nil), "\(what): AUC defined")
        if let a = m.auc, let b = auc { #expect(abs(a - b) < 1e-12, "\(what): AUC \(a), by hand \(b)") }
        if let l = m.logLoss { #expect(abs(l - logLoss(scores, labels)) < 1e-12 * max(1, l), "\(what): LogLoss") }
        #expect(m.logLoss != nil && m.mse == nil)
    }

    static let data = TrainerFixtures.data(rows: 3_000)

    /// MMoE's two tasks, each scored over every row against its own label column, then the
    /// purchase task over its sample space (rows with click = 1) keyed "purchase (on click = 1)".
    @Test func perTaskMetricsEqualAHandComputation() throws {
        let data = Self.data
        let model = TrainerFixtures.mmoe(data)
        let metrics = evaluateMultiTask(model, data, sampleSpaces: [nil, 0])
        #expect(metrics.map(\.task) == ["click", "purchase", "purchase (on click = 1)"])
        let p = try predictMultiTask(model, data)
        #expect(p.count == data.count * 2)
        let clicks = data.labels(task: 0), purchases = data.labels(task: 1)
        Self.expectMatches(metrics[0], (0..<data.count).map { p[$0 * 2] }, clicks, "click")
        Self.expectMatches(metrics[1], (0..<data.count).map { p[$0 * 2 + 1] }, purchases, "purchase")
        let clicked = (0..<data.count).filter { clicks[$0] == 1 }
        #expect(clicked.count > 30 && metrics[2].positives > 0, "the space holds clicks and some purchases")
        Self.expectMatches(metrics[2], clicked.map { p[$0 * 2 + 1] }, clicked.map { purchases[$0] }, "purchase on clicks")
    }

    /// Scoring in batches of 7 rows (the last one partial) puts every row's scores in its place:
    /// they equal one batch's to Float rounding (OpenBLAS may sum a 7-row product in another
    /// order than a 3000-row one, so not bit for bit: 1e-5 on probabilities), and so do the
    /// metrics (LogLoss to 1e-5; AUC to 1e-3, as a rounding may swap two nearly tied scores).
    /// `taskNames` renames the tasks and the sample space's column name alike.
    @Test func batchSizeDoesNotMatterAndTaskNamesKeyTheEntries() throws {
        let data = Self.data
        let model = TrainerFixtures.sharedBottom(data)
        let whole = evaluateMultiTask(model, data, sampleSpaces: [nil, 0])
        let small = evaluateMultiTask(model, data, batchSize: 7, sampleSpaces: [nil, 0])
        #expect(small.map(\.task) == whole.map(\.task) && small.map(\.count) == whole.map(\.count))
        for (a, b) in zip(small, whole) {
            #expect(abs(a.logLoss! - b.logLoss!) < 1e-5 && abs(a.auc! - b.auc!) < 1e-3, "\(a.task)")
        }
        let p7 = try predictMultiTask(model, data, batchSize: 7), p = try predictMultiTask(model, data)
        #expect(p7.count == p.count)
        let worst = zip(p7, p).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "largest difference \(worst)")
        let named = evaluateMultiTask(model, data, taskNames: ["ctr", "ctcvr"], sampleSpaces: [nil, 0])
        #expect(named.map(\.task) == ["ctr", "ctcvr", "ctcvr (on ctr = 1)"])
        #expect(named.map(\.auc) == whole.map(\.auc) && named.map(\.logLoss) == whole.map(\.logLoss))
        #expect(evaluateMultiTask(model, data, sampleSpaces: [nil]).count == 2, "no space, no extra entry")
    }

    /// ESMM's auxiliary pCVR is reported after the tasks as "cvr (on click = 1)": its own output,
    /// scored against purchase over clicked rows only. `predictMultiTask` returns the tasks'
    /// columns without it.
    @Test func auxiliaryMetricsFollowTheTasks() throws {
        let data = Self.data
        let model = ESMM(features: TrainerFixtures.features(data), towerUnits: [8], embeddingInitStd: 0.01)
        model.initialize(seed: 2)
        let metrics = evaluateMultiTask(model, data)
        #expect(metrics.map(\.task) == ["click", "purchase", "cvr (on click = 1)"])
        let (all, width) = try scoreAll(model, data, batchSize: 256, communicator: LocalCommunicator())
        #expect(width == 3)
        let p = try predictMultiTask(model, data)
        let sameTasks = (0..<data.count).allSatisfy { (i: Int) -> Bool in
            p[i * 2] == all[i * 3] && p[i * 2 + 1] == all[i * 3 + 1]
        }
        #expect(sameTasks, "predictMultiTask holds the task columns of scoreAll")
        let clicks = data.labels(task: 0), purchases = data.labels(task: 1)
        let clicked = (0..<data.count).filter { clicks[$0] == 1 }
        Self.expectMatches(metrics[2], clicked.map { all[$0 * 3 + 2] }, clicked.map { purchases[$0] }, "cvr")
        Self.expectMatches(metrics[1], (0..<data.count).map { all[$0 * 3 + 1] }, purchases, "ctcvr")
    }

    /// A regression task reports MSE (no AUC, no LogLoss, no positives) and gets no sample-space
    /// entry.
    @Test func regressionTasksReportMeanSquaredError() throws {
        let data = Self.data
        let model = SharedBottom(features: TrainerFixtures.features(data), hiddenUnits: [8], taskHiddenUnits: [4],
                                 numTasks: 2, taskTypes: [.classification, .regression], embeddingInitStd: 0.01)
        model.initialize(seed: 3)
        let metrics = evaluateMultiTask(model, data, sampleSpaces: [nil, 0])
        #expect(metrics.map(\.task) == ["click", "purchase"])
        let p = try predictMultiTask(model, data)
        let purchases = data.labels(task: 1)
        var sum = 0.0
        for i in 0..<data.count { let d = Double(p[i * 2 + 1]) - Double(purchases[i]); sum += d * d }
        let m = metrics[1]
        #expect(m.auc == nil && m.logLoss == nil && m.positives == 0 && m.count == data.count)
        #expect(abs(try #require(m.mse) - sum / Double(data.count)) < 1e-9)
        #expect(m.summary.hasPrefix("mse ") && m.summary.count == "mse ".count + 8)
    }

    @Test func summaryText() {
        #expect(TaskMetrics(task: "t", auc: 0.73126, logLoss: 0.154321, mse: nil, count: 9, positives: 2).summary
                == "auc 0.7313 logloss 0.15432")
        #expect(TaskMetrics(task: "t", auc: nil, logLoss: 0.5, mse: nil, count: 9, positives: 0).summary
                == "auc undefined (one class) logloss 0.50000")
        #expect(TaskMetrics(task: "t", auc: nil, logLoss: nil, mse: 0.25, count: 9, positives: 0).summary == "mse 0.250000")
    }
}
