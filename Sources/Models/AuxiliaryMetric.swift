import Kernels
import Layers

/// An extra output to evaluate: its AUC against a label column, optionally only on the rows
/// where another label column is 1 (ESMM's CVR on clicked impressions).
public struct AuxiliaryMetric: Sendable, Equatable {
    /// The metric's name in reports (`cvr`).
    public var name: String
    /// Its column in `auxiliaryPredictions`.
    public var output: Int
    /// The label column it is scored against.
    public var label: Int
    /// Score only rows where this label column is 1 (nil = all rows).
    public var onlyWhereLabel: Int?

    /// Describes an extra metric.
    public init(name: String, output: Int, label: Int, onlyWhereLabel: Int?) {
        self.name = name
        self.output = output
        self.label = label
        self.onlyWhereLabel = onlyWhereLabel
    }
}
