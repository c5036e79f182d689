import Foundation
import Testing

/// Every file the commands write to a path the user names (`export --out`, `predict --out`,
/// `report --out`, `train --save-parameters`) is written through a symbolic link, keeping the
/// link, and a path that is not a regular file is refused before any work, naming the flag and
/// the path, instead of being replaced by a regular file. (A FIFO stands for devices, sockets
/// and the like: a test run as root must not touch real device nodes.)
struct OutputLinksCLITests {
    let cli = RecHubCLITests()

    func isFIFO(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO
    }

    /// Each command pointed at a FIFO (directly or through a link) with inputs that do not
    /// exist: the refusal comes first, names the flag, the path and the FIFO, and leaves it be.
    /// (`predict` streams its CSV into a FIFO or terminal instead: `RecHubCLITests`.)
    @Test(arguments: ["export", "report", "train"], [false, true])
    func aFIFOIsRefusedBeforeAnyWork(command: String, throughLink: Bool) throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let link = dir.appendingPathComponent("link").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: fifo)
        let out = throughLink ? link : fifo
        let missing = dir.appendingPathComponent("missing").path
        let args: [String]
        switch command {
        case "export": args = ["export", "--checkpoint", missing + ".rhck", "--out", out]
        case "report": args = ["report", missing, "--out", out]
        default: // tiny, so that a regression fails in seconds rather than training the default job
            args = ["train", "--set", "data.generate.dir=\(dir.path)/data", "--set", "output_dir=\(dir.path)/out",
                    "--set", "data.generate.rows=2000", "--set", "data.generate.val_rows=300",
                    "--set", "data.generate.test_rows=300", "--set", "data.generate.scale=0.01", "--set", "epochs=1",
                    "--save-parameters", out]
        }
        let flag = command == "train" ? "--save-parameters" : "--out"
        let r = try cli.rechub(args)
        #expect(r.status == 1)
        #expect(r.stderr.contains(flag) && r.stderr.contains("cannot write to \(out)")
                && r.stderr.contains("a FIFO (named pipe), not a regular file") && !r.stderr.contains("missing"), "\(r.stderr)")
        #expect(isFIFO(fifo), "the FIFO is left alone")
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/data/train.csv"), "no data generated")
    }

    /// One tiny run, then every writer aimed at a link: to an existing file (export, predict,
    /// report) or to a file in a folder that does not exist yet (--save-parameters), which is
    /// created as if the target had been named.
    @Test func linksAreWrittenThroughAndKept() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        try fm.createDirectory(atPath: path("real"), withIntermediateDirectories: false)
        for name in ["model.onnx", "predictions.csv", "report.html"] {
            _ = fm.createFile(atPath: path("real/\(name)"), contents: Data("old".utf8))
            try fm.createSymbolicLink(atPath: path(name), withDestinationPath: "real/\(name)")
        }
        try fm.createSymbolicLink(atPath: path("params.bin"), withDestinationPath: path("new/folder/params.bin"))

        let (train, newest) = try cli.trainTinyRun(in: dir, batchSize: 250, extra: ["--save-parameters", path("params.bin")])
        #expect(train.status == 0, "\(train.stderr)")
        let ckpt = try #require(newest)
        let export = try cli.rechub(["export", "--checkpoint", ckpt, "--out", path("model.onnx")])
        #expect(export.status == 0, "\(export.stderr)")
        let predict = try cli.rechub(["predict", "--checkpoint", ckpt, "--data", path("data/test.csv"),
                                      "--out", path("predictions.csv")])
        #expect(predict.status == 0, "\(predict.stderr)")
        let report = try cli.rechub(["report", path("out"), "--out", path("report.html")])
        #expect(report.status == 0, "\(report.stderr)")

        for (link, target) in [("model.onnx", "real/model.onnx"), ("predictions.csv", "real/predictions.csv"),
                               ("report.html", "real/report.html"), ("params.bin", path("new/folder/params.bin"))] {
            #expect((try? fm.destinationOfSymbolicLink(atPath: path(link))) == target, "\(link) is still a link")
            let size = (try? fm.attributesOfItem(atPath: target.hasPrefix("/") ? target : path(target))[.size] as? Int) ?? 0
            #expect(size > 100, "\(target) holds the new file (\(size) bytes)")
        }
        #expect(try String(contentsOfFile: path("real/predictions.csv"), encoding: .utf8).hasPrefix("click,purchase\n"))
        #expect(try String(contentsOfFile: path("real/report.html"), encoding: .utf8).contains("<html"))
    }
}
