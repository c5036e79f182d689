/// The metrics of one binary task (CTR, CVR, CTCVR) over one split.
///
/// ```
/// auc     = U / (P · N)                          (nil if P = 0 or N = 0)
/// logLoss = −(1/n) Σ ( y log p̂ + (1 − y) log(1 − p̂) ),  p̂ clipped to [2^-23, 1 − 2^-23]
/// ```
///
/// `==` is the synthesized member-wise equality, so two results whose `logLoss` is NaN
/// (an empty split, a NaN prediction) are not equal.
public struct BinaryMetrics: Sendable, Equatable {
    /// Exact ROC AUC (see `rocAUC`); nil when the split has only one class.
    public var auc: Double?
    /// Mean clipped binary cross-entropy (see `logLoss`); NaN for an empty split.
    public var logLoss: Double
    /// Number of samples.
    public var count: Int
    /// Number of samples whose label is > 0.5.
    public var positives: Int

    /// Number of samples whose label is not > 0.5.
    public var negatives: Int { count - positives }

    /// Creates a result from its parts.
    public init(auc: Double?, logLoss: Double, count: Int, positives: Int) {
        self.auc = auc
        self.logLoss = logLoss
        self.count = count
        self.positives = positives
    }
}

/// AUC, log loss and class counts of predicted probabilities `scores` against 0/1 `labels`.
///
/// ```
/// BinaryMetrics(auc: rocAUC(s, y), logLoss: logLoss(s, y), count: n, positives: P)
/// ```
///
/// The scores are used as they are for the ranking and as probabilities for the loss, so
/// they should be the sigmoid outputs of the task head, not logits.
///
/// - Precondition: `scores.count == labels.count`.
public func binaryMetrics(
    scores: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>
) -> BinaryMetrics {
    precondition(scores.count == labels.count,
                 "binaryMetrics: \(scores.count) scores but \(labels.count) labels")
    let counts = MannWhitneyCounts(scores: scores, labels: labels)
    return BinaryMetrics(auc: counts.auc,
                         logLoss: logLoss(probabilities: scores, labels: labels),
                         count: scores.count,
                         positives: counts.positives)
}

/// AUC, log loss and class counts of predicted probabilities `scores` against 0/1 `labels`.
///
/// ```
/// BinaryMetrics(auc: rocAUC(s, y), logLoss: logLoss(s, y), count: n, positives: P)
/// ```
///
/// - Precondition: `scores.count == labels.count`.
public func binaryMetrics(scores: [Float], labels: [Float]) -> BinaryMetrics {
    precondition(scores.count == labels.count,
                 "binaryMetrics: \(scores.count) scores but \(labels.count) labels")
    return scores.withUnsafeBufferPointer { s in
        labels.withUnsafeBufferPointer { l in binaryMetrics(scores: s, labels: l) }
    }
}
