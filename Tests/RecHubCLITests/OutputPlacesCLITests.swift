import Foundation
import Testing

/// Places the commands write to are checked first, named by flag or key, with no raw
/// Foundation error.
struct OutputPlacesCLITests {
    let cli = RecHubCLITests()

    @Test func predictChecksItsOutputBeforeReadingAnything() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file").path
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let r = try cli.rechub(["predict", "--checkpoint", "/nonexistent.rhck", "--data", "/nonexistent.csv",
                                "--out", file + "/out.csv"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--out") && r.stderr.contains(file + "/out.csv") && !r.stderr.contains("NSCocoaErrorDomain"),
                "\(r.stderr)")
    }

    @Test func trainNamesAnUnwritableOutputDirBeforeTraining() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file").path
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let r = try cli.rechub(["train", "--set", "output_dir=\(file)/run", "--set", "checkpoints=false",
                                "--set", "data.generate.dir=\(dir.path)/data"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("output_dir") && r.stderr.contains("\(file)/run") && !r.stderr.contains("NSCocoaErrorDomain"),
                "\(r.stderr)")
        #expect(!r.stdout.contains("epoch"), "no training happened")
    }
}
