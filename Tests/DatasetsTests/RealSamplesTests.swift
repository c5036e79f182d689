import Foundation
import Testing
@testable import Datasets

/// The real sample files in `../shared/data` (read-only; never copied, never written next to).
@Suite(.enabled(if: TestSupport.hasSharedData, "needs ../shared/data (the real samples); skipped where absent"))
struct RealSamplesTests {
    @Test func aliCCPTrainThenValidationAndTestWithTrainsVocabulary() throws {
        let train = TestSupport.sample("ali-ccp/ali_ccp_train_sample.csv")
        let header = try CSVReader.header(of: train)
        #expect(header == SyntheticAliCCP.header)
        let schema = DatasetSchema.aliCCPRule(header: header, labels: ["click", "purchase"])
        #expect(schema.sparse.count == 23 && schema.dense.count == 8)
        let reader = CSVReader()
        let trainSet = try reader.load(train, schema: schema)
        #expect(trainSet.count == 100)  // the file has no final newline
        #expect(trainSet.oovCounts.allSatisfy { $0 == 0 })
        let field205 = schema.sparse.firstIndex(of: "205")!
        #expect(trainSet.vocabularySizes[field205] == 65)
        let purchase = trainSet.labels(task: 1), click = trainSet.labels(task: 0)
        #expect(zip(click, purchase).allSatisfy { $1 == 0 || $0 == 1 })
        #expect(trainSet.denseValue(row: 0, column: 0) == 0.4734)
        for name in ["val", "test"] {
            let split = try reader.load(TestSupport.sample("ali-ccp/ali_ccp_\(name)_sample.csv"), schema: schema,
                                        vocabulary: trainSet.vocabularySizes)
            #expect(split.count == 50)
            #expect(split.vocabularySizes == trainSet.vocabularySizes)
            // The item ids of the later splits largely lie beyond the training file's: OOV.
            #expect(split.oovCounts[field205] > 0)
            let report = zip(schema.sparse, split.oovCounts).filter { $0.1 > 0 }.map { "\($0.0): \($0.1)" }
            print("ali-ccp \(name) OOV counts with train's vocabulary (of \(split.count) rows): \(report.joined(separator: ", "))")
        }
    }

    @Test func aliCCPThroughTheCacheInATemporaryDirectory() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let train = TestSupport.sample("ali-ccp/ali_ccp_train_sample.csv")
            let schema = DatasetSchema.aliCCPRule(header: try CSVReader.header(of: train), labels: ["click", "purchase"])
            let cache = DatasetCache(directory: dir, fallbackDirectory: nil)
            let (first, status1) = try cache.load(train, schema: schema)
            guard case .written = status1 else { Issue.record("expected a write, got \(status1)"); return }
            let (second, status2) = try cache.load(train, schema: schema)
            guard case .hit = status2 else { Issue.record("expected a hit, got \(status2)"); return }
            #expect(second.isIdentical(to: first))
        }
    }

    @Test func censusIncomeWithExplicitDenseColumns() throws {
        let train = TestSupport.sample("census-income/census_income_train_sample.csv")
        let header = try CSVReader.header(of: train)
        #expect(header.contains("class of worker") && header.contains("marital status"))
        // The columns holding fractional values are dense; every other non-label column is an id.
        let dense = ["age", "wage per hour", "capital gains", "capital losses", "divdends from stocks",
                     "num persons worked for employer", "weeks worked in year"]
        let schema = DatasetSchema.explicitDense(header: header, labels: ["income", "marital status"], dense: dense)
        #expect(schema.sparse.count == 32)
        let reader = CSVReader()
        let trainSet = try reader.load(train, schema: schema)
        #expect(trainSet.count == 80)
        #expect(trainSet.denseValue(row: 0, column: 0) == 0.3333)
        for name in ["val", "test"] {
            let split = try reader.load(TestSupport.sample("census-income/census_income_\(name)_sample.csv"),
                                        schema: schema, vocabulary: trainSet.vocabularySizes)
            #expect(split.count == 20)
            print("census-income \(name) OOV total: \(split.oovCounts.reduce(0, +))")
        }
        // Reading an id column as sparse where it holds fractions is an error naming it.
        let wrong = DatasetSchema.explicitDense(header: header, labels: ["income", "marital status"],
                                                dense: Array(dense.dropFirst()))
        let error = TestSupport.datasetError { _ = try reader.load(train, schema: wrong) }
        guard case let .notAnInteger(_, line, column, _)? = error else {
            Issue.record("expected notAnInteger, got \(String(describing: error))")
            return
        }
        #expect(line == 2 && column == "age")
    }

    @Test func aliExpressWithPrefixedColumns() throws {
        let train = TestSupport.sample("aliexpress/aliexpress_train_sample.csv")
        let header = try CSVReader.header(of: train)
        let sparse = header.filter { $0 == "search_id" || $0.hasPrefix("categorical_") }
        let dense = header.filter { $0.hasPrefix("numerical_") }
        #expect(sparse.count == 17 && dense.count == 63)
        let schema = DatasetSchema(labels: ["click", "conversion"], sparse: sparse, dense: dense)
        let trainSet = try CSVReader().load(train, schema: schema)
        #expect(trainSet.count == 100)
        let test = try CSVReader().load(TestSupport.sample("aliexpress/aliexpress_test_sample.csv"), schema: schema,
                                        vocabulary: trainSet.vocabularySizes)
        #expect(test.count == 20)
        print("aliexpress test OOV counts: \(zip(sparse, test.oovCounts).filter { $0.1 > 0 }.map { "\($0.0): \($0.1)" })")
        // 0.33557800000000004 and friends (17 significant digits) go through strtof exactly.
        #expect(trainSet.denseValue(row: 0, column: 24) == Float("0.33557800000000004"))
    }
}
