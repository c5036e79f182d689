import Foundation
import RecHubRandom
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A synthetic data set in Ali-CCP's exact column layout, drawn from a planted ground truth, so
/// that the oracle AUC of each task is known (DESIGN.md §6).
///
/// The world: users and items with Zipf–Mandelbrot popularity, user profile fields (121…129) and
/// favourites (109_14 category, 110_14 shop, 127_14 brand, 150_14 intention node) fixed per user,
/// item attributes (206 category, 207 shop, 216 brand, 210 node of the category) fixed per item,
/// user-group × item-attribute cross ids (508, 509, 702, 853), a scenario field (301), per-user
/// activity levels (D109_14 … D150_14) and per-impression affinities (D508 … D853, mostly 0,
/// high when the item matches the user's favourite). A share of impressions (`personalization`)
/// shows an item of the user's favourite category.
///
/// The truth, a function of the written columns only:
///
/// ```
/// z_ctr = b_c + Σ_f w_f[id_f] + Σ_d λ_d p_d(user attrs) q_d(item attrs) + Σ_j c_j φ_j(dense)
/// z_cvr = b_v + (the same form with other weights; correlation `taskCorrelation` with z_ctr)
/// pCTR = σ(z_ctr),  pCVR = σ(z_cvr),  pCTCVR = pCTR · pCVR
/// click ~ Bernoulli(pCTR),  purchase ~ click · Bernoulli(pCVR)
/// ```
///
/// `p` and `q` are 6-dimensional latent factors: `p` an embedding of the user's group (field 122),
/// `q` the sum of embeddings of the item's category (206) and intention node (210), the user ×
/// item interaction a model with embeddings can learn (the cross id 508 indexes the same pairs).
/// Every id's effect and embedding is damped by `√(c / (c + κ))`, `c` its count in a calibration
/// sample of impressions and `κ` the count at frequency 1e-3, so the signal sits where a model
/// sees enough rows to learn it. Most of the logit variance is in small profile fields, the
/// scenario, category and node, and dense features; the per-id residuals of user (101) and item
/// (205) carry 1 %. Each component's variance is normalised on the calibration sample, the logit
/// scaled to standard deviation `clickSignal` / `purchaseSignal`, and the intercepts solved so
/// that the mean pCTR is `clickRate` and the click-weighted mean pCVR is `purchaseRateGivenClick`.
/// With `selectionBias` s > 0, both logits also carry `s σ A(user, item)`, an appeal shared by
/// the two tasks on the user (101) and item (205) ids, and the rest shrinks by `√(1 - s²)`.
/// Everything is deterministic given `seed`.
public struct SyntheticAliCCP: Sendable {
    /// How much data to make and how it behaves.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Rows of `train.csv`.
        public var trainRows: Int
        /// Rows of `val.csv`.
        public var validationRows: Int
        /// Rows of `test.csv`.
        public var testRows: Int
        /// Seed of everything (world, calibration, every split).
        public var seed: UInt64
        /// Vocabulary scale in (0, 1]: every vocabulary larger than 4 shrinks to `max(4, V · scale)`.
        public var scale: Double
        /// Target mean pCTR over impressions.
        public var clickRate: Double
        /// Target P(purchase | click).
        public var purchaseRateGivenClick: Double
        /// Standard deviation of the CTR logit around its intercept (sets the oracle click AUC).
        public var clickSignal: Double
        /// Standard deviation of the CVR logit around its intercept.
        public var purchaseSignal: Double
        /// Correlation between the CTR and CVR logits (shared versus task-specific factors).
        public var taskCorrelation: Double
        /// Zipf exponent of user and item popularity.
        public var zipfExponent: Double
        /// Share of impressions that show an item of the user's favourite category.
        public var personalization: Double
        /// Selection bias in [0, 1): the weight s of an "appeal" term, per user and per item, that
        /// raises click and purchase logits alike: each logit is `b + √(1 - s²) · (signal above)
        /// + s · σ · A(user, item)`, with A of unit variance. Clicks then select impressions of
        /// high appeal, so the planted CVR signal differs between clicked and non-clicked
        /// impressions, and it sits in user and item ids seen often among impressions but rarely
        /// among clicks (ids keep half their appeal at frequency 2e-5): the sample-selection and
        /// data-sparsity setting ESMM was designed for. 0 (the default) leaves the data unchanged.
        public var selectionBias: Double

        /// Creates a configuration; the defaults give CTR 4 %, CVR 8 % of clicks.
        public init(trainRows: Int = 500_000, validationRows: Int = 100_000, testRows: Int = 100_000,
                    seed: UInt64 = 2024, scale: Double = 1.0, clickRate: Double = 0.04,
                    purchaseRateGivenClick: Double = 0.08, clickSignal: Double = 1.0,
                    purchaseSignal: Double = 1.0, taskCorrelation: Double = 0.5,
                    zipfExponent: Double = 1.1, personalization: Double = 0.3, selectionBias: Double = 0) {
            self.trainRows = trainRows
            self.validationRows = validationRows
            self.testRows = testRows
            self.seed = seed
            self.scale = scale
            self.clickRate = clickRate
            self.purchaseRateGivenClick = purchaseRateGivenClick
            self.clickSignal = clickSignal
            self.purchaseSignal = purchaseSignal
            self.taskCorrelation = taskCorrelation
            self.zipfExponent = zipfExponent
            self.personalization = personalization
            self.selectionBias = selectionBias
        }

        /// Checks every value's range; the error names the offending key.
        /// - Throws: `DatasetError.invalidConfiguration` naming the first key out of range.
        public func validate() throws(DatasetError) {
            func bad(_ key: String, _ reason: String) -> DatasetError { .invalidConfiguration(key: key, reason: reason) }
            for (key, rows) in [("trainRows", trainRows), ("validationRows", validationRows), ("testRows", testRows)]
            where rows < 0 { throw bad(key, "must be non-negative, got \(rows)") }
            guard scale > 0 && scale <= 1 else { throw bad("scale", "must be in (0, 1], got \(scale)") }
            guard clickRate > 0 && clickRate < 1 else { throw bad("clickRate", "must be in (0, 1), got \(clickRate)") }
            guard purchaseRateGivenClick > 0 && purchaseRateGivenClick < 1 else {
                throw bad("purchaseRateGivenClick", "must be in (0, 1), got \(purchaseRateGivenClick)")
            }
            guard clickSignal >= 0 && clickSignal <= 10 else { throw bad("clickSignal", "must be in [0, 10], got \(clickSignal)") }
            guard purchaseSignal >= 0 && purchaseSignal <= 10 else {
                throw bad("purchaseSignal", "must be in [0, 10], got \(purchaseSignal)")
            }
            guard taskCorrelation >= -1 && taskCorrelation <= 1 else {
                throw bad("taskCorrelation", "must be in [-1, 1], got \(taskCorrelation)")
            }
            guard zipfExponent > 0 && zipfExponent <= 5 else { throw bad("zipfExponent", "must be in (0, 5], got \(zipfExponent)") }
            guard personalization >= 0 && personalization <= 1 else {
                throw bad("personalization", "must be in [0, 1], got \(personalization)")
            }
            guard selectionBias >= 0 && selectionBias < 1 else {
                throw bad("selectionBias", "must be in [0, 1), got \(selectionBias)")
            }
        }
    }

    /// The three splits; each has its own random stream, all from the same world.
    public enum Split: String, Sendable, CaseIterable, Codable {
        /// The training split, `train.csv`.
        case train
        /// The validation split, `val.csv`.
        case validation
        /// The test split, `test.csv`.
        case test

        /// The CSV file name (`train.csv`, `val.csv`, `test.csv`).
        public var fileName: String {
            switch self {
            case .train: return "train.csv"
            case .validation: return "val.csv"
            case .test: return "test.csv"
            }
        }

        /// The split's random stream id.
        var stream: UInt64 {
            switch self {
            case .train: return 1
            case .validation: return 2
            case .test: return 3
            }
        }
    }

    /// The planted truth of one split, row-aligned with its file.
    public struct GroundTruth: Sendable {
        /// True P(click), (N).
        public var pCTR: [Float]
        /// True P(click and purchase) = pCTR · pCVR, (N).
        public var pCTCVR: [Float]
        /// True P(purchase | click), (N): defined on every impression, observed only after a click.
        public var pCVR: [Float]
        /// Sampled click labels, 0 or 1, (N).
        public var clicks: [Float]
        /// Sampled purchase labels, 0 or 1 (1 only where click is 1), (N).
        public var purchases: [Float]

        /// Number of rows N.
        public var count: Int { pCTR.count }
        /// Share of rows with a click.
        public var clickRate: Double { Double(clicks.reduce(0, +)) / Double(max(count, 1)) }
        /// Share of rows with a purchase.
        public var purchaseRate: Double { Double(purchases.reduce(0, +)) / Double(max(count, 1)) }
        /// Share of clicked rows with a purchase.
        public var purchaseRateGivenClick: Double {
            Double(purchases.reduce(0, +)) / Double(max(clicks.reduce(0, +), 1))
        }
    }

    /// The truths of the three splits written by `writeCSVs`.
    public struct Output: Sendable {
        /// Truth of `train.csv`.
        public var train: GroundTruth
        /// Truth of `val.csv`.
        public var validation: GroundTruth
        /// Truth of `test.csv`.
        public var test: GroundTruth
    }

    /// Ali-CCP's header, in file order.
    public static let header: [String] = [
        "click", "purchase", "101", "121", "122", "124", "125", "126", "127", "128", "129", "205", "206", "207",
        "210", "216", "508", "509", "702", "853", "301", "109_14", "110_14", "127_14", "150_14", "D109_14",
        "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853",
    ]

    /// The schema of the generated files (labels `click`, `purchase`; Ali-CCP's `D` rule), without
    /// vocabulary sizes.
    public static var schema: DatasetSchema {
        DatasetSchema.aliCCPRule(header: header, labels: ["click", "purchase"])
    }

    /// The configuration this world was built from.
    public let configuration: Configuration
    /// The planted world, shared by all copies.
    let world: World

    /// The true vocabulary size of each sparse field (F = 23, header order).
    public var vocabularySizes: [Int] { world.population.vocabulary }

    /// Builds the world and calibrates it (deterministic in `configuration.seed`); throws
    /// `invalidConfiguration` naming the key of a value out of range.
    /// - Throws: `DatasetError.invalidConfiguration`, from `Configuration.validate()`.
    public init(_ configuration: Configuration = Configuration()) throws(DatasetError) {
        try configuration.validate()
        self.configuration = configuration
        self.world = World(configuration)
    }

    /// Writes `train.csv`, `val.csv` and `test.csv` into `directory` (created if needed) and
    /// returns each split's truth.
    /// - Throws: `DatasetError.cannotWrite` naming the folder or the file that cannot be
    ///   created or written.
    public func writeCSVs(to directory: URL) throws(DatasetError) -> Output {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotWrite(file: directory.path, reason: "\(error)")
        }
        let c = configuration
        return Output(
            train: try writeCSV(.train, rows: c.trainRows, to: directory.appendingPathComponent(Split.train.fileName)),
            validation: try writeCSV(.validation, rows: c.validationRows,
                                     to: directory.appendingPathComponent(Split.validation.fileName)),
            test: try writeCSV(.test, rows: c.testRows, to: directory.appendingPathComponent(Split.test.fileName)))
    }

    /// Writes `rows` rows of `split` as a CSV at `url` and returns their truth.
    /// - Throws: `DatasetError.cannotWrite` naming `url` when it cannot be created or written.
    public func writeCSV(_ split: Split, rows: Int, to url: URL) throws(DatasetError) -> GroundTruth {
        precondition(rows >= 0, "rows must be non-negative, got \(rows)")
        let writer = try CSVByteWriter(path: url.path)
        try writer.append(Self.header.joined(separator: ",") + "\n")
        var truth = GroundTruth(pCTR: [], pCTCVR: [], pCVR: [], clicks: [], purchases: [])
        truth.pCTR.reserveCapacity(rows); truth.pCTCVR.reserveCapacity(rows); truth.pCVR.reserveCapacity(rows)
        truth.clicks.reserveCapacity(rows); truth.purchases.reserveCapacity(rows)
        let ids = UnsafeMutablePointer<Int32>.allocate(capacity: Population.fieldCount)
        let dense = UnsafeMutablePointer<Int32>.allocate(capacity: Population.denseCount)
        defer { ids.deallocate(); dense.deallocate() }
        var rng = SeededRandom.derived(seed: configuration.seed, stream: split.stream)
        for _ in 0..<rows {
            let (pCTR, pCVR) = world.drawRow(&rng, ids: ids, dense: dense)
            let click = rng.nextDouble() < pCTR
            let purchase = click && rng.nextDouble() < pCVR
            try writer.reserveRow()
            writer.append(byte: click ? 0x31 : 0x30)
            writer.append(byte: 0x2C)
            writer.append(byte: purchase ? 0x31 : 0x30)
            for f in 0..<Population.fieldCount {
                writer.append(byte: 0x2C)
                writer.append(nonNegative: Int(ids[f]))
            }
            for d in 0..<Population.denseCount {
                writer.append(byte: 0x2C)
                writer.append(hundredThousandths: Int(dense[d]))
            }
            writer.append(byte: 0x0A)
            truth.pCTR.append(Float(pCTR))
            truth.pCTCVR.append(Float(pCTR * pCVR))
            truth.pCVR.append(Float(pCVR))
            truth.clicks.append(click ? 1 : 0)
            truth.purchases.append(purchase ? 1 : 0)
        }
        try writer.flush()
        return truth
    }

    /// Generates `rows` rows of `split` straight into memory: the same rows, bit for bit, that
    /// `writeCSV` writes and `CSVReader` reads back with `vocabularySizes`.
    public func generate(_ split: Split, rows: Int) -> (dataset: TabularDataset, truth: GroundTruth) {
        precondition(rows >= 0, "rows must be non-negative, got \(rows)")
        let (nF, nD) = (Population.fieldCount, Population.denseCount)
        let sparse = TabularDataset.allocateColumn(Int32.self, count: rows * nF)
        let dense = TabularDataset.allocateColumn(Float.self, count: rows * nD)
        let labels = TabularDataset.allocateColumn(Float.self, count: rows * 2)
        let units = UnsafeMutablePointer<Int32>.allocate(capacity: nD)
        defer { units.deallocate() }
        var truth = GroundTruth(pCTR: [Float](repeating: 0, count: rows), pCTCVR: [Float](repeating: 0, count: rows),
                                pCVR: [Float](repeating: 0, count: rows),
                                clicks: [Float](repeating: 0, count: rows), purchases: [Float](repeating: 0, count: rows))
        var rng = SeededRandom.derived(seed: configuration.seed, stream: split.stream)
        for r in 0..<rows {
            let (pCTR, pCVR) = world.drawRow(&rng, ids: sparse + r * nF, dense: units)
            let click = rng.nextDouble() < pCTR
            let purchase = click && rng.nextDouble() < pCVR
            for d in 0..<nD { dense[r * nD + d] = Float(units[d]) / 100_000 }
            labels[2 * r] = click ? 1 : 0
            labels[2 * r + 1] = purchase ? 1 : 0
            truth.pCTR[r] = Float(pCTR)
            truth.pCTCVR[r] = Float(pCTR * pCVR)
            truth.pCVR[r] = Float(pCVR)
            truth.clicks[r] = click ? 1 : 0
            truth.purchases[r] = purchase ? 1 : 0
        }
        let dataset = TabularDataset(schema: Self.schema, count: rows, vocabularySizes: world.population.vocabulary,
                                     oovCounts: Array(repeating: 0, count: nF), sparse: sparse, dense: dense,
                                     labels: labels, backing: .heap(sparse, dense, labels))
        return (dataset, truth)
    }
}

