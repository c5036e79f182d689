import ArgumentParser
import Foundation
import RecHub

/// `rechub generate`: write Ali-CCP-shaped train/val/test CSVs from a planted ground truth.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate Ali-CCP-shaped CSVs with a planted ground truth and its oracle AUCs.",
        discussion: "Writes train.csv, val.csv, test.csv and truth.json (oracle AUC per split and task) into --out.")

    @Option(help: "Training rows.") var rows: Int = 1_000_000
    @Option(name: .customLong("val-rows"), help: "Validation rows (default: rows / 10).") var valRows: Int?
    @Option(name: .customLong("test-rows"), help: "Test rows (default: rows / 10).") var testRows: Int?
    @Option(help: "Generator seed.") var seed: UInt64 = 7
    @Option(help: "Vocabulary scale in [1e-6, 1]; 1 is about 100k users and 500k items.") var scale: Double = 1.0
    @Option(help: "Output folder.") var out: String
    @Option(name: .customLong("click-rate"), help: "Mean planted click-through rate.") var clickRate: Double = 0.04
    @Option(name: .customLong("purchase-rate"), help: "Mean planted P(purchase | click).") var purchaseRate: Double = 0.08
    @Option(name: .customLong("selection-bias"),
            help: "Weight in [0, 0.99] of an appeal shared by click and purchase on user and item ids: clicks then select impressions whose CVR differs from the rest (0: none).")
    var selectionBias: Double = 0

    func validate() throws {
        // The ranges a config's data.generate section is held to (GenerateConfig).
        func check<T: Comparable>(_ flag: String, _ value: T?, _ range: ClosedRange<T>) throws {
            guard let value, !range.contains(value) else { return }
            throw ValidationError("--\(flag) \(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        try check("rows", rows, GenerateConfig.rowsRange)
        try check("val-rows", valRows, GenerateConfig.rowsRange)
        try check("test-rows", testRows, GenerateConfig.rowsRange)
        try check("scale", scale, GenerateConfig.scaleRange)
        try check("click-rate", clickRate, GenerateConfig.clickRateRange)
        try check("purchase-rate", purchaseRate, GenerateConfig.purchaseRateRange)
        try check("selection-bias", selectionBias, GenerateConfig.selectionBiasRange)
    }

    func run() throws {
        Runtime.runAlone("generate") {
            try OutputPlaces.check([.init(key: "--out", path: out, isFolder: true)])
            // Held as a training run holds its generated data: neither rewrites the other's files.
            let lock = try FolderLock.acquireWaiting(out, key: "--out") {
                print("note: waiting for another rechub run using \(out)")
            }
            defer { lock?.release() }
            var g = GenerateConfig()
            g.trainRows = rows
            g.validationRows = valRows ?? max(1, rows / 10)
            g.testRows = testRows ?? max(1, rows / 10)
            g.seed = seed
            g.scale = scale
            g.directory = out
            g.clickRate = clickRate
            g.purchaseRateGivenClick = purchaseRate
            g.selectionBias = selectionBias
            let t0 = monotonicSeconds()
            let r = try generateAliCCP(g)
            let seconds = monotonicSeconds() - t0
            print("\(r.reused ? "kept" : "wrote") \(out)/{train,val,test}.csv and truth.json in \(String(format: "%.1f", seconds)) s")
            for split in ["train", "val", "test"] {
                let o = r.oracleAUC[split] ?? [:], q = r.rates[split] ?? [:]
                func auc(_ task: String) -> String { o[task].map { String(format: "%.4f", $0) } ?? "undefined (one class)" }
                print(String(format: "%-5@ rows %8d  click rate %.4f  purchase|click %.4f", split as NSString,
                             r.rows[split] ?? 0, q["click"] ?? .nan, q["purchase_given_click"] ?? .nan)
                      + "  oracle AUC click \(auc("click")) purchase \(auc("purchase"))"
                      // Reports written before these entries existed (kept data) lack them.
                      + (q["pcvr_clicked"] == nil ? "" : " purchase|click \(auc("purchase_given_click"))"
                         + String(format: "  mean pCVR clicked %.4f not clicked %.4f", q["pcvr_clicked"] ?? .nan,
                                  q["pcvr_not_clicked"] ?? .nan)))
            }
        }
    }
}
