/// Which CSV columns are labels, sparse id fields and dense features, and in what order.
///
/// The order of each list is the order of the stored columns: task `t` is `labels[t]`,
/// sparse field `f` is `sparse[f]`, dense column `d` is `dense[d]`. Columns of the file that
/// the schema does not name are ignored; a name the file lacks is an error.
///
/// ```
/// T = labels.count, F = sparse.count, D = dense.count
/// ```
public struct DatasetSchema: Sendable, Codable, Equatable {
    /// Label column names in task order (T of them).
    public var labels: [String]
    /// The kind of each label, parallel to `labels`.
    public var labelKinds: [LabelKind]
    /// Sparse (integer id) column names in field order (F of them).
    public var sparse: [String]
    /// Dense (Float32) column names in feature order (D of them).
    public var dense: [String]
    /// Vocabulary size per sparse field (ids `0..<size` are in vocabulary); `nil` learns
    /// them from the training file as `max id + 1`.
    public var vocabularySizes: [Int]?

    /// Creates a schema; `labelKinds` defaults to `.binary` for every label.
    public init(labels: [String], labelKinds: [LabelKind]? = nil, sparse: [String], dense: [String],
                vocabularySizes: [Int]? = nil) {
        self.labels = labels
        self.labelKinds = labelKinds ?? Array(repeating: .binary, count: labels.count)
        self.sparse = sparse
        self.dense = dense
        self.vocabularySizes = vocabularySizes
    }

    /// Number of tasks T.
    public var taskCount: Int { labels.count }
    /// Number of sparse fields F.
    public var sparseFieldCount: Int { sparse.count }
    /// Number of dense columns D.
    public var denseCount: Int { dense.count }
    /// Every column the schema names: labels, then sparse, then dense.
    public var allColumns: [String] { labels + sparse + dense }

    /// Ali-CCP's default rule: every column of `header` that is not a label is dense when its
    /// name starts with `D`, sparse otherwise; both keep the header's order.
    public static func aliCCPRule(header: [String], labels: [String],
                                  labelKinds: [LabelKind]? = nil) -> DatasetSchema {
        let labelSet = Set(labels)
        let features = header.filter { !labelSet.contains($0) }
        return DatasetSchema(labels: labels, labelKinds: labelKinds,
                             sparse: features.filter { !$0.hasPrefix("D") },
                             dense: features.filter { $0.hasPrefix("D") })
    }

    /// Everything but `labels` and `dense` in `header` is sparse: for files whose dense columns
    /// must be named explicitly (census-income, AliExpress).
    public static func explicitDense(header: [String], labels: [String], dense: [String],
                                     labelKinds: [LabelKind]? = nil) -> DatasetSchema {
        let taken = Set(labels).union(dense)
        return DatasetSchema(labels: labels, labelKinds: labelKinds,
                             sparse: header.filter { !taken.contains($0) }, dense: dense)
    }

    /// Checks the schema: counts agree, names are unique and non-empty, there is at least one
    /// feature (no label is fine: prediction inputs), vocabulary sizes are in
    /// `1...maxVocabularySize`. `file` is the data file the schema is applied to, named in the
    /// error (nil when the schema is checked on its own).
    /// - Throws: `DatasetError.invalidSchema` naming `file` and the first inconsistency found.
    public func validate(file: String? = nil) throws(DatasetError) {
        func invalid(_ reason: String) -> DatasetError { .invalidSchema(file: file, reason: reason) }
        // No label column is valid: prediction inputs carry features only.
        guard labelKinds.count == labels.count else {
            throw invalid("\(labels.count) labels but \(labelKinds.count) label kinds")
        }
        guard !sparse.isEmpty || !dense.isEmpty else { throw invalid("no sparse or dense feature column") }
        var seen = Set<String>()
        for name in allColumns {
            guard !name.isEmpty else { throw invalid("empty column name") }
            guard seen.insert(name).inserted else { throw invalid("column '\(name)' is named more than once") }
        }
        if let sizes = vocabularySizes {
            try Self.validate(vocabulary: sizes, fields: sparse, file: file)
        }
    }

    /// Largest vocabulary a field may have: its out-of-vocabulary row index must fit Int32.
    public static let maxVocabularySize = Int(Int32.max) - 1

    /// Checks that `vocabulary` has one size in `1...maxVocabularySize` per field; `file` as in
    /// `validate(file:)`.
    static func validate(vocabulary: [Int], fields: [String], file: String? = nil) throws(DatasetError) {
        guard vocabulary.count == fields.count else {
            throw .invalidSchema(file: file, reason: "\(vocabulary.count) vocabulary sizes for \(fields.count) sparse fields")
        }
        for (f, size) in vocabulary.enumerated() where size < 1 || size > maxVocabularySize {
            throw .invalidSchema(file: file,
                                 reason: "vocabulary size \(size) of field '\(fields[f])' is outside 1...\(maxVocabularySize)")
        }
    }

    /// A stable text form of the schema, used in cache fingerprints.
    var canonicalDescription: String {
        let sep = "\u{1F}"
        let vocab = vocabularySizes.map { $0.map(String.init).joined(separator: ",") } ?? "learned"
        return ["labels", labels.joined(separator: sep), "kinds", labelKinds.map(\.rawValue).joined(separator: sep),
                "sparse", sparse.joined(separator: sep), "dense", dense.joined(separator: sep),
                "vocab", vocab].joined(separator: "\u{1E}")
    }
}
