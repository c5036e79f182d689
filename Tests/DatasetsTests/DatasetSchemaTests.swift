import Foundation
import Testing
@testable import Datasets

@Suite struct DatasetSchemaTests {
    @Test func aliCCPRuleSplitsOnTheDPrefix() {
        let header = ["click", "purchase", "101", "205", "D508", "109_14", "D109_14"]
        let schema = DatasetSchema.aliCCPRule(header: header, labels: ["click", "purchase"])
        #expect(schema.labels == ["click", "purchase"])
        #expect(schema.labelKinds == [.binary, .binary])
        #expect(schema.sparse == ["101", "205", "109_14"])
        #expect(schema.dense == ["D508", "D109_14"])
        #expect(schema.vocabularySizes == nil)
        #expect((try? schema.validate()) != nil)
    }

    @Test func syntheticSchemaIsAliCCPsLayout() {
        let schema = SyntheticAliCCP.schema
        #expect(schema.sparse.count == 23)
        #expect(schema.dense.count == 8)
        #expect(schema.dense.allSatisfy { $0.hasPrefix("D") })
        #expect(schema.allColumns.sorted() == SyntheticAliCCP.header.sorted())
    }

    @Test func explicitDenseKeepsTheRestSparse() {
        let header = ["age", "class of worker", "income", "marital status", "wage per hour"]
        let schema = DatasetSchema.explicitDense(header: header, labels: ["income", "marital status"],
                                                 dense: ["age", "wage per hour"])
        #expect(schema.sparse == ["class of worker"])
        #expect(schema.dense == ["age", "wage per hour"])
    }

    @Test(arguments: [
        (DatasetSchema(labels: ["y"], labelKinds: [], sparse: ["a"], dense: []), "1 labels but 0 label kinds"),
        (DatasetSchema(labels: ["y"], sparse: [], dense: []), "no sparse or dense feature column"),
        (DatasetSchema(labels: ["y"], sparse: ["a", "y"], dense: []), "column 'y' is named more than once"),
        (DatasetSchema(labels: ["y"], sparse: ["a"], dense: [""]), "empty column name"),
        (DatasetSchema(labels: ["y"], sparse: ["a"], dense: [], vocabularySizes: [1, 2]), "2 vocabulary sizes for 1 sparse fields"),
        (DatasetSchema(labels: ["y"], sparse: ["a"], dense: [], vocabularySizes: [0]), "vocabulary size 0 of field 'a'"),
    ])
    func invalidSchemasAreRejectedWithAReason(schema: DatasetSchema, reason: String) {
        let error = TestSupport.datasetError { try schema.validate() }
        guard case let .invalidSchema(nil, message)? = error else {
            Issue.record("expected invalidSchema without a file, got \(String(describing: error))")
            return
        }
        #expect(message.contains(reason), "\(message)")
        // Checked against a data file, the same error names it.
        let named = TestSupport.datasetError { try schema.validate(file: "/data/train.csv") }
        #expect(named == .invalidSchema(file: "/data/train.csv", reason: message))
        #expect(named?.description == "/data/train.csv: invalid schema: \(message)")
        #expect(named?.file == "/data/train.csv")
    }

    @Test func codableRoundTrip() throws {
        let schema = DatasetSchema(labels: ["income", "y2"], labelKinds: [.binary, .real], sparse: ["a b"],
                                   dense: ["c"], vocabularySizes: [7])
        let decoded = try JSONDecoder().decode(DatasetSchema.self, from: JSONEncoder().encode(schema))
        #expect(decoded == schema)
    }

    @Test func canonicalDescriptionDependsOnEveryPart() {
        let base = DatasetSchema(labels: ["y"], sparse: ["a"], dense: ["d"])
        var kinds = base; kinds.labelKinds = [.real]
        var vocab = base; vocab.vocabularySizes = [3]
        var order = DatasetSchema(labels: ["y"], sparse: ["d"], dense: ["a"])
        order.labelKinds = base.labelKinds
        let all = [base, kinds, vocab, order].map(\.canonicalDescription)
        #expect(Set(all).count == all.count)
    }
}
