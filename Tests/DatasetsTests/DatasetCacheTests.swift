import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Datasets

@Suite struct DatasetCacheTests {
    static let schema = SyntheticAliCCP.schema

    /// A small generated Ali-CCP CSV (2 000 rows) in `dir`.
    static func writeCSV(in dir: URL, rows: Int = 2_000) throws -> URL {
        let url = dir.appendingPathComponent("train.csv")
        _ = try SyntheticFixtures.small.writeCSV(.train, rows: rows, to: url)
        return url
    }

    /// A cache policy that writes only inside `dir` (no fallback outside the test's folder).
    static func cache(_ dir: URL, directory: URL? = nil) -> DatasetCache {
        DatasetCache(directory: directory, fallbackDirectory: dir.appendingPathComponent("fallback"))
    }

    @Test func roundTripEqualsTheCSVParseBitForBit() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let parsed = try CSVReader().load(csv, schema: Self.schema)
            let cache = Self.cache(dir)
            let (first, status1) = try cache.load(csv, schema: Self.schema)
            #expect(status1 == .written(path: dir.appendingPathComponent("train.csv.rhcache").path, replaced: nil))
            #expect(first.isIdentical(to: parsed))
            let (second, status2) = try cache.load(csv, schema: Self.schema)
            #expect(status2 == .hit(path: dir.appendingPathComponent("train.csv.rhcache").path))
            #expect(second.isMemoryMapped)
            #expect(second.isIdentical(to: parsed))
            #expect(second.oovCounts == parsed.oovCounts && second.vocabularySizes == parsed.vocabularySizes)
        }
    }

    @Test func validationSplitWithTrainVocabularyRoundTrips() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let train = try Self.writeCSV(in: dir)
            let val = dir.appendingPathComponent("val.csv")
            _ = try SyntheticFixtures.small.writeCSV(.validation, rows: 1_000, to: val)
            let cache = Self.cache(dir)
            let trainSet = try cache.load(train, schema: Self.schema).dataset
            let parsed = try CSVReader().load(val, schema: Self.schema, vocabulary: trainSet.vocabularySizes)
            #expect(parsed.oovCounts.reduce(0, +) > 0)  // rare ids unseen in 2 000 training rows
            _ = try cache.load(val, schema: Self.schema, vocabulary: trainSet.vocabularySizes)
            let (mapped, status) = try cache.load(val, schema: Self.schema, vocabulary: trainSet.vocabularySizes)
            guard case .hit = status else { Issue.record("expected a hit, got \(status)"); return }
            #expect(mapped.isIdentical(to: parsed))
            // A different requested vocabulary is a different fingerprint: rebuilt.
            let (_, other) = try cache.load(val, schema: Self.schema)
            guard case let .written(_, replaced) = other else { Issue.record("expected a rewrite, got \(other)"); return }
            #expect(replaced?.contains("stale") == true)
        }
    }

    @Test func modifiedCSVInvalidatesTheCache() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let cache = Self.cache(dir)
            _ = try cache.load(csv, schema: Self.schema)
            // Change one label (same size), and move the modification time on explicitly in case
            // the file system's clock is coarse.
            var bytes = try Data(contentsOf: csv)
            let firstRow = bytes.firstIndex(of: 0x0A)! + 1
            bytes[firstRow] = bytes[firstRow] == 0x30 ? 0x31 : 0x30
            if bytes[firstRow] == 0x30 { bytes[firstRow + 2] = 0x30 }  // keep purchase ⇒ click
            try bytes.write(to: csv)
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(5)], ofItemAtPath: csv.path)
            let (ds, status) = try cache.load(csv, schema: Self.schema)
            guard case let .written(_, replaced) = status else { Issue.record("expected a rewrite, got \(status)"); return }
            #expect(replaced?.contains("stale") == true)
            #expect(ds.isIdentical(to: try CSVReader().load(csv, schema: Self.schema)))
        }
    }

    /// Issue: the cache was keyed on the CSV's size and modification time, so an edit that kept
    /// the size and restored the time reused the old parsed data. It is keyed on the content now.
    @Test func sameSizeSameMtimeDifferentContentLoadsTheNewContent() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let cache = Self.cache(dir)
            let (old, first) = try cache.load(csv, schema: Self.schema)
            guard case .written = first else { Issue.record("expected a write, got \(first)"); return }
            var before = stat()
            #expect(stat(csv.path, &before) == 0)
            // Flip the first row's click label (same size; purchase ⇒ click kept).
            var bytes = try Data(contentsOf: csv)
            let firstRow = bytes.firstIndex(of: 0x0A)! + 1
            bytes[firstRow] = bytes[firstRow] == 0x30 ? 0x31 : 0x30
            if bytes[firstRow] == 0x30 { bytes[firstRow + 2] = 0x30 }
            try bytes.write(to: csv)
            // Put the access and modification times back, to the nanosecond.
            var times = [before.st_atim, before.st_mtim]
            #expect(utimensat(AT_FDCWD, csv.path, &times, 0) == 0)
            var after = stat()
            #expect(stat(csv.path, &after) == 0)
            #expect(after.st_size == before.st_size)
            #expect(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec)

            let parsed = try CSVReader().load(csv, schema: Self.schema)
            #expect(!parsed.isIdentical(to: old))
            let (ds, status) = try cache.load(csv, schema: Self.schema)
            let path = dir.appendingPathComponent("train.csv.rhcache").path
            #expect(status == .written(path: path,
                                       replaced: "\(path): stale (the content of \(csv.path) changed since the cache was written)"))
            #expect(status.description.hasPrefix("dataset cache \(path): rebuilt (\(path): stale"))
            #expect(ds.isIdentical(to: parsed))
            #expect(ds.label(row: 0, task: 0) != old.label(row: 0, task: 0))
            // Said once: the rewritten cache is a hit with the new content.
            let (again, third) = try cache.load(csv, schema: Self.schema)
            #expect(third == .hit(path: path))
            #expect(again.isIdentical(to: parsed))
        }
    }

    /// The other side of a content key: a new modification time on the same bytes is still a hit.
    @Test func touchedButUnchangedCSVIsAHit() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let cache = Self.cache(dir)
            let (original, _) = try cache.load(csv, schema: Self.schema)
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(60)], ofItemAtPath: csv.path)
            let (ds, status) = try cache.load(csv, schema: Self.schema)
            #expect(status == .hit(path: dir.appendingPathComponent("train.csv.rhcache").path))
            #expect(ds.isIdentical(to: original))
        }
    }

    /// The stored content hash is the `ContentHash` of the CSV's bytes, the same whether computed
    /// while parsing (any chunk size) or in one pass over the file.
    @Test(arguments: [1 << 22, 4096, 61])
    func storedContentHashIsTheHashOfTheCSVBytes(chunkSize: Int) throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir, rows: 500)
            let cache = DatasetCache(reader: CSVReader(chunkSize: chunkSize),
                                     fallbackDirectory: dir.appendingPathComponent("fallback"))
            let (_, status) = try cache.load(csv, schema: Self.schema)
            guard case let .written(path, _) = status else { Issue.record("expected a write, got \(status)"); return }
            let header = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(128)
            let stored = header[112..<120].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            let bytes = try Data(contentsOf: csv)
            var hash = ContentHash()
            bytes.withUnsafeBytes { hash.update($0.baseAddress!, count: $0.count) }
            #expect(stored == hash.finalize())
            #expect(stored == (try ContentHash.ofFile(csv.path)))
        }
    }

    /// A cache of format version 1 (keyed on size and time) is rewritten, not trusted.
    @Test func version1CacheIsRewritten() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let cache = Self.cache(dir)
            let (original, _) = try cache.load(csv, schema: Self.schema)
            let url = dir.appendingPathComponent("train.csv.rhcache")
            var bytes = try Data(contentsOf: url)
            bytes[8] = 1; bytes[9] = 0; bytes[10] = 0; bytes[11] = 0
            let checksum = CacheChecksum.fnv1a(bytes[0..<120])
            for i in 0..<8 { bytes[120 + i] = UInt8(truncatingIfNeeded: checksum >> (8 * UInt64(i))) }
            try bytes.write(to: url)
            let (ds, status) = try cache.load(csv, schema: Self.schema)
            #expect(DatasetCache.formatVersion == 2)
            #expect(status == .written(path: url.path, replaced: "\(url.path): format version 1, expected 2"))
            #expect(ds.isIdentical(to: original))
        }
    }

    /// A cache is never used for a CSV that is gone: the error names the CSV.
    @Test func removedCSVIsAnErrorEvenWithACache() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let cache = Self.cache(dir)
            _ = try cache.load(csv, schema: Self.schema)
            try FileManager.default.removeItem(at: csv)
            let error = TestSupport.datasetError { _ = try cache.load(csv, schema: Self.schema) }
            guard case let .cannotRead(file, _)? = error else {
                Issue.record("expected cannotRead, got \(String(describing: error))")
                return
            }
            #expect(file == csv.path)
            #expect(error?.description.hasPrefix(csv.path) == true)
        }
    }

    /// Errors reached through the cache name the CSV, as the reader's do: a sample of kinds.
    @Test(arguments: [
        ("click,purchase\n1,0\n", "column '101' named by the schema is not in the header"),
        ("", "empty file"),
        (SyntheticAliCCP.header.joined(separator: ",") + "\n", "header only"),
        (SyntheticAliCCP.header.joined(separator: ",") + "\n"
            + (["1", "0", "-5"] + Array(repeating: "1", count: 30)).joined(separator: ",") + "\n",
         ":2: column '101': sparse id -5 is outside"),
        (SyntheticAliCCP.header.joined(separator: ",") + "\n"
            + (["1", "0", "1"] + Array(repeating: "1", count: 29)).joined(separator: ",") + "\n",
         ":2: expected 33 fields, found 32"),
    ])
    func errorsThroughTheCacheNameTheCSV(content: String, problem: String) throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try TestSupport.write(content, to: "bad.csv", in: dir)
            let error = TestSupport.datasetError { _ = try Self.cache(dir).load(csv, schema: Self.schema) }
            let message = error?.description ?? "no error"
            #expect(message.hasPrefix(csv.path), "\(message)")
            #expect(message.contains(problem), "\(message)")
            #expect(error?.file == csv.path)
        }
    }

    @Test func changedSchemaInvalidatesTheCache() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let cache = Self.cache(dir)
            _ = try cache.load(csv, schema: Self.schema)
            var fewer = Self.schema
            fewer.dense.removeLast()
            let (ds, status) = try cache.load(csv, schema: fewer)
            guard case .written = status else { Issue.record("expected a rewrite, got \(status)"); return }
            #expect(ds.denseCount == 7)
        }
    }

    @Test(arguments: [0, 7, 127, 128, 1000, -1, -64])
    func truncatedCacheIsRejectedAndRebuilt(keep: Int) throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let cache = Self.cache(dir)
            let (original, _) = try cache.load(csv, schema: Self.schema)
            let path = dir.appendingPathComponent("train.csv.rhcache").path
            let full = try Data(contentsOf: URL(fileURLWithPath: path))
            let length = keep >= 0 ? keep : full.count + keep
            try full.prefix(length).write(to: URL(fileURLWithPath: path))
            let (ds, status) = try cache.load(csv, schema: Self.schema)
            guard case let .written(written, replaced) = status else { Issue.record("expected a rewrite, got \(status)"); return }
            #expect(written == path)
            #expect(replaced != nil)
            #expect(ds.isIdentical(to: original))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == full)
        }
    }

    @Test(arguments: [0, 9, 20, 30, 60, 100, 130, 4000, -3])
    func corruptedByteIsRejectedAndRebuilt(offset: Int) throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let cache = Self.cache(dir)
            let (original, _) = try cache.load(csv, schema: Self.schema)
            let url = dir.appendingPathComponent("train.csv.rhcache")
            var bytes = try Data(contentsOf: url)
            let at = offset >= 0 ? offset : bytes.count - 200
            bytes[at] ^= 0x5A
            try bytes.write(to: url)
            let (ds, status) = try cache.load(csv, schema: Self.schema)
            guard case let .written(_, replaced) = status else { Issue.record("expected a rewrite, got \(status)"); return }
            #expect(replaced != nil)
            #expect(ds.isIdentical(to: original))
        }
    }

    @Test func garbageFileIsRejected() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            try Data(repeating: 0xFF, count: 4096).write(to: dir.appendingPathComponent("train.csv.rhcache"))
            let (_, status) = try Self.cache(dir).load(csv, schema: Self.schema)
            #expect(status == .written(path: dir.appendingPathComponent("train.csv.rhcache").path,
                                       replaced: "\(dir.appendingPathComponent("train.csv.rhcache").path): not a RecHub dataset cache"))
        }
    }

    @Test func explicitCacheDirectoryIsUsed() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let elsewhere = dir.appendingPathComponent("caches/nested")
            let cache = Self.cache(dir, directory: elsewhere)
            let (_, status) = try cache.load(csv, schema: Self.schema)
            guard case let .written(path, _) = status else { Issue.record("expected a write, got \(status)"); return }
            #expect(path.hasPrefix(elsewhere.path))
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("train.csv.rhcache").path))
            #expect(try cache.load(csv, schema: Self.schema).status == .hit(path: path))
        }
    }

    @Test func directoryWithoutWriteBitsFallsBack() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let data = dir.appendingPathComponent("readonly")
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            let csv = try Self.writeCSV(in: data)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: data.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: data.path) }
            let cache = Self.cache(dir)
            let (_, status) = try cache.load(csv, schema: Self.schema)
            guard case let .written(path, _) = status else { Issue.record("expected a write, got \(status)"); return }
            #expect(path.hasPrefix(dir.appendingPathComponent("fallback").path))
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("train.csv.rhcache").path))
            #expect(try cache.load(csv, schema: Self.schema).status == .hit(path: path))
        }
    }

    @Test func nothingWritableMeansNoCacheSilently() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            // A directory "inside" a regular file cannot be created, not even by root.
            let blocker = try TestSupport.write("x", to: "blocker", in: dir)
            let cache = DatasetCache(directory: blocker.appendingPathComponent("sub"))
            let (ds, status) = try cache.load(csv, schema: Self.schema)
            guard case .notWritten = status else { Issue.record("expected notWritten, got \(status)"); return }
            #expect(ds.count == 2_000)
        }
    }

    @Test func disabledCacheOnlyParses() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir)
            let (ds, status) = try DatasetCache(isEnabled: false).load(csv, schema: Self.schema)
            #expect(status == .disabled)
            #expect(ds.count == 2_000)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["train.csv"])
        }
    }

    @Test func csvErrorsStillSurfaceThroughTheCache() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try TestSupport.write("click,purchase\n1,0\n", to: "bad.csv", in: dir)
            let error = TestSupport.datasetError { _ = try Self.cache(dir).load(csv, schema: Self.schema) }
            #expect(error == .missingColumn(file: csv.path, column: "101"))
        }
    }

    @Test func sectionsAreAlignedTo64Bytes() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let csv = try Self.writeCSV(in: dir, rows: 333)
            let (_, status) = try Self.cache(dir).load(csv, schema: Self.schema)
            guard case let .written(path, _) = status else { Issue.record("expected a write"); return }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(bytes.prefix(8) == Data("RHDSCACH".utf8))
            #expect(bytes.count % 64 == 0)
            for field in stride(from: 56, through: 88, by: 8) {
                let offset = bytes[field..<field + 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
                #expect(offset % 64 == 0 && offset >= 128 && offset <= bytes.count)
            }
        }
    }
}
