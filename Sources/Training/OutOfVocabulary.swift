import Datasets

/// How many sparse ids of one split fell outside the vocabulary (mapped to each field's
/// out-of-vocabulary row), per field, and the share of the split's rows that touches.
///
/// Every row holds one id per field, so `count / rows` is the share of rows whose id in that
/// field the model cannot tell apart. Above `warningShare` in any field the run warns: the
/// vocabulary (`data.vocabulary_sizes`, or the training split's largest ids) does not fit the
/// data.
public struct OutOfVocabularyReport: Sendable, Equatable {
    /// The split (`train`, `val`, `test`, or a file for `evaluate`/`predict`).
    public var split: String
    /// Rows in the split.
    public var rows: Int
    /// Field names and their out-of-vocabulary id counts, in the data's field order.
    public var fields: [String]
    /// Out-of-vocabulary ids per field.
    public var counts: [Int]

    /// The share of a split's rows, in one field, above which the run warns (5 %).
    public static let warningShare = 0.05

    /// The counts of `dataset`.
    public init(split: String, dataset: TabularDataset) {
        self.split = split
        rows = dataset.count
        fields = dataset.schema.sparse
        counts = dataset.oovCounts
    }

    /// All out-of-vocabulary ids of the split.
    public var total: Int { counts.reduce(0, +) }

    /// "val 12 (101: 10, 205: 2)", or "train 0".
    public var summary: String {
        let nonzero = zip(fields, counts).filter { $0.1 > 0 }
        guard !nonzero.isEmpty else { return "\(split) 0" }
        return "\(split) \(total) (" + nonzero.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + ")"
    }

    /// One warning per field whose out-of-vocabulary share of the rows is above `warningShare`.
    public var warnings: [String] {
        guard rows > 0 else { return [] }
        return zip(fields, counts).compactMap { name, c in
            let share = Double(c) / Double(rows)
            guard share > Self.warningShare else { return nil }
            return "warning: \(format(100 * share, 1)) % of the \(split) rows have an out-of-vocabulary id in field "
                + "\(name) (\(c) of \(rows)); they all share one embedding row. Check data.vocabulary_sizes."
        }
    }

    /// For `metrics.json`: rows, total, and the non-zero fields.
    public var json: [String: Any] {
        var perField: [String: Int] = [:]
        for (f, c) in zip(fields, counts) where c > 0 { perField[f] = c }
        return ["rows": rows, "ids": total, "fields": perField]
    }
}
