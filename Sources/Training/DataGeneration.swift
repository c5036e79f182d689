import Datasets
import Evaluation
import Foundation

/// What generating a data set produced: where it is and how good a perfect model could be.
public struct GenerationReport: Sendable, Codable, Equatable {
    /// The folder holding `train.csv`, `val.csv`, `test.csv` and `truth.json`.
    public var directory: String
    /// Generator settings.
    public var rows: [String: Int]
    /// Seed and vocabulary scale.
    public var seed: UInt64
    /// Vocabulary scale.
    public var scale: Double
    /// Planted click rate and P(purchase | click) (absent in reports from before these were settable).
    public var clickRate: Double?
    /// Planted P(purchase | click).
    public var purchaseRateGivenClick: Double?
    /// Planted selection bias (absent in reports from before it was settable, meaning 0).
    public var selectionBias: Double?
    /// Oracle AUC (the AUC of the true probabilities) per split and task:
    /// `oracleAUC["test"]["click"]`; purchase is scored as pCTCVR over all impressions, and
    /// `purchase_given_click` as the true pCVR over clicked impressions only.
    /// A task whose split holds one class only has no entry (AUC undefined).
    public var oracleAUC: [String: [String: Double]]
    /// Observed click rate, purchase rate and P(purchase | click) per split, and the mean true
    /// pCVR over clicked and over non-clicked impressions (`pcvr_clicked`, `pcvr_not_clicked`).
    public var rates: [String: [String: Double]]
    /// Whether existing files were reused.
    public var reused: Bool
    /// The generator's version: data from another version is generated anew.
    public var generatorVersion: Int?

    /// Bumped whenever the generator's planted truth changes.
    public static let currentGeneratorVersion = 2

    /// The test split's oracle AUC of `task`, if known.
    public func oracle(_ task: String, split: String = "test") -> Double? { oracleAUC[split]?[task] }
}

/// Writes an Ali-CCP-shaped data set with a planted ground truth into `config.directory`,
/// or reuses the one already there when its `truth.json` records the same settings.
/// - Throws: `ConfigError` (key `dir`) when the folder cannot be created; `DatasetError`
///   (`.invalidConfiguration`, `.cannotWrite`) from the generator; Foundation's error when
///   `truth.json` cannot be written.
public func generateAliCCP(_ config: GenerateConfig) throws -> GenerationReport {
    let dir = URL(fileURLWithPath: config.directory)
    let truthURL = dir.appendingPathComponent("truth.json")
    let rows = ["train": config.trainRows, "val": config.validationRows, "test": config.testRows]
    if let data = try? Data(contentsOf: truthURL),
       var old = try? JSONDecoder().decode(GenerationReport.self, from: data),
       old.rows == rows, old.seed == config.seed, old.scale == config.scale,
       old.generatorVersion == GenerationReport.currentGeneratorVersion,
       (old.clickRate ?? 0.04) == config.clickRate, (old.purchaseRateGivenClick ?? 0.08) == config.purchaseRateGivenClick,
       (old.selectionBias ?? 0) == config.selectionBias,
       ["train.csv", "val.csv", "test.csv"].allSatisfy({
           FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path)
       }) {
        old.reused = true
        old.directory = config.directory
        return old
    }
    do {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    } catch {
        throw ConfigError(file: "data.generate", key: "dir", message: "cannot create \(config.directory): \(error.localizedDescription)")
    }
    let generator = try SyntheticAliCCP(.init(trainRows: config.trainRows, validationRows: config.validationRows,
                                              testRows: config.testRows, seed: config.seed, scale: config.scale,
                                              clickRate: config.clickRate,
                                              purchaseRateGivenClick: config.purchaseRateGivenClick,
                                              selectionBias: config.selectionBias))
    let output = try generator.writeCSVs(to: dir)
    var oracle: [String: [String: Double]] = [:]
    var rates: [String: [String: Double]] = [:]
    for (name, truth) in [("train", output.train), ("val", output.validation), ("test", output.test)] {
        var o: [String: Double] = [:]
        o["click"] = rocAUC(scores: truth.pCTR, labels: truth.clicks)
        o["purchase"] = rocAUC(scores: truth.pCTCVR, labels: truth.purchases)
        var clicked: (scores: [Float], labels: [Float]) = ([], [])
        var pcvr = (clicked: 0.0, notClicked: 0.0)
        for i in 0..<truth.count {
            if truth.clicks[i] == 1 {
                clicked.scores.append(truth.pCVR[i])
                clicked.labels.append(truth.purchases[i])
                pcvr.clicked += Double(truth.pCVR[i])
            } else {
                pcvr.notClicked += Double(truth.pCVR[i])
            }
        }
        o["purchase_given_click"] = rocAUC(scores: clicked.scores, labels: clicked.labels)
        oracle[name] = o
        let nClicked = Double(clicked.scores.count), nOther = Double(truth.count - clicked.scores.count)
        rates[name] = ["click": truth.clickRate, "purchase": truth.purchaseRate,
                       "purchase_given_click": truth.purchaseRateGivenClick,
                       "pcvr_clicked": pcvr.clicked / max(nClicked, 1), "pcvr_not_clicked": pcvr.notClicked / max(nOther, 1)]
    }
    let report = GenerationReport(directory: config.directory, rows: rows, seed: config.seed, scale: config.scale,
                                  clickRate: config.clickRate, purchaseRateGivenClick: config.purchaseRateGivenClick,
                                  selectionBias: config.selectionBias,
                                  oracleAUC: oracle, rates: rates, reused: false,
                                  generatorVersion: GenerationReport.currentGeneratorVersion)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(report).write(to: truthURL, options: .atomic)
    return report
}
