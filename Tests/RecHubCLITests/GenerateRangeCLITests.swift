import Foundation
import Testing

/// `rechub generate` and a config's `data.generate` section hold their settings to the same
/// ranges (GenerateConfig's), and both name the setting and the range when one is outside.
struct GenerateRangeCLITests {
    let cli = RecHubCLITests()

    @Test(arguments: [
        ("--click-rate", "0.6", "click_rate", "0.0001...0.5"),
        ("--purchase-rate", "0.95", "purchase_rate", "0.0001...0.9"),
        ("--selection-bias", "0.995", "selection_bias", "0.0...0.99"),
        ("--scale", "0", "scale", "1e-06...1.0"),
        ("--rows", "0", "rows", "1...100000000"),
    ])
    func flagAndConfigKeyShareTheRange(flag: String, value: String, key: String, range: String) throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let flagRun = try cli.rechub(["generate", "--out", dir.path, flag, value])
        #expect(flagRun.status != 0)
        #expect(flagRun.stderr.contains("\(flag) ") && flagRun.stderr.contains("is outside \(range)"), "\(flagRun.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("train.csv").path))

        let configRun = try cli.rechub(["train", "--set", "data.generate.\(key)=\(value)",
                                        "--set", "output_dir=\(dir.path)/run"])
        #expect(configRun.status != 0)
        let text = configRun.stdout + configRun.stderr
        #expect(text.contains("data.generate.\(key)"), "\(text)")
        #expect(text.contains("is outside \(range)"), "\(text)")
    }
}
