import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A binary columnar cache of a parsed CSV, written once and memory-mapped after (DESIGN.md §6).
///
/// File layout (little-endian; every section starts on a 64-byte boundary, zero padding between):
///
/// ```
/// offset  size  field
///      0     8  magic "RHDSCACH"
///      8     4  format version (2)
///     12     4  header size (128)
///     16     8  fingerprint: FNV-1a of (format version, schema, requested vocabulary)
///     24     8  N rows
///     32     8  F sparse fields
///     40     8  D dense columns
///     48     8  T tasks
///     56     8  offset of sparse ids   (N, F) Int32
///     64     8  offset of dense values (N, D) Float32
///     72     8  offset of labels       (N, T) Float32
///     80     8  offset of vocabulary sizes (F) Int64
///     88     8  offset of OOV counts      (F) Int64
///     96     8  file length in bytes
///    104     8  checksum of the five sections with their padding (`CacheChecksum`)
///    112     8  content hash of the CSV's bytes (`ContentHash`) the sections were parsed from
///    120     8  FNV-1a checksum of bytes 0..<120
/// ```
///
/// The cache is keyed on the CSV's content, not its size or modification time: the hash is
/// computed while the CSV is parsed (no extra pass), and a load that finds a cache hashes the
/// CSV once more (one sequential read, at memory speed) and uses the cache only when the two
/// agree. Reading validates every size against the file length before touching the sections,
/// then both checksums; a cache that fails any check is ignored (re-parsed and rewritten, the
/// reason in `Status.written`'s `replaced`), never trusted.
/// The cache lives next to the CSV as `<name>.rhcache`; where that directory is not writable (or
/// has no write permission bits at all, which also holds for root) it falls back to
/// `fallbackDirectory/<name>.<path hash>.rhcache`; when `directory` is given, only there. Nothing
/// writable means no cache, silently. Writes go to a temporary name and are renamed into place,
/// so concurrent ranks never see a partial file.
public struct DatasetCache: Sendable {
    /// Where caches go; nil means next to the CSV, falling back to `fallbackDirectory`.
    public var directory: URL?
    /// Where caches go when `directory` is nil and the CSV's directory is not writable; nil
    /// means nowhere. Defaults to `<temporary directory>/rechub-cache`.
    public var fallbackDirectory: URL?
    /// When false, `load` always parses the CSV and writes nothing.
    public var isEnabled: Bool
    /// The reader used on a cache miss.
    public var reader: CSVReader

    /// Creates a cache policy.
    public init(directory: URL? = nil, isEnabled: Bool = true, reader: CSVReader = CSVReader(),
                fallbackDirectory: URL? = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-cache")) {
        self.directory = directory
        self.fallbackDirectory = fallbackDirectory
        self.isEnabled = isEnabled
        self.reader = reader
    }

    /// What `load` did.
    public enum Status: Sendable, Equatable, CustomStringConvertible {
        /// A valid cache was memory-mapped from `path`.
        case hit(path: String)
        /// The CSV was parsed and a cache written to `path`; `replaced` says why an existing cache
        /// was rejected (nil when there was none).
        case written(path: String, replaced: String?)
        /// The CSV was parsed; no location was writable (`reason` says the last failure).
        case notWritten(reason: String)
        /// Caching is disabled; the CSV was parsed.
        case disabled

        /// One line for a log: `dataset cache <path>: hit`, or what was written and why.
        public var description: String {
            switch self {
            case let .hit(path): return "dataset cache \(path): hit"
            case let .written(path, nil): return "dataset cache \(path): written"
            case let .written(path, replaced?): return "dataset cache \(path): rebuilt (\(replaced))"
            case let .notWritten(reason): return "dataset cache not written: \(reason)"
            case .disabled: return "dataset cache disabled"
            }
        }
    }

    /// Cache format version; bump when the layout changes. 2: keyed on the CSV's content hash
    /// (1 used its size and modification time).
    public static let formatVersion: UInt32 = 2
    static let magic: [UInt8] = Array("RHDSCACH".utf8)
    static let headerSize = 128
    static let alignment = 64

    /// Loads `csv` through the cache: maps a valid cache of the CSV's current content, else
    /// parses the CSV and writes one. Vocabulary rules are `CSVReader.load`'s; the requested
    /// `vocabulary` is part of the fingerprint. A cache of other content (the CSV was edited) is
    /// replaced, and `Status.written`'s `replaced` says so.
    /// - Throws: `DatasetError`, as `CSVReader.load` throws it (the CSV cannot be read or parsed,
    ///   or the schema or vocabulary is invalid). A cache that cannot be read or written is not
    ///   an error: it is reported in the returned `Status`.
    public func load(_ csv: URL, schema: DatasetSchema,
                     vocabulary: [Int]? = nil) throws(DatasetError) -> (dataset: TabularDataset, status: Status) {
        guard isEnabled else { return (try reader.load(csv, schema: schema, vocabulary: vocabulary), .disabled) }
        let fingerprint = Self.fingerprint(schema: schema, vocabulary: vocabulary)
        let paths = candidatePaths(for: csv)
        var rejected: String?
        // The CSV's content hash, computed at most once, and only when a cache is there to check.
        var content: UInt64?
        for path in paths {
            switch Self.map(path, fingerprint: fingerprint, schema: schema) {
            case let .success((dataset, stored)):
                let current: UInt64
                if let content { current = content } else { current = try ContentHash.ofFile(csv.path); content = current }
                if stored == current { return (dataset, .hit(path: path)) }
                if rejected == nil { rejected = "\(path): \(Rejection.staleContent(csv: csv.path))" }
            case .failure(.absent):
                continue
            case let .failure(reason):
                if rejected == nil { rejected = "\(path): \(reason)" }
            }
        }
        let (dataset, parsedHash) = try reader.parse(csv, schema: schema, vocabulary: vocabulary, hashing: true)
        guard let contentHash = parsedHash else { preconditionFailure("CSVReader.parse(hashing: true) returned no hash") }
        var lastFailure = "no cache location"
        for path in paths {
            let parent = (path as NSString).deletingLastPathComponent
            var info = stat()
            if stat(parent, &info) == 0, info.st_mode & 0o222 == 0 {
                lastFailure = "\(parent): no write permission bits"  // read-only by intent, even for root
                continue
            }
            do {
                try Self.store(dataset, to: path, fingerprint: fingerprint, contentHash: contentHash)
                return (dataset, .written(path: path, replaced: rejected))
            } catch {
                lastFailure = error.description
            }
        }
        return (dataset, .notWritten(reason: lastFailure))
    }

    /// The cache files tried for `csv`, in order.
    public func candidatePaths(for csv: URL) -> [String] {
        let absolute = csv.absoluteURL.standardizedFileURL
        let name = absolute.lastPathComponent
        let pathHash = String(CacheChecksum.fnv1a(Array(absolute.path.utf8)), radix: 16)
        let hashedName = "\(name).\(pathHash).rhcache"
        if let directory {
            return [directory.appendingPathComponent(hashedName).path]
        }
        var paths = [absolute.deletingLastPathComponent().appendingPathComponent("\(name).rhcache").path]
        if let fallbackDirectory {
            paths.append(fallbackDirectory.appendingPathComponent(hashedName).path)
        }
        return paths
    }

    /// The fingerprint of `schema` with the requested `vocabulary` (the CSV itself is keyed by
    /// its content hash, stored beside the fingerprint).
    static func fingerprint(schema: DatasetSchema, vocabulary: [Int]?) -> UInt64 {
        let requested = vocabulary.map { $0.map(String.init).joined(separator: ",") } ?? "schema-or-learned"
        let text = "rechub-dataset-cache v\(formatVersion)|schema \(schema.canonicalDescription)|vocabulary \(requested)"
        return CacheChecksum.fnv1a(Array(text.utf8))
    }

    /// Why a cache file was not used.
    enum Rejection: Error, Equatable, CustomStringConvertible {
        case absent, unreadable(String), truncated(Int), badMagic, badVersion(UInt32), badHeaderChecksum
        case staleFingerprint, staleContent(csv: String), shapeMismatch(String), badLayout(String), badChecksum
        case badVocabulary

        var description: String {
            switch self {
            case .absent: return "absent"
            case let .unreadable(why): return "unreadable (\(why))"
            case let .truncated(n): return "truncated (\(n) bytes)"
            case .badMagic: return "not a RecHub dataset cache"
            case let .badVersion(v): return "format version \(v), expected \(DatasetCache.formatVersion)"
            case .badHeaderChecksum: return "header checksum mismatch"
            case .staleFingerprint: return "stale (the schema or requested vocabulary changed)"
            case let .staleContent(csv): return "stale (the content of \(csv) changed since the cache was written)"
            case let .shapeMismatch(what): return "shape mismatch (\(what))"
            case let .badLayout(what): return "bad layout (\(what))"
            case .badChecksum: return "section checksum mismatch"
            case .badVocabulary: return "invalid vocabulary section"
            }
        }
    }

    /// Maps and validates the cache at `path`; the dataset points into the mapping, and comes
    /// with the content hash of the CSV it was parsed from (for the caller to compare).
    static func map(_ path: String, fingerprint: UInt64,
                    schema: DatasetSchema) -> Result<(dataset: TabularDataset, contentHash: UInt64), Rejection> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return .failure(errno == ENOENT ? .absent : .unreadable(String(cString: strerror(errno))))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        let length = Int(info.st_size)
        guard length >= headerSize else { return .failure(.truncated(length)) }
        guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            return .failure(.unreadable(String(cString: strerror(errno))))
        }
        switch validate(base: UnsafeRawPointer(base), length: length, fingerprint: fingerprint, schema: schema) {
        case let .success(layout):
            let s = (base + layout.sparse).assumingMemoryBound(to: Int32.self)
            let d = (base + layout.dense).assumingMemoryBound(to: Float.self)
            let l = (base + layout.labels).assumingMemoryBound(to: Float.self)
            let dataset = TabularDataset(schema: schema, count: layout.rows, vocabularySizes: layout.vocabulary,
                                         oovCounts: layout.oov, sparse: s, dense: d, labels: l,
                                         backing: .mapped(base: base, length: length))
            return .success((dataset, layout.contentHash))
        case let .failure(rejection):
            munmap(base, length)
            return .failure(rejection)
        }
    }

    /// Offsets and small sections read from a valid cache.
    struct Layout {
        var rows: Int, sparse: Int, dense: Int, labels: Int
        var vocabulary: [Int], oov: [Int]
        /// The content hash of the CSV the sections were parsed from.
        var contentHash: UInt64
    }

    /// Checks the header, every section's bounds and both checksums of a mapped cache of `length` bytes.
    static func validate(base: UnsafeRawPointer, length: Int, fingerprint: UInt64,
                         schema: DatasetSchema) -> Result<Layout, Rejection> {
        func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        guard Array(UnsafeRawBufferPointer(start: base, count: 8)) == magic else { return .failure(.badMagic) }
        guard CacheChecksum.fnv1a(UnsafeRawBufferPointer(start: base, count: 120)) == u64(120) else {
            return .failure(.badHeaderChecksum)
        }
        guard u32(8) == formatVersion else { return .failure(.badVersion(u32(8))) }
        guard u32(12) == UInt32(headerSize) else { return .failure(.badLayout("header size \(u32(12))")) }
        guard u64(16) == fingerprint else { return .failure(.staleFingerprint) }
        guard u64(96) == UInt64(length) else { return .failure(.truncated(length)) }
        let (nF, nD, nT) = (schema.sparse.count, schema.dense.count, schema.labels.count)
        guard u64(32) == UInt64(nF), u64(40) == UInt64(nD), u64(48) == UInt64(nT) else {
            return .failure(.shapeMismatch("F, D, T = \(u64(32)), \(u64(40)), \(u64(48)); schema has \(nF), \(nD), \(nT)"))
        }
        guard u64(24) <= UInt64(length) else { return .failure(.badLayout("row count \(u64(24))")) }
        let rows = Int(u64(24))
        // Each section: (offset field, element size, element count); offsets ascend and fit the file.
        let sections: [(field: Int, bytes: Int, count: Int)] = [
            (56, 4, rows * nF), (64, 4, rows * nD), (72, 4, rows * nT), (80, 8, nF), (88, 8, nF),
        ]
        var offsets: [Int] = []
        var previousEnd = headerSize
        for section in sections {
            let raw = u64(section.field)
            guard raw <= UInt64(length), raw % UInt64(alignment) == 0, Int(raw) >= previousEnd else {
                return .failure(.badLayout("section offset \(raw)"))
            }
            let (size, overflow) = section.count.multipliedReportingOverflow(by: section.bytes)
            // The section and its zero padding (covered by the checksum) lie inside the file.
            guard !overflow, size <= length - Int(raw),
                  (size + alignment - 1) / alignment * alignment <= length - Int(raw) else {
                return .failure(.truncated(length))
            }
            offsets.append(Int(raw))
            previousEnd = Int(raw) + size
        }
        var checksum = CacheChecksum()
        for (section, offset) in zip(sections, offsets) {
            let size = section.count * section.bytes
            checksum.update(base + offset, count: (size + alignment - 1) / alignment * alignment)
        }
        guard checksum.finalize() == u64(104) else { return .failure(.badChecksum) }
        let vocabulary = (0..<nF).map { Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: offsets[3] + 8 * $0, as: Int64.self))) }
        let oov = (0..<nF).map { Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: offsets[4] + 8 * $0, as: Int64.self))) }
        guard vocabulary.allSatisfy({ $0 >= 1 && $0 <= DatasetSchema.maxVocabularySize }),
              oov.allSatisfy({ $0 >= 0 && $0 <= rows }) else { return .failure(.badVocabulary) }
        return .success(Layout(rows: rows, sparse: offsets[0], dense: offsets[1], labels: offsets[2],
                               vocabulary: vocabulary, oov: oov, contentHash: u64(112)))
    }

    /// Writes `dataset`, parsed from a CSV whose `ContentHash` is `contentHash`, as a cache file
    /// at `path` (temporary name, then rename).
    static func store(_ dataset: TabularDataset, to path: String, fingerprint: UInt64,
                      contentHash: UInt64) throws(DatasetError) {
        let (n, nF, nD, nT) = (dataset.count, dataset.sparseFieldCount, dataset.denseCount, dataset.taskCount)
        func aligned(_ x: Int) -> Int { (x + alignment - 1) / alignment * alignment }
        // Vocabulary sizes, then OOV counts, as little-endian Int64.
        let small = UnsafeMutableRawPointer.allocate(byteCount: max(16 * nF, 8), alignment: 8)
        defer { small.deallocate() }
        for f in 0..<nF {
            small.storeBytes(of: Int64(dataset.vocabularySizes[f]).littleEndian, toByteOffset: 8 * f, as: Int64.self)
            small.storeBytes(of: Int64(dataset.oovCounts[f]).littleEndian, toByteOffset: 8 * (nF + f), as: Int64.self)
        }
        // (bytes, byte count) of every section, in file order.
        let sections: [(UnsafeRawPointer, Int)] = [
            (UnsafeRawPointer(dataset.sparseIDs), n * nF * 4), (UnsafeRawPointer(dataset.denseValues), n * nD * 4),
            (UnsafeRawPointer(dataset.labelValues), n * nT * 4), (UnsafeRawPointer(small), nF * 8),
            (UnsafeRawPointer(small + 8 * nF), nF * 8),
        ]
        var offsets: [Int] = []
        var end = headerSize
        var checksum = CacheChecksum()
        for (pointer, bytes) in sections {
            offsets.append(aligned(end))
            end = aligned(end) + bytes
            checksum.update(pointer, count: bytes)
        }
        let length = aligned(end)
        var header = [UInt8](repeating: 0, count: headerSize)
        func put64(_ value: UInt64, _ at: Int) { withUnsafeBytes(of: value.littleEndian) { header.replaceSubrange(at..<at + 8, with: $0) } }
        func put32(_ value: UInt32, _ at: Int) { withUnsafeBytes(of: value.littleEndian) { header.replaceSubrange(at..<at + 4, with: $0) } }
        header.replaceSubrange(0..<8, with: magic)
        put32(formatVersion, 8); put32(UInt32(headerSize), 12)
        put64(fingerprint, 16); put64(UInt64(n), 24)
        put64(UInt64(nF), 32); put64(UInt64(nD), 40); put64(UInt64(nT), 48)
        for (i, offset) in offsets.enumerated() { put64(UInt64(offset), 56 + 8 * i) }
        put64(UInt64(length), 96); put64(checksum.finalize(), 104); put64(contentHash, 112)
        put64(CacheChecksum.fnv1a(header[0..<120]), 120)

        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotWrite(file: temporary, reason: String(cString: strerror(errno))) }
        var renamed = false
        defer {
            close(fd)
            if !renamed { unlink(temporary) }
        }
        let zeros = UnsafeMutableRawPointer.allocate(byteCount: alignment, alignment: 8)
        zeros.initializeMemory(as: UInt8.self, repeating: 0, count: alignment)
        defer { zeros.deallocate() }
        func writeAll(_ pointer: UnsafeRawPointer, _ count: Int) throws(DatasetError) {
            var done = 0
            while done < count {
                let wrote = write(fd, pointer + done, min(count - done, 1 << 30))
                if wrote < 0 {
                    if errno == EINTR { continue }
                    throw .cannotWrite(file: temporary, reason: String(cString: strerror(errno)))
                }
                done += wrote
            }
        }
        let headerBytes = UnsafeMutableRawPointer.allocate(byteCount: headerSize, alignment: 8)
        defer { headerBytes.deallocate() }
        header.withUnsafeBytes { headerBytes.copyMemory(from: $0.baseAddress!, byteCount: headerSize) }
        try writeAll(headerBytes, headerSize)
        var position = headerSize
        for (index, (pointer, bytes)) in sections.enumerated() {
            if offsets[index] > position { try writeAll(zeros, offsets[index] - position) }
            if bytes > 0 { try writeAll(pointer, bytes) }
            position = offsets[index] + bytes
        }
        if length > position { try writeAll(zeros, length - position) }
        guard fsync(fd) == 0 else { throw .cannotWrite(file: temporary, reason: String(cString: strerror(errno))) }
        guard rename(temporary, path) == 0 else { throw .cannotWrite(file: path, reason: String(cString: strerror(errno))) }
        renamed = true
    }
}
