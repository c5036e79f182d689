import Foundation
import Testing
@testable import Datasets

/// Generator worlds shared by the tests (built once per process: a world is immutable).
enum SyntheticFixtures {
    /// A small world (scale 0.02: 2 000 users, 10 000 items) for files and caches.
    static let small = try! SyntheticAliCCP(.init(trainRows: 2_000, validationRows: 1_000, testRows: 1_000,
                                                  seed: 99, scale: 0.02))
    /// The world used for the statistical checks (scale 0.1).
    static let medium = try! SyntheticAliCCP(.init(seed: 2024, scale: 0.1))
    /// 200 000 rows of `medium`'s training split, generated once.
    static let mediumTrain = medium.generate(.train, rows: 200_000)
}

@Suite struct SyntheticAliCCPTests {
    /// Rates on 200 000 rows. Tolerances: CTR 0.04 ± 0.004 (the split's standard error is
    /// 0.00044, the calibration's bias under 0.0002: 0.004 is over 8 standard errors);
    /// P(purchase | click) 0.08 ± 0.015 (about 8 000 clicks: standard error 0.003, calibration
    /// bias under 0.001: 0.015 is about 5 standard errors); the mean true pCTR 0.04 ± 0.002 (its
    /// sampling error is about 0.0001).
    @Test func ratesMatchTheConfiguration() {
        let truth = SyntheticFixtures.mediumTrain.truth
        #expect(abs(truth.clickRate - 0.04) < 0.004, "click rate \(truth.clickRate)")
        #expect(abs(truth.purchaseRateGivenClick - 0.08) < 0.015, "P(purchase | click) \(truth.purchaseRateGivenClick)")
        let meanPCTR = truth.pCTR.reduce(0.0) { $0 + Double($1) } / Double(truth.count)
        #expect(abs(meanPCTR - 0.04) < 0.002, "mean pCTR \(meanPCTR)")
    }

    /// Selection bias: 0 leaves the data bit for bit as it was; 0.7 keeps the planted rates and
    /// couples the two tasks through the shared appeal on user and item ids: the correlation ρ₀
    /// of the true click and purchase logits (0.64 here: `taskCorrelation` 0.5 plus the dense
    /// basis functions both tasks use) becomes (1 - s²) ρ₀ + s² (the appeal is independent of
    /// the rest and shared whole), 0.81. 100 000 rows: standard errors of the correlations about
    /// 0.002; the tolerance 0.03 also covers the sampled variances of the calibration.
    @Test func selectionBiasCouplesTheTasksThroughUserAndItemIds() throws {
        let plain = try SyntheticAliCCP(.init(seed: 2024, scale: 0.1, selectionBias: 0))
        #expect(plain.generate(.validation, rows: 2_000).truth.pCTR
                == SyntheticFixtures.medium.generate(.validation, rows: 2_000).truth.pCTR)
        func logit(_ p: Float) -> Double { log(Double(p) / (1 - Double(p))) }
        func correlation(_ t: SyntheticAliCCP.GroundTruth) -> Double {
            let x = t.pCTR.map(logit), y = t.pCVR.map(logit), n = Double(x.count)
            let (mx, my) = (x.reduce(0, +) / n, y.reduce(0, +) / n)
            var (sxy, sxx, syy) = (0.0, 0.0, 0.0)
            for i in 0..<x.count {
                sxy += (x[i] - mx) * (y[i] - my)
                sxx += (x[i] - mx) * (x[i] - mx)
                syy += (y[i] - my) * (y[i] - my)
            }
            return sxy / (sxx * syy).squareRoot()
        }
        let biased = try SyntheticAliCCP(.init(seed: 2024, scale: 0.1, selectionBias: 0.7))
        let truth = biased.generate(.train, rows: 100_000).truth
        #expect(abs(truth.clickRate - 0.04) < 0.004, "click rate \(truth.clickRate)")
        #expect(abs(truth.purchaseRateGivenClick - 0.08) < 0.02, "P(purchase | click) \(truth.purchaseRateGivenClick)")
        let before = correlation(plain.generate(.train, rows: 100_000).truth), after = correlation(truth)
        #expect(before > 0.4 && before < 0.8, "logit correlation without selection bias \(before)")
        #expect(abs(after - (0.51 * before + 0.49)) < 0.03, "logit correlation \(before) -> \(after)")
        #expect(throws: DatasetError.self) { try SyntheticAliCCP(.init(selectionBias: 1)) }
    }

    @Test func purchaseImpliesClickOnEveryRow() {
        let (dataset, truth) = SyntheticFixtures.mediumTrain
        let clicks = dataset.labels(task: 0), purchases = dataset.labels(task: 1)
        #expect(zip(clicks, purchases).allSatisfy { $1 == 0 || $0 == 1 })
        #expect(clicks == truth.clicks && purchases == truth.purchases)
        #expect(zip(truth.pCTCVR, truth.pCTR).allSatisfy { $0 <= $1 && $0 >= 0 })
    }

    /// Oracle AUCs on 200 000 rows (about 8 000 clicks, 650 purchases: AUC standard errors about
    /// 0.003 and 0.006); the design targets are click 0.70–0.80 and purchase above 0.8.
    @Test func oracleAUCsAreInTheDesignedRange() {
        let truth = SyntheticFixtures.mediumTrain.truth
        let click = TestSupport.auc(scores: truth.pCTR, labels: truth.clicks)
        let purchase = TestSupport.auc(scores: truth.pCTCVR, labels: truth.purchases)
        #expect(click > 0.70 && click < 0.80, "oracle click AUC \(click)")
        #expect(purchase > 0.80 && purchase > click, "oracle purchase AUC \(purchase)")
    }

    @Test func idsAreSkewedAndInsideTheVocabulary() {
        let dataset = SyntheticFixtures.mediumTrain.dataset
        let vocab = SyntheticFixtures.medium.vocabularySizes
        #expect(dataset.vocabularySizes == vocab)
        #expect(dataset.oovCounts == Array(repeating: 0, count: 23))
        for f in 0..<23 {
            #expect(dataset.sparseColumn(f).allSatisfy { $0 >= 0 && Int($0) < vocab[f] })
        }
        // Zipf: the top 1 % of items take a large share of impressions, and many items are rare.
        var counts = [Int](repeating: 0, count: vocab[9])
        for id in dataset.sparseColumn(9) { counts[Int(id)] += 1 }
        counts.sort(by: >)
        let top = counts.prefix(vocab[9] / 100).reduce(0, +)
        #expect(Double(top) / Double(dataset.count) > 0.2, "top 1 % share \(Double(top) / Double(dataset.count))")
        #expect(counts.filter { $0 == 0 }.count > vocab[9] / 10)
        // Dense values in [0, 1] with 5 decimals; affinities mostly zero, like the real data.
        let affinity = dataset.denseColumn(5)
        #expect(dataset.withUnsafeDenseValues { $0.allSatisfy { $0 >= 0 && $0 <= 1 } })
        #expect(Double(affinity.filter { $0 == 0 }.count) / Double(affinity.count) > 0.5)
    }

    @Test func entityAttributesAreDeterministicFunctionsOfTheirIDs() {
        let dataset = SyntheticFixtures.mediumTrain.dataset
        var itemAttributes: [Int32: [Int32]] = [:]
        var userAttributes: [Int32: [Int32]] = [:]
        var userActivity: [Int32: [Float]] = [:]
        for r in 0..<50_000 {
            let item = dataset.sparseID(row: r, field: 9), user = dataset.sparseID(row: r, field: 0)
            let itemValues = [10, 11, 12, 13].map { dataset.sparseID(row: r, field: $0) }
            let userValues = (Array(1...8) + [19, 20, 21, 22]).map { dataset.sparseID(row: r, field: $0) }
            let activity = (0..<4).map { dataset.denseValue(row: r, column: $0) }
            #expect(itemAttributes[item, default: itemValues] == itemValues)
            #expect(userAttributes[user, default: userValues] == userValues)
            #expect(userActivity[user, default: activity] == activity)
            itemAttributes[item] = itemValues
            userAttributes[user] = userValues
            userActivity[user] = activity
        }
    }

    @Test func sameSeedGivesTheSameBytesAndAnotherSeedDoesNot() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let config = SyntheticAliCCP.Configuration(trainRows: 3_000, validationRows: 500, testRows: 500,
                                                       seed: 5, scale: 0.01)
            let a = try SyntheticAliCCP(config).writeCSVs(to: dir.appendingPathComponent("a"))
            let b = try SyntheticAliCCP(config).writeCSVs(to: dir.appendingPathComponent("b"))
            var other = config
            other.seed = 6
            _ = try SyntheticAliCCP(other).writeCSVs(to: dir.appendingPathComponent("c"))
            for name in ["train.csv", "val.csv", "test.csv"] {
                let x = try Data(contentsOf: dir.appendingPathComponent("a/\(name)"))
                let y = try Data(contentsOf: dir.appendingPathComponent("b/\(name)"))
                let z = try Data(contentsOf: dir.appendingPathComponent("c/\(name)"))
                #expect(x == y, "\(name)")
                #expect(x != z, "\(name)")
            }
            #expect(a.train.pCTR == b.train.pCTR && a.test.purchases == b.test.purchases)
            #expect(a.train.count == 3_000 && a.validation.count == 500 && a.test.count == 500)
            #expect(Array(a.train.pCTR.prefix(500)) != a.test.pCTR)  // splits have their own streams
        }
    }

    @Test func writtenCSVLoadsBackAsTheInMemoryDataset() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let generator = SyntheticFixtures.small
            let truth = try generator.writeCSVs(to: dir)
            let header = try CSVReader.header(of: dir.appendingPathComponent("train.csv"))
            #expect(header == SyntheticAliCCP.header)
            let schema = DatasetSchema.aliCCPRule(header: header, labels: ["click", "purchase"])
            #expect(schema == SyntheticAliCCP.schema)
            for (split, splitTruth) in [(SyntheticAliCCP.Split.train, truth.train), (.validation, truth.validation),
                                        (.test, truth.test)] {
                let url = dir.appendingPathComponent(split.fileName)
                let loaded = try CSVReader().load(url, schema: schema, vocabulary: generator.vocabularySizes)
                let (memory, memoryTruth) = generator.generate(split, rows: splitTruth.count)
                #expect(loaded.isIdentical(to: memory), "\(split)")
                #expect(memoryTruth.pCTR == splitTruth.pCTR && memoryTruth.clicks == splitTruth.clicks)
                #expect(loaded.labels(task: 0) == splitTruth.clicks)
            }
            // With a learned vocabulary the training split has no OOV; the others may have some.
            let train = try CSVReader().load(dir.appendingPathComponent("train.csv"), schema: schema)
            #expect(train.oovCounts.allSatisfy { $0 == 0 })
            #expect(zip(train.vocabularySizes, generator.vocabularySizes).allSatisfy { $0 <= $1 })
        }
    }

    @Test(arguments: [0.001, 0.01, 0.1, 0.5, 1.0])
    func scaleShrinksVocabulariesProportionally(scale: Double) throws {
        let base = SyntheticAliCCP.baseVocabulary
        let vocab = SyntheticAliCCP.Population.vocabulary(scale: scale)
        #expect(vocab.count == 23)
        for f in 0..<19 {
            let expected = base[f] <= 4 ? base[f] : max(4, Int((Double(base[f]) * scale).rounded()))
            #expect(vocab[f] == expected, "field \(SyntheticAliCCP.schema.sparse[f])")
        }
        #expect(vocab[19] == vocab[10] && vocab[20] == vocab[11] && vocab[21] == vocab[13] && vocab[22] == vocab[12])
        if scale == 1.0 {
            #expect(vocab[0] == 100_000 && vocab[9] == 500_000)
        }
        if scale == 0.01 {  // a built world reports the same sizes
            #expect(try SyntheticAliCCP(.init(seed: 1, scale: scale)).vocabularySizes == vocab)
        }
    }

    @Test func tinyScaleStillGenerates() throws {
        let generator = try SyntheticAliCCP(.init(seed: 3, scale: 0.0001))
        let (dataset, truth) = generator.generate(.test, rows: 1_000)
        #expect(dataset.count == 1_000 && truth.count == 1_000)
        #expect(generator.vocabularySizes.allSatisfy { $0 >= 3 })
    }

    @Test(arguments: [
        (SyntheticAliCCP.Configuration(scale: 0), "scale"), (.init(scale: 1.5), "scale"),
        (.init(clickRate: 0), "clickRate"), (.init(purchaseRateGivenClick: 1), "purchaseRateGivenClick"),
        (.init(trainRows: -1), "trainRows"), (.init(taskCorrelation: 2), "taskCorrelation"),
        (.init(clickSignal: -1), "clickSignal"), (.init(personalization: 1.1), "personalization"),
    ])
    func badConfigurationNamesTheKey(config: SyntheticAliCCP.Configuration, key: String) {
        let error = TestSupport.datasetError { _ = try SyntheticAliCCP(config) }
        guard case let .invalidConfiguration(named, _)? = error else {
            Issue.record("expected invalidConfiguration, got \(String(describing: error))")
            return
        }
        #expect(named == key)
    }
}
