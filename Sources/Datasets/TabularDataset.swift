#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// N rows of a multi-task data set, column groups stored row-major and read-only:
///
/// ```
/// sparse ids  (N, F) Int32   already mapped: an id at or past vocab[f] is vocab[f] (the OOV row)
/// dense       (N, D) Float32
/// labels      (N, T) Float32
/// ```
///
/// An embedding table for field `f` therefore needs `vocabularySizes[f] + 1` rows. The storage is
/// either owned heap memory or a read-only mapping of a binary cache file that lives as long as
/// the dataset. It is never mutated after creation, so the type is safe to share across threads.
public final class TabularDataset: @unchecked Sendable {
    /// The schema, with `vocabularySizes` set to the sizes in force for this dataset.
    public let schema: DatasetSchema
    /// Number of rows N.
    public let count: Int
    /// Vocabulary size per sparse field (F); the OOV row of field `f` is `vocabularySizes[f]`.
    public let vocabularySizes: [Int]
    /// Per sparse field (F), how many ids were at or past the vocabulary size and mapped to the OOV row.
    public let oovCounts: [Int]

    /// Sparse ids, (N, F) row-major.
    let sparseIDs: UnsafePointer<Int32>
    /// Dense values, (N, D) row-major.
    let denseValues: UnsafePointer<Float>
    /// Labels, (N, T) row-major.
    let labelValues: UnsafePointer<Float>
    /// Who owns the memory behind the three pointers.
    private let backing: Backing

    /// Owner of the storage: three `malloc`ed blocks, or one `mmap`ed file region.
    enum Backing {
        case heap(UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
        case mapped(base: UnsafeMutableRawPointer, length: Int)
    }

    /// Number of sparse fields F.
    public var sparseFieldCount: Int { schema.sparse.count }
    /// Number of dense columns D.
    public var denseCount: Int { schema.dense.count }
    /// Number of tasks T.
    public var taskCount: Int { schema.labels.count }

    /// Takes ownership of storage (heap blocks from `allocateColumn`, or a mapping).
    init(schema: DatasetSchema, count: Int, vocabularySizes: [Int], oovCounts: [Int],
         sparse: UnsafePointer<Int32>, dense: UnsafePointer<Float>, labels: UnsafePointer<Float>,
         backing: Backing) {
        var schema = schema
        schema.vocabularySizes = vocabularySizes
        self.schema = schema
        self.count = count
        self.vocabularySizes = vocabularySizes
        self.oovCounts = oovCounts
        self.sparseIDs = sparse
        self.denseValues = dense
        self.labelValues = labels
        self.backing = backing
    }

    deinit {
        switch backing {
        case let .heap(s, d, l):
            free(s); free(d); free(l)
        case let .mapped(base, length):
            munmap(base, length)
        }
    }

    /// Builds a dataset from in-memory row-major arrays, mapping out-of-vocabulary ids to the OOV row.
    ///
    /// Ids follow `CSVReader`'s rule: an id is a non-negative integer, and ids at or past the
    /// vocabulary size map to the OOV row. Vocabulary sizes come from `vocabularySizes`, else
    /// `schema.vocabularySizes`, else are learned as `max id + 1` per field. Wrong array sizes,
    /// negative ids or label values the schema forbids are programmer errors (preconditions); an
    /// inconsistent schema throws.
    /// - sparse: (N, F) raw ids
    /// - dense: (N, D)
    /// - labels: (N, T)
    /// - Throws: `DatasetError.invalidSchema` (with no file) when the schema or the vocabulary
    ///   sizes are inconsistent.
    public convenience init(schema: DatasetSchema, sparse: [Int32], dense: [Float], labels: [Float],
                            vocabularySizes: [Int]? = nil) throws(DatasetError) {
        try schema.validate()
        let (nF, nD, nT) = (schema.sparse.count, schema.dense.count, schema.labels.count)
        precondition(labels.count % nT == 0, "labels.count \(labels.count) is not a multiple of T = \(nT)")
        let n = labels.count / nT
        precondition(sparse.count == n * nF, "sparse.count \(sparse.count) != N × F = \(n) × \(nF)")
        precondition(dense.count == n * nD, "dense.count \(dense.count) != N × D = \(n) × \(nD)")
        for (i, id) in sparse.enumerated() {
            precondition(id >= 0, "sparse id \(id) of field '\(schema.sparse[i % nF])' at row \(i / nF) is negative")
        }
        for (i, v) in dense.enumerated() {
            precondition(v.isFinite, "dense value \(v) at row \(i / max(nD, 1)) is not finite")
        }
        for (i, v) in labels.enumerated() {
            let t = i % nT
            switch schema.labelKinds[t] {
            case .binary: precondition(v == 0 || v == 1, "binary label '\(schema.labels[t])' at row \(i / nT) is \(v)")
            case .real: precondition(v.isFinite, "label '\(schema.labels[t])' at row \(i / nT) is \(v)")
            }
        }
        var vocab: [Int]
        if let given = vocabularySizes ?? schema.vocabularySizes {
            try DatasetSchema.validate(vocabulary: given, fields: schema.sparse)
            vocab = given
        } else {
            vocab = Array(repeating: 1, count: nF)
            for (i, id) in sparse.enumerated() where Int(id) + 1 > vocab[i % nF] {
                vocab[i % nF] = min(Int(id) + 1, DatasetSchema.maxVocabularySize)
            }
        }
        let s = Self.allocateColumn(Int32.self, count: sparse.count)
        let d = Self.allocateColumn(Float.self, count: dense.count)
        let l = Self.allocateColumn(Float.self, count: labels.count)
        sparse.withUnsafeBufferPointer { s.update(from: $0.baseAddress!, count: $0.count) }
        dense.withUnsafeBufferPointer { if $0.count > 0 { d.update(from: $0.baseAddress!, count: $0.count) } }
        labels.withUnsafeBufferPointer { l.update(from: $0.baseAddress!, count: $0.count) }
        let oov = Self.mapOutOfVocabulary(ids: s, rows: n, vocabularySizes: vocab)
        self.init(schema: schema, count: n, vocabularySizes: vocab, oovCounts: oov,
                  sparse: s, dense: d, labels: l, backing: .heap(s, d, l))
    }

    /// Allocates `count` elements (at least one) with `malloc`, for storage a dataset will own.
    static func allocateColumn<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        guard let raw = malloc(bytes) else { fatalError("out of memory allocating \(bytes) bytes") }
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// Replaces every id outside `0..<vocabularySizes[f]` (read as unsigned, so a negative one
    /// too) by `vocabularySizes[f]`; returns the count per field.
    /// - ids: (N, F)
    static func mapOutOfVocabulary(ids: UnsafeMutablePointer<Int32>, rows: Int, vocabularySizes: [Int]) -> [Int] {
        let nF = vocabularySizes.count
        var oov = Array(repeating: 0, count: nF)
        guard nF > 0 else { return oov }
        let limits = vocabularySizes.map { UInt32($0) }
        limits.withUnsafeBufferPointer { lim in
            oov.withUnsafeMutableBufferPointer { counts in
                for r in 0..<rows {
                    let row = ids + r * nF
                    for f in 0..<nF where UInt32(bitPattern: row[f]) >= lim[f] {
                        row[f] = Int32(bitPattern: lim[f])
                        counts[f] += 1
                    }
                }
            }
        }
        return oov
    }

    /// Copies the rows listed in `rows` into caller-provided batch buffers, without allocating.
    /// - rows: (B) row indices in `0..<count`
    /// - sparse: (B, F) output
    /// - dense: (B, D) output
    /// - labels: (B, T) output
    @inlinable
    public func gather(rows: UnsafeBufferPointer<Int>, sparse: UnsafeMutablePointer<Int32>,
                       dense: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Float>) {
        let (nF, nD, nT, n) = (sparseFieldCount, denseCount, taskCount, count)
        let (s, d, l) = (sparseBase, denseBase, labelBase)
        for (b, r) in rows.enumerated() {
            precondition(r >= 0 && r < n, "gather: row index \(r) at batch position \(b) is outside 0..<\(n)")
            if nF > 0 { (sparse + b * nF).update(from: s + r * nF, count: nF) }
            if nD > 0 { (dense + b * nD).update(from: d + r * nD, count: nD) }
            (labels + b * nT).update(from: l + r * nT, count: nT)
        }
    }

    /// Base of the sparse ids, (N, F), for inlinable readers.
    @usableFromInline var sparseBase: UnsafePointer<Int32> { sparseIDs }
    /// Base of the dense values, (N, D), for inlinable readers.
    @usableFromInline var denseBase: UnsafePointer<Float> { denseValues }
    /// Base of the labels, (N, T), for inlinable readers.
    @usableFromInline var labelBase: UnsafePointer<Float> { labelValues }

    /// The whole label column of task `task`, (N), for evaluation.
    public func labels(task: Int) -> [Float] {
        precondition(task >= 0 && task < taskCount, "task \(task) outside 0..<\(taskCount)")
        let nT = taskCount
        return (0..<count).map { labelValues[$0 * nT + task] }
    }

    /// The whole column of dense feature `column`, (N).
    public func denseColumn(_ column: Int) -> [Float] {
        precondition(column >= 0 && column < denseCount, "dense column \(column) outside 0..<\(denseCount)")
        let nD = denseCount
        return (0..<count).map { denseValues[$0 * nD + column] }
    }

    /// The whole column of sparse field `field` (mapped ids), (N).
    public func sparseColumn(_ field: Int) -> [Int32] {
        precondition(field >= 0 && field < sparseFieldCount, "sparse field \(field) outside 0..<\(sparseFieldCount)")
        let nF = sparseFieldCount
        return (0..<count).map { sparseIDs[$0 * nF + field] }
    }

    /// The mapped id of sparse field `field` in row `row`.
    public func sparseID(row: Int, field: Int) -> Int32 {
        precondition(row >= 0 && row < count && field >= 0 && field < sparseFieldCount,
                     "sparseID(row: \(row), field: \(field)) outside (\(count), \(sparseFieldCount))")
        return sparseIDs[row * sparseFieldCount + field]
    }

    /// The value of dense column `column` in row `row`.
    public func denseValue(row: Int, column: Int) -> Float {
        precondition(row >= 0 && row < count && column >= 0 && column < denseCount,
                     "denseValue(row: \(row), column: \(column)) outside (\(count), \(denseCount))")
        return denseValues[row * denseCount + column]
    }

    /// The label of task `task` in row `row`.
    public func label(row: Int, task: Int) -> Float {
        precondition(row >= 0 && row < count && task >= 0 && task < taskCount,
                     "label(row: \(row), task: \(task)) outside (\(count), \(taskCount))")
        return labelValues[row * taskCount + task]
    }

    /// Calls `body` with all sparse ids, (N, F) row-major.
    /// - Throws: only what `body` throws.
    public func withUnsafeSparseIDs<R>(_ body: (UnsafeBufferPointer<Int32>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: sparseIDs, count: count * sparseFieldCount))
    }

    /// Calls `body` with all dense values, (N, D) row-major.
    /// - Throws: only what `body` throws.
    public func withUnsafeDenseValues<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: denseValues, count: count * denseCount))
    }

    /// Calls `body` with all labels, (N, T) row-major.
    /// - Throws: only what `body` throws.
    public func withUnsafeLabels<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: labelValues, count: count * taskCount))
    }

    /// Whether the storage is a memory-mapped cache file (rather than heap memory).
    public var isMemoryMapped: Bool {
        if case .mapped = backing { return true }
        return false
    }

    /// True when both datasets have the same schema, vocabulary, OOV counts and bit-identical storage.
    public func isIdentical(to other: TabularDataset) -> Bool {
        guard schema == other.schema, count == other.count, vocabularySizes == other.vocabularySizes,
              oovCounts == other.oovCounts else { return false }
        return memcmp(sparseIDs, other.sparseIDs, count * sparseFieldCount * 4) == 0
            && memcmp(denseValues, other.denseValues, count * denseCount * 4) == 0
            && memcmp(labelValues, other.labelValues, count * taskCount * 4) == 0
    }
}
