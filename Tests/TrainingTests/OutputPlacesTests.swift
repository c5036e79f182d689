import Foundation
import RecHub
import Testing

/// Every place a run writes to is checked before any data is generated or loaded, and a place
/// that cannot be written names its setting and path (never a raw Foundation error).
struct OutputPlacesTests {
    func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-out-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }

    /// A regular file standing where a folder of the path must be (root ignores permission
    /// bits, so a file in the way is the read-only case that holds for every user).
    func blocker(_ dir: String) -> String {
        let f = "\(dir)/a-file"
        FileManager.default.createFile(atPath: f, contents: Data("x".utf8))
        return f
    }

    @Test func foldersAreCreatedAndProbed() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try OutputPlaces.check([.init(key: "output_dir", path: "\(dir)/x/y/z", isFolder: true),
                                .init(key: "--out", path: "\(dir)/p/q.csv", isFolder: false)])
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: "\(dir)/x/y/z", isDirectory: &isDir) && isDir.boolValue)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/x/y/z").isEmpty, "the probe file is removed")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/p/q.csv"), "a file place is not created")
    }

    @Test(arguments: [("output_dir", true), ("checkpoint_dir", true), ("--save-parameters", false), ("--out", false)])
    func aFileInTheWayNamesTheKeyAndPath(key: String, isFolder: Bool) throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = blocker(dir) + "/sub/place"
        do {
            try OutputPlaces.check([.init(key: key, path: path, isFolder: isFolder)])
            Issue.record("accepted \(path)")
        } catch let e as ConfigError {
            #expect(e.key == key && e.message.contains(path) && e.message.contains("is a file, not a folder"), "\(e)")
        }
    }

    @Test func aFolderWhereAFileGoesIsRefused() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: ConfigError.self) { try OutputPlaces.check([.init(key: "--out", path: dir, isFolder: false)]) }
    }

    func config(_ dir: String, _ sets: [String]) throws -> TrainConfig {
        var node = try ConfigNode.parse(yaml: defaultConfigYAML, file: "default")
        for s in ["data.generate.rows=2000", "data.generate.val_rows=500", "data.generate.test_rows=500",
                  "data.generate.scale=0.01", "data.generate.dir=\(dir)/data", "output_dir=\(dir)/out",
                  "expert_units=[8]", "num_experts=2", "tower_units=[4]", "batch_size=256", "threads=1"] + sets {
            node = try node.setting(s)
        }
        return try TrainConfig.parse(node)
    }

    /// The job stops before generating or loading any data (the data folder is never made),
    /// with checkpoints on or off, for each place.
    @Test(arguments: ["output_dir", "checkpoint_dir", "data.generate.dir", "--save-parameters"], [true, false])
    func theJobStopsBeforeLoadingData(key: String, checkpoints: Bool) throws {
        if key == "checkpoint_dir" && !checkpoints { return }  // no checkpoint folder is written then
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bad = blocker(dir) + "/sub"
        var sets = ["checkpoints=\(checkpoints)"]
        switch key {
        case "output_dir": sets.append("output_dir=\(bad)")
        case "checkpoint_dir": sets.append("checkpoint_dir=\(bad)")
        case "data.generate.dir": sets.append("data.generate.dir=\(bad)")
        default: break
        }
        var job = TrainingJob(config: try config(dir, sets))
        job.log = { _ in }
        if key == "--save-parameters" { job.saveParametersPath = bad + "/final.bin" }
        do {
            _ = try job.run()
            Issue.record("the run went ahead")
        } catch let e as ConfigError {
            #expect(e.key == key && e.message.contains(bad), "\(e)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/data/train.csv"), "no data was generated first")
    }
}
