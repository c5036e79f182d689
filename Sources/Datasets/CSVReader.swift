import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a numeric CSV file with a header into a `TabularDataset`.
///
/// Columns may come in any order; columns the schema does not name are skipped without being
/// parsed. Fields are unquoted numbers (surrounding spaces allowed); header names may contain
/// spaces and may be wrapped in double quotes. `\r\n` line ends, a missing final newline and
/// blank lines are accepted. The file is read in chunks and parsed from bytes: no `String` is
/// made per field.
///
/// Sparse ids, one rule: an id is a non-negative integer in `0...Int64.max` (digits, an optional
/// `+`, optionally `.` and zeros: `"3.0"` is 3). A negative id, or one past Int64, stops the load
/// with `idOutOfRange` naming the file, line and column, as a field that is not an integer stops
/// it with `notAnInteger`. Ids at or past a field's vocabulary size `vocab[f]` map to its OOV row
/// `vocab[f]`, counted in `oovCounts`. The sizes come from the `vocabulary` argument, else the
/// schema, else are learned from this file as `max id + 1` (which must then be at most
/// `DatasetSchema.maxVocabularySize`, else `idTooLarge`). Load the training split first and pass
/// its `vocabularySizes` to the others:
///
/// ```swift
/// let train = try CSVReader().load(trainURL, schema: schema)
/// let val = try CSVReader().load(valURL, schema: schema, vocabulary: train.vocabularySizes)
/// ```
///
/// Every error names the file; errors in a row name its 1-based line and the column.
public struct CSVReader: Sendable {
    /// Bytes read from the file at a time; a longer line grows the buffer.
    public var chunkSize: Int

    /// Creates a reader that reads `chunkSize` bytes at a time.
    public init(chunkSize: Int = 1 << 22) {
        precondition(chunkSize > 0, "chunkSize must be positive, got \(chunkSize)")
        self.chunkSize = chunkSize
    }

    /// The column names of the file's header line.
    /// - Throws: `DatasetError.cannotRead` when the file cannot be opened or read, `.emptyFile`
    ///   when it has no header line.
    public static func header(of url: URL) throws(DatasetError) -> [String] {
        let source = try CSVLineSource(path: url.path, chunkSize: 1 << 16)
        guard let line = try source.nextLine(), line.count > 0 else { throw .emptyFile(file: url.path) }
        return parseHeader(line)
    }

    /// Splits a header line into names: strips a UTF-8 byte-order mark, surrounding spaces and
    /// surrounding double quotes.
    static func parseHeader(_ line: UnsafeBufferPointer<UInt8>) -> [String] {
        var text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text.split(separator: ",", omittingEmptySubsequences: false).map { raw in
            var name = raw.trimmingCharacters(in: .whitespaces)
            if name.count >= 2 && name.hasPrefix("\"") && name.hasSuffix("\"") {
                name = String(name.dropFirst().dropLast())
            }
            return name
        }
    }

    /// Where each header column goes: nowhere, or a label, sparse field or dense column index.
    enum Role: Equatable {
        case ignored, label(Int), sparse(Int), dense(Int)
    }

    /// Maps the schema's names onto header positions; a name the header lacks or holds twice is
    /// an error naming `file`.
    static func roles(header: [String], schema: DatasetSchema, file: String) throws(DatasetError) -> [Role] {
        var positions: [String: [Int]] = [:]
        for (c, name) in header.enumerated() { positions[name, default: []].append(c) }
        var roles = Array(repeating: Role.ignored, count: header.count)
        func place(_ name: String, _ role: Role) throws(DatasetError) {
            guard let at = positions[name] else { throw .missingColumn(file: file, column: name) }
            guard at.count == 1 else { throw .duplicateColumn(file: file, column: name, positions: at.map { $0 + 1 }) }
            roles[at[0]] = role
        }
        for (t, name) in schema.labels.enumerated() { try place(name, .label(t)) }
        for (f, name) in schema.sparse.enumerated() { try place(name, .sparse(f)) }
        for (d, name) in schema.dense.enumerated() { try place(name, .dense(d)) }
        return roles
    }

    /// Parses `url` with `schema`; see the type's documentation for the id and vocabulary rules.
    /// - Throws: `DatasetError` naming the file: `.cannotRead`, `.emptyFile`, `.headerOnly`, a
    ///   header/schema problem (`.missingColumn`, `.duplicateColumn`, `.invalidSchema`), or a bad
    ///   row or field, naming its line and column (`.raggedRow`, `.notANumber`, `.idTooLarge`, …).
    public func load(_ url: URL, schema: DatasetSchema, vocabulary: [Int]? = nil) throws(DatasetError) -> TabularDataset {
        try parse(url, schema: schema, vocabulary: vocabulary, hashing: false).dataset
    }

    /// Parses `url` as `load` does; with `hashing`, also returns the `ContentHash` of exactly the
    /// bytes parsed (the whole file), computed as they are read.
    func parse(_ url: URL, schema: DatasetSchema, vocabulary: [Int]?,
               hashing: Bool) throws(DatasetError) -> (dataset: TabularDataset, contentHash: UInt64?) {
        let file = url.path
        let source = try CSVLineSource(path: file, chunkSize: chunkSize, hashing: hashing)
        guard let headerLine = try source.nextLine(), headerLine.count > 0 else { throw .emptyFile(file: file) }
        let header = Self.parseHeader(headerLine)
        // The header first: a name it holds twice is reported as such, even when the schema was
        // derived from it (and so names the column twice too).
        let roles = try Self.roles(header: header, schema: schema, file: file)
        try schema.validate(file: file)
        let fixedVocabulary = vocabulary ?? schema.vocabularySizes
        if let fixedVocabulary { try DatasetSchema.validate(vocabulary: fixedVocabulary, fields: schema.sparse, file: file) }

        let parser = RowParser(file: file, header: header, roles: roles, schema: schema,
                               vocabulary: fixedVocabulary, rowCapacity: 1024)
        let locale = CLocale()
        var estimated = false
        while let line = try source.nextLine() {
            if line.count == 0 { continue }
            if !estimated {
                // Size the columns from the first row's length (+25 %); they grow if that was short.
                parser.reserve(rows: source.fileSize / (line.count + 1) * 5 / 4 + 1024)
                estimated = true
            }
            try parser.parse(line, lineNumber: source.lineNumber)
        }
        _ = consume locale
        guard parser.rows > 0 else { throw .headerOnly(file: file) }
        return (parser.finish(), source.contentHash?.finalize())
    }
}

/// The per-row state of one `CSVReader.load`: growable output columns and the column plan.
final class RowParser {
    /// Where each header column's value is written; `kind` 0 ignored, 1 label, 2 sparse, 3 dense.
    private let kinds: UnsafeMutablePointer<UInt8>
    private let targets: UnsafeMutablePointer<Int>
    private let columnCount: Int
    private let file: String
    private let header: [String]
    private let schema: DatasetSchema
    private let nF: Int, nD: Int, nT: Int
    /// 1 where the label is binary, per task (T).
    private let binary: UnsafeMutablePointer<Bool>
    /// Fixed vocabulary, or nil when learning it.
    private let vocabulary: [Int]?
    /// Per field (F): the vocabulary limit in fixed mode; the largest id seen in learning mode.
    private let limits: UnsafeMutablePointer<Int64>
    /// Per field (F): ids mapped to OOV (fixed mode; always 0 in learning mode).
    private let oov: UnsafeMutablePointer<Int>
    private let scratch: UnsafeMutablePointer<CChar>
    private let scratchCapacity = 512

    private var capacity: Int
    private(set) var rows = 0
    /// False once `finish` has handed the output columns to a dataset.
    private var ownsOutput = true
    private var sparse: UnsafeMutablePointer<Int32>
    private var dense: UnsafeMutablePointer<Float>
    private var labels: UnsafeMutablePointer<Float>

    init(file: String, header: [String], roles: [CSVReader.Role], schema: DatasetSchema,
         vocabulary: [Int]?, rowCapacity: Int) {
        self.file = file
        self.header = header
        self.schema = schema
        self.columnCount = header.count
        (nF, nD, nT) = (schema.sparse.count, schema.dense.count, schema.labels.count)
        kinds = .allocate(capacity: max(columnCount, 1))
        targets = .allocate(capacity: max(columnCount, 1))
        for (c, role) in roles.enumerated() {
            switch role {
            case .ignored: (kinds[c], targets[c]) = (0, 0)
            case let .label(t): (kinds[c], targets[c]) = (1, t)
            case let .sparse(f): (kinds[c], targets[c]) = (2, f)
            case let .dense(d): (kinds[c], targets[c]) = (3, d)
            }
        }
        binary = .allocate(capacity: max(nT, 1))
        for t in 0..<nT { binary[t] = schema.labelKinds[t] == .binary }
        self.vocabulary = vocabulary
        limits = .allocate(capacity: max(nF, 1))
        oov = .allocate(capacity: max(nF, 1))
        for f in 0..<nF {
            limits[f] = vocabulary.map { Int64($0[f]) } ?? -1
            oov[f] = 0
        }
        scratch = .allocate(capacity: scratchCapacity)
        capacity = max(rowCapacity, 16)
        sparse = TabularDataset.allocateColumn(Int32.self, count: capacity * nF)
        dense = TabularDataset.allocateColumn(Float.self, count: capacity * nD)
        labels = TabularDataset.allocateColumn(Float.self, count: capacity * nT)
    }

    /// Frees the plan; the output columns belong to the dataset after `finish`.
    private func freePlan() {
        kinds.deallocate(); targets.deallocate(); binary.deallocate()
        limits.deallocate(); oov.deallocate(); scratch.deallocate()
    }

    deinit {
        freePlan()
        if ownsOutput { free(sparse); free(dense); free(labels) }
    }

    /// Doubles the output capacity (only when the size estimate was short).
    private func grow() {
        reserve(rows: capacity * 2)
    }

    /// Makes room for at least `rows` rows.
    func reserve(rows: Int) {
        guard rows > capacity else { return }
        capacity = rows
        sparse = Self.reallocate(sparse, count: capacity * nF)
        dense = Self.reallocate(dense, count: capacity * nD)
        labels = Self.reallocate(labels, count: capacity * nT)
    }

    private static func reallocate<T>(_ p: UnsafeMutablePointer<T>, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        guard let raw = realloc(p, bytes) else { fatalError("out of memory reallocating \(bytes) bytes") }
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// Parses one non-empty data line into row `rows`.
    @inline(__always)
    func parse(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int) throws(DatasetError) {
        if rows == capacity { grow() }
        let p = line.baseAddress!
        let n = line.count
        let sRow = sparse + rows * nF
        let dRow = dense + rows * nD
        let lRow = labels + rows * nT
        let learning = vocabulary == nil
        var column = 0
        var pos = 0
        // The first bad field, reported only if the row is not ragged.
        var badColumn = -1, badStart = 0, badEnd = 0, badKind = 0
        while true {
            var q = pos
            while q < n && p[q] != 0x2C { q += 1 }
            if column < columnCount {
                let target = targets[column]
                switch kinds[column] {
                case 2:
                    switch ByteNumberParsing.parseInt(p, pos, q) {
                    case let .value(id) where id >= 0:
                        if learning {
                            if id > Int64(DatasetSchema.maxVocabularySize - 1) {
                                if badColumn < 0 { (badColumn, badStart, badEnd, badKind) = (column, pos, q, 5) }
                            } else {
                                sRow[target] = Int32(truncatingIfNeeded: id)
                                if id > limits[target] { limits[target] = id }
                            }
                        } else if id >= limits[target] {
                            sRow[target] = Int32(truncatingIfNeeded: limits[target])
                            oov[target] += 1
                        } else {
                            sRow[target] = Int32(truncatingIfNeeded: id)
                        }
                    case .value, .outOfRange:  // negative, or past Int64
                        if badColumn < 0 { (badColumn, badStart, badEnd, badKind) = (column, pos, q, 6) }
                    case .invalid:
                        if badColumn < 0 { (badColumn, badStart, badEnd, badKind) = (column, pos, q, 2) }
                    }
                case 3:
                    if let v = ByteNumberParsing.parseFloat(p, pos, q, scratch: scratch, scratchCapacity: scratchCapacity) {
                        if v.isFinite { dRow[target] = v } else if badColumn < 0 {
                            (badColumn, badStart, badEnd, badKind) = (column, pos, q, 4)
                        }
                    } else if badColumn < 0 {
                        (badColumn, badStart, badEnd, badKind) = (column, pos, q, 1)
                    }
                case 1:
                    if let v = ByteNumberParsing.parseFloat(p, pos, q, scratch: scratch, scratchCapacity: scratchCapacity) {
                        if binary[target] ? (v == 0 || v == 1) : v.isFinite {
                            lRow[target] = binary[target] && v == 0 ? 0 : v  // "-0" is stored as 0
                        } else if badColumn < 0 {
                            (badColumn, badStart, badEnd, badKind) = (column, pos, q, binary[target] ? 3 : 4)
                        }
                    } else if badColumn < 0 {
                        (badColumn, badStart, badEnd, badKind) = (column, pos, q, 1)
                    }
                default:
                    break
                }
            }
            column += 1
            if q >= n { break }
            pos = q + 1
        }
        if column != columnCount {
            let name = column < columnCount ? header[column] : header[columnCount - 1]
            throw .raggedRow(file: file, line: lineNumber, column: name, expected: columnCount, found: column)
        }
        if badColumn >= 0 {
            let name = header[badColumn]
            let value = ByteNumberParsing.text(p, badStart, badEnd)
            switch badKind {
            case 1: throw .notANumber(file: file, line: lineNumber, column: name, value: value)
            case 2: throw .notAnInteger(file: file, line: lineNumber, column: name, value: value)
            case 3: throw .labelNotBinary(file: file, line: lineNumber, column: name, value: value)
            case 4: throw .nonFiniteValue(file: file, line: lineNumber, column: name, value: value)
            case 6: throw .idOutOfRange(file: file, line: lineNumber, column: name, value: value)
            default: throw .idTooLarge(file: file, line: lineNumber, column: name, value: value)
            }
        }
        rows += 1
    }

    /// Shrinks the columns to size, settles the vocabulary and hands the storage to a dataset.
    func finish() -> TabularDataset {
        precondition(ownsOutput, "RowParser.finish called twice")
        let n = rows
        let s = Self.reallocate(sparse, count: n * nF)
        let d = Self.reallocate(dense, count: n * nD)
        let l = Self.reallocate(labels, count: n * nT)
        let vocab: [Int]
        let oovCounts: [Int]
        if let vocabulary {
            vocab = vocabulary
            oovCounts = (0..<nF).map { oov[$0] }
        } else {
            vocab = (0..<nF).map { Int(max(limits[$0] + 1, 1)) }
            oovCounts = Array(repeating: 0, count: nF)  // every id is below max id + 1
        }
        ownsOutput = false
        return TabularDataset(schema: schema, count: n, vocabularySizes: vocab, oovCounts: oovCounts,
                              sparse: s, dense: d, labels: l, backing: .heap(s, d, l))
    }
}
