/// One task's entry in `metrics.json`'s `test` array, written when a run finishes.
///
/// ```
/// {"task": "click", "auc": 0.70, "logloss": 0.41, "count": 100000, "positives": 4012}
/// ```
public struct TestMetric: Sendable, Equatable {
    /// The scored series: a task, or a task over its sample space ("purchase (on click = 1)").
    public var task: String
    /// ROC AUC (absent when one class only, or for a regression task).
    public var auc: Double?
    /// Mean binary cross-entropy.
    public var logLoss: Double?
    /// Mean squared error (regression tasks).
    public var mse: Double?
    /// Rows scored.
    public var count: Int?
    /// Positive labels among them.
    public var positives: Int?

    /// Reads one element of `test`.
    /// - Throws: `ReportError.badField` naming the file and field.
    init(_ r: JSONObjectReader) throws {
        task = try r.string("task")
        auc = try r.optionalNumber("auc")
        logLoss = try r.optionalNumber("logloss")
        mse = try r.optionalNumber("mse")
        count = try r.optionalInt("count")
        positives = try r.optionalInt("positives")
    }
}
