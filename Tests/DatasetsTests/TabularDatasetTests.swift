import Foundation
import Testing
@testable import Datasets

@Suite struct TabularDatasetTests {
    static let schema = DatasetSchema(labels: ["click", "purchase"], sparse: ["u", "i", "c"], dense: ["x", "z"])

    /// A small dataset: N = 4, F = 3, D = 2, T = 2.
    static func small(vocabulary: [Int]? = nil) throws -> TabularDataset {
        try TabularDataset(
            schema: schema,
            sparse: [0, 5, 1,
                     3, 6, 0,
                     1, 9, 2,
                     2, 4, 7],
            dense: [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4],
            labels: [1, 0, 0, 0, 1, 1, 0, 0],
            vocabularySizes: vocabulary)
    }

    @Test func learnsVocabularyAsMaxIDPlusOne() throws {
        let ds = try Self.small()
        #expect(ds.count == 4)
        #expect((ds.sparseFieldCount, ds.denseCount, ds.taskCount) == (3, 2, 2))
        #expect(ds.vocabularySizes == [4, 10, 8])
        #expect(ds.oovCounts == [0, 0, 0])
        #expect(ds.sparseID(row: 1, field: 1) == 6)
        #expect(ds.schema.vocabularySizes == [4, 10, 8])
    }

    @Test func givenVocabularyMapsEverythingOutsideToOOV() throws {
        let ds = try Self.small(vocabulary: [2, 5, 3])
        #expect(ds.sparseColumn(0) == [0, 2, 1, 2])  // 3 and 2 are outside 0..<2
        #expect(ds.sparseColumn(1) == [5, 5, 5, 4])  // 5, 6, 9 at or past 5
        #expect(ds.sparseColumn(2) == [1, 0, 2, 3])
        #expect(ds.oovCounts == [2, 3, 1])
    }

    @Test func columnsAndAccessors() throws {
        let ds = try Self.small()
        #expect(ds.labels(task: 0) == [1, 0, 1, 0])
        #expect(ds.labels(task: 1) == [0, 0, 1, 0])
        #expect(ds.denseColumn(1) == [1, 2, 3, 4])
        #expect(ds.denseValue(row: 2, column: 0) == 2.5)
        #expect(ds.label(row: 2, task: 1) == 1)
        #expect(!ds.isMemoryMapped)
    }

    @Test(arguments: [[3, 0, 3], [1], [], [2, 2, 2, 2, 2, 2, 0, 1, 3]])
    func gatherCopiesTheListedRows(rows: [Int]) throws {
        let ds = try Self.small()
        let b = rows.count
        // One spare row so that the buffers have a base address even when B = 0.
        var sparse = [Int32](repeating: -7, count: (b + 1) * 3)
        var dense = [Float](repeating: -7, count: (b + 1) * 2)
        var labels = [Float](repeating: -7, count: (b + 1) * 2)
        rows.withUnsafeBufferPointer { r in
            sparse.withUnsafeMutableBufferPointer { s in
                dense.withUnsafeMutableBufferPointer { d in
                    labels.withUnsafeMutableBufferPointer { l in
                        ds.gather(rows: r, sparse: s.baseAddress!, dense: d.baseAddress!, labels: l.baseAddress!)
                    }
                }
            }
        }
        for (position, row) in rows.enumerated() {
            for f in 0..<3 { #expect(sparse[position * 3 + f] == ds.sparseID(row: row, field: f)) }
            for c in 0..<2 { #expect(dense[position * 2 + c] == ds.denseValue(row: row, column: c)) }
            for t in 0..<2 { #expect(labels[position * 2 + t] == ds.label(row: row, task: t)) }
        }
        #expect(sparse[(b * 3)...].allSatisfy { $0 == -7 } && dense[(b * 2)...].allSatisfy { $0 == -7 })
    }

    @Test func identicalComparesEverything() throws {
        let a = try Self.small(), b = try Self.small()
        #expect(a.isIdentical(to: b))
        let c = try Self.small(vocabulary: [4, 10, 9])
        #expect(!a.isIdentical(to: c))
    }

    @Test func realLabelsMayBeAnyFiniteValue() throws {
        let schema = DatasetSchema(labels: ["y"], labelKinds: [.real], sparse: [], dense: ["x"])
        let ds = try TabularDataset(schema: schema, sparse: [], dense: [1, 2], labels: [-3.5, 1e6])
        #expect(ds.labels(task: 0) == [-3.5, 1e6])
        #expect(ds.vocabularySizes == [])
    }

    /// `CSVReader`'s id rule holds for in-memory arrays too: an id is non-negative, and a
    /// negative one is a programmer error here (the reader reports it as a data error).
    @Test func negativeIDIsAPreconditionFailure() async {
        await #expect(processExitsWith: .failure) {
            let schema = DatasetSchema(labels: ["y"], sparse: ["a"], dense: [])
            _ = try? TabularDataset(schema: schema, sparse: [-1], dense: [], labels: [1])
        }
    }

    @Test func invalidSchemaThrows() {
        let schema = DatasetSchema(labels: ["y"], sparse: ["a"], dense: [], vocabularySizes: [0])
        let error = TestSupport.datasetError { _ = try TabularDataset(schema: schema, sparse: [0], dense: [], labels: [1]) }
        #expect(error == .invalidSchema(file: nil, reason: "vocabulary size 0 of field 'a' is outside 1...\(DatasetSchema.maxVocabularySize)"))
    }
}
