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

    /// An output that is one of the command's inputs (by its path, through a link, or inside the
    /// run folder given) is refused, and the input is left byte for byte: predict over its
    /// data, predict and export over the checkpoint, report over run.json; generate into a file
    /// names its --out flag.
    @Test func anOutputThatIsAnInputIsRefused() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (run, newest) = try cli.trainTinyRun(in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let checkpoint = try #require(newest), runDir = dir.appendingPathComponent("out").path
        let data = dir.appendingPathComponent("data/test.csv").path, link = dir.appendingPathComponent("link.csv").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: data)
        let before = try [data, checkpoint, runDir + "/run.json"].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let cases: [([String], String)] = [
            (["predict", "--checkpoint", checkpoint, "--data", data, "--out", data], "is the --data file \(data)"),
            (["predict", "--checkpoint", checkpoint, "--data", data, "--out", link], "is the --data file \(data)"),
            (["export", "--checkpoint", checkpoint, "--out", checkpoint], "is the --checkpoint file \(checkpoint)"),
            (["predict", "--checkpoint", runDir, "--data", data, "--out", checkpoint], ", in --checkpoint \(runDir)"),
            (["report", runDir, "--out", runDir + "/run.json"], ", in run folder \(runDir)"),
            (["report", runDir, "--out", checkpoint], ", in run folder \(runDir)"),
        ]
        for (args, says) in cases {
            let r = try cli.rechub(args)
            #expect(r.status == 1 && r.stderr.contains("key '--out'") && r.stderr.contains(says)
                    && r.stderr.contains("writing it would replace that input"), "\(args): \(r.stderr)")
        }
        let after = try [data, checkpoint, runDir + "/run.json"].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(after == before, "an input was changed")
        let generate = try cli.rechub(["generate", "--out", data, "--rows", "100"])
        #expect(generate.status == 1 && generate.stderr.contains("key '--out': cannot write to \(data)"), "\(generate.stderr)")
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
