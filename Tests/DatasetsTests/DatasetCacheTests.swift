import Foundation
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
