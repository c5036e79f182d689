import Foundation
import Testing

/// Whether the MKL tests run: always under CI (`Launch/test.sh` installs MKL with
/// `Launch/setup_mkl.sh`, so a missing MKL fails them), else when MKL is where rechub looks.
let mklInstalled: Bool = {
    let env = ProcessInfo.processInfo.environment
    if env["CI"] == "true" { return true }
    let home = env["RECHUB_MKL_HOME"] ?? (env["HOME"] ?? "") + "/.local/share/rechub/mkl"
    let places = [env["RECHUB_MKL_LIBRARY"], home + "/lib"].compactMap { $0 }
    return places.contains { p in
        ["", "/libmkl_rt.so.3", "/libmkl_rt.so.2"].contains { FileManager.default.fileExists(atPath: p + $0) && !(p + $0).hasSuffix("/lib") }
    }
}()

/// Whether this CPU has AMX-BF16 or AVX512_BF16 (bf16 is refused elsewhere).
let cpuRunsBF16: Bool = {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    guard let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
    let set = Set(flags.split(separator: " ").map(String.init))
    return set.contains("amx_bf16") || set.contains("avx512_bf16")
}()

/// `gemm_backend: mkl` and `precision: bf16` from the command line: a bf16 run, its checkpoints
/// (fp32 masters, resumed bit for bit in bf16 and also in fp32), evaluate and predict in either
/// precision, the bench's fields, and the errors for a missing MKL or a refused setting.
@Suite(.serialized, .enabled(if: mklInstalled, "MKL not installed (bash Launch/setup_mkl.sh): MKL CLI tests skipped"))
struct PrecisionCLITests {
    /// A small MMoE run with batch norm of 20 steps, checkpoints at 10 and 20, on `backend`'s
    /// products in `precision`, as `--set` arguments.
    static func settings(_ dir: URL, out: String, precision: String, backend: String = "mkl") -> [String] {
        ["data.generate.rows=8000", "data.generate.val_rows=1000", "data.generate.test_rows=2000",
         "data.generate.scale=0.01", "data.generate.dir=\(dir.path)/data", "output_dir=\(dir.path)/\(out)",
         "expert_units=[64,32]", "num_experts=4", "tower_units=[16]", "batch_size=256", "threads=1", "max_steps=20",
         "checkpoint_every=10", "keep_last=10", "batch_norm=true", "gemm_backend=\(backend)", "precision=\(precision)"]
            .flatMap { ["--set", $0] }
    }

    @Test(.enabled(if: cpuRunsBF16, "no bf16 on this CPU"))
    func bf16RunsItsCheckpointsResumeInEitherPrecision() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = RecHubCLITests.binary.path
        let full = try MPITests.run(bin, ["train"] + Self.settings(dir, out: "bf16", precision: "bf16")
                                    + ["--save-parameters", "\(dir.path)/full.bin"])
        #expect(full.status == 0, "\(full.output)")
        #expect(full.output.contains("products: mkl bf16"), "\(full.output)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("bf16/metrics.json"))) as? [String: Any]
        #expect(metrics?["gemm_backend"] as? String == "mkl" && metrics?["precision"] as? String == "bf16")
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("bf16/run.json"))) as? [String: Any]
        #expect(run?["precision"] as? String == "bf16")
        // The same steps in fp32 give other parameters: the precision took effect.
        let fp32 = try MPITests.run(bin, ["train"] + Self.settings(dir, out: "fp32", precision: "fp32")
                                    + ["--save-parameters", "\(dir.path)/fp32.bin"])
        #expect(fp32.status == 0, "\(fp32.output)")
        let a = try MPITests.load("\(dir.path)/full.bin"), b = try MPITests.load("\(dir.path)/fp32.bin")
        #expect(a.count == b.count && zip(a, b).contains { $0 != $1 }, "bf16 and fp32 runs ended on identical parameters")
        // The step-10 checkpoint holds fp32 masters: resumed in bf16 it ends bit for bit where the
        // uninterrupted bf16 run ended; resumed in fp32 (on OpenBLAS) it runs too.
        let step10 = "\(dir.path)/bf16/checkpoints/step-00000010.rhck"
        let again = try MPITests.run(bin, ["train", "--resume", step10, "--set", "output_dir=\(dir.path)/again",
                                           "--set", "checkpoint_dir=\(dir.path)/again/checkpoints",
                                           "--save-parameters", "\(dir.path)/again.bin"])
        #expect(again.status == 0 && again.output.contains("resumed from"), "\(again.output)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("full.bin")) == Data(contentsOf: dir.appendingPathComponent("again.bin")),
                "a bf16 run resumed in bf16 differs from the uninterrupted one")
        let inFP32 = try MPITests.run(bin, ["train", "--resume", step10, "--set", "output_dir=\(dir.path)/in32",
                                           "--set", "checkpoint_dir=\(dir.path)/in32/checkpoints", "--set", "precision=fp32",
                                           "--set", "gemm_backend=openblas", "--save-parameters", "\(dir.path)/in32.bin"])
        #expect(inFP32.status == 0 && inFP32.output.contains("resumed from"), "\(inFP32.output)")
        #expect(!inFP32.output.contains("products: mkl"), "\(inFP32.output)")
        // evaluate in the run's precision (bf16) and, overridden, in fp32 on OpenBLAS: close, not equal.
        let last = "\(dir.path)/bf16/checkpoints/step-00000020.rhck"
        let e16 = try MPITests.run(bin, ["evaluate", "--checkpoint", last])
        let e32 = try MPITests.run(bin, ["evaluate", "--checkpoint", last, "--gemm-backend", "openblas"])
        #expect(e16.status == 0 && e32.status == 0, "\(e16.output)\n\(e32.output)")
        func auc(_ s: String) -> Double? {  // "click  auc 0.6123 logloss 0.41234  (2000 rows, …)"
            guard let line = s.split(separator: "\n").first(where: { $0.hasPrefix("click") }) else { return nil }
            let words = line.split(separator: " ")
            return words.firstIndex(of: "auc").flatMap { $0 + 1 < words.count ? Double(words[$0 + 1]) : nil }
        }
        let (x, y) = (auc(e16.output), auc(e32.output))
        #expect(x != nil && y != nil && abs(x! - y!) < 0.01, "\(e16.output)\n\(e32.output)")
        #expect(e16.output.contains("products: mkl bf16") && e32.output.contains("products: openblas fp32 (the run used mkl bf16)"),
                "\(e16.output)\n\(e32.output)")
        // The ONNX graph computes in fp32, and says so for a bf16 run.
        let onnx = try MPITests.run(bin, ["export", "--checkpoint", last, "--out", "\(dir.path)/m.onnx"])
        #expect(onnx.status == 0 && onnx.output.contains("the graph computes in fp32"), "\(onnx.output)")
        // A resume in the run's own folder with other products records both in run.json.
        let switched = try MPITests.run(bin, ["train", "--resume", step10, "--set", "precision=fp32",
                                              "--set", "max_steps=12"])
        #expect(switched.status == 0 && switched.output.contains("used mkl bf16 products until step 10"), "\(switched.output)")
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("bf16/run.json"))) as? [String: Any]
        let history = (info?["products_history"] as? [[String: Any]])?.map { "\($0["from_step"] ?? "?") \($0["products"] ?? "?")" }
        #expect(history == ["0 mkl bf16", "10 mkl fp32"], "\(String(describing: info))")
        // The history is the checkpoint's lineage, kept in the checkpoints: resumed again from
        // step 10 unchanged (bf16) it is the bf16 run's alone, with no note; the step-12
        // checkpoint, moved to another folder on OpenBLAS, carries all three segments there.
        let again2 = try MPITests.run(bin, ["train", "--resume", step10, "--set", "max_steps=11"])
        #expect(again2.status == 0 && !again2.output.contains("products until"), "\(again2.output)")
        // That resume set the later step-12 checkpoint aside (it would have been written over,
        // and a later --resume of the folder would have taken it for this run's newest).
        #expect(again2.output.contains("checkpoints after step 10 (step-00000012.rhck) moved to"), "\(again2.output)")
        let checkpoints = dir.appendingPathComponent("bf16/checkpoints")
        // (The fp32 resume before it set the bf16 run's own later ones aside too: the newest folder.)
        let aside = try #require(try FileManager.default.contentsOfDirectory(atPath: checkpoints.path)
            .filter { $0.hasPrefix("earlier-") }.sorted().last)
        let step12 = checkpoints.appendingPathComponent(aside).appendingPathComponent("step-00000012.rhck").path
        func productsHistory(_ run: String) throws -> [String]? {
            let o = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("\(run)/run.json"))) as? [String: Any]
            return (o?["products_history"] as? [[String: Any]])?.map { "\($0["from_step"] ?? "?") \($0["products"] ?? "?")" }
        }
        #expect(try productsHistory("bf16") == ["0 mkl bf16"])
        let moved = try MPITests.run(bin, ["train", "--resume", step12,
                                           "--set", "output_dir=\(dir.path)/moved", "--set", "max_steps=14",
                                           "--set", "gemm_backend=openblas"])
        #expect(moved.status == 0 && moved.output.contains("used mkl fp32 products until step 12"), "\(moved.output)")
        #expect(try productsHistory("moved") == ["0 mkl bf16", "10 mkl fp32", "12 openblas fp32"])
        let metrics2 = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("moved/metrics.json"))) as? [String: Any]
        #expect((metrics2?["products_history"] as? [Any])?.count == 3)
    }

    /// mkl_library through a symbolic link to the library file (MKL finds its other libraries
    /// beside the real file), and a checkpoint whose mkl_library is gone: scoring says so and
    /// uses the default places, or `--mkl-library`.
    @Test func aLinkedMKLLibraryAndOneThatIsGoneLater() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ProcessInfo.processInfo.environment
        let folder = env["RECHUB_MKL_LIBRARY"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (env["RECHUB_MKL_HOME"] ?? (env["HOME"] ?? "") + "/.local/share/rechub/mkl") + "/lib"
        guard let real = ["libmkl_rt.so.3", "libmkl_rt.so.2"].map({ "\(folder)/\($0)" }).first(where: {
            FileManager.default.fileExists(atPath: $0)
        }) else {
            Issue.record("no libmkl_rt in \(folder)")
            return
        }
        let link = "\(dir.path)/link/libmkl_rt.so.3"
        try FileManager.default.createDirectory(atPath: "\(dir.path)/link", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        let bin = RecHubCLITests.binary.path
        let run = try MPITests.run(bin, ["train"] + Self.settings(dir, out: "out", precision: "fp32")
                                   + ["--set", "mkl_library=\(link)", "--set", "max_steps=4"])
        #expect(run.status == 0 && run.output.contains("products: mkl fp32"), "\(run.output)")
        try FileManager.default.removeItem(atPath: "\(dir.path)/link")
        let checkpoint = "\(dir.path)/out/checkpoints/step-00000004.rhck"
        let e = try MPITests.run(bin, ["evaluate", "--checkpoint", checkpoint])
        #expect(e.status == 0 && e.output.contains("mkl_library \(link) is not on this machine"), "\(e.output)")
        let named = try MPITests.run(bin, ["evaluate", "--checkpoint", checkpoint, "--mkl-library", "/nonexistent"])
        #expect(named.status == 1 && named.output.contains("--mkl-library (/nonexistent) does not load MKL"), "\(named.output)")
    }

    @Test func aMissingMKLIsNamedWithEveryPlaceTried() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["RECHUB_MKL_LIBRARY": "", "RECHUB_MKL_HOME": "\(dir.path)/empty", "VIRTUAL_ENV": "", "CONDA_PREFIX": ""]
        // A system-wide MKL (found by the plain names) would load: then there is nothing to name.
        let systemMKL = ["/usr/lib/x86_64-linux-gnu/libmkl_rt.so", "/usr/lib/x86_64-linux-gnu/libmkl_rt.so.2",
                         "/usr/lib/x86_64-linux-gnu/libmkl_rt.so.3", "/opt/intel/oneapi/mkl/latest/lib/libmkl_rt.so.2"]
            .contains { FileManager.default.fileExists(atPath: $0) }
        let r = try RecHubCLITests().rechub(["train"] + Self.settings(dir, out: "out", precision: "fp32"), environment: env)
        if systemMKL { return }
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("no MKL library loads"), "\(r.stderr)")
        #expect(r.stderr.contains("libmkl_rt.so.3 (libmkl_rt.so.3: cannot open shared object file"), "\(r.stderr)")
        #expect(r.stderr.contains("\(dir.path)/empty/lib/libmkl_rt.so.3 (no such file)"), "\(r.stderr)")
        #expect(r.stderr.contains("bash Launch/setup_mkl.sh"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/data/train.csv"), "no data before the library loads")
    }

    @Test func benchReportsItsProductsAndRefusesBF16OnOpenBLAS() throws {
        let cli = RecHubCLITests()
        let precision = cpuRunsBF16 ? "bf16" : "fp32"
        let r = try cli.rechub(["bench", "--gemm-backend", "mkl", "--precision", precision, "--steps", "2", "--warmup", "1",
                                "--rows", "2048", "--scale", "0.01", "--expert-units", "32", "--num-experts", "2",
                                "--batch-size", "512", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(o?["gemm_backend"] as? String == "mkl" && o?["precision"] as? String == precision, "\(r.stdout)")
        let refused = try cli.rechub(["bench", "--precision", "bf16", "--steps", "1"])
        #expect(refused.status != 0 && refused.stderr.contains("--precision bf16 needs --gemm-backend onednn or mkl"), "\(refused.stderr)")
    }
}
