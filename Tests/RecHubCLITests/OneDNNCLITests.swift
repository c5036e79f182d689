import Foundation
import Testing

/// Whether the oneDNN tests run: always under CI (`Launch/test.sh` installs oneDNN with
/// `Launch/setup_onednn.sh`, so a missing oneDNN fails them), else when oneDNN is where rechub looks.
let oneDNNInstalled: Bool = {
    let env = ProcessInfo.processInfo.environment
    if env["CI"] == "true" { return true }
    let home = env["RECHUB_ONEDNN_HOME"] ?? (env["HOME"] ?? "") + "/.local/share/rechub/onednn"
    let places = [env["RECHUB_ONEDNN_LIBRARY"], home + "/lib/libdnnl.so.3"].compactMap { $0 }
    return places.contains { FileManager.default.fileExists(atPath: $0) }
}()

/// `gemm_backend: onednn` from the command line: a run in its products, resumed bit for bit,
/// scored in them; the run files and the bench name oneDNN and its instruction set; a missing
/// or wrong oneDNN is named.
@Suite(.serialized, .enabled(if: oneDNNInstalled, "oneDNN not installed (bash Launch/setup_onednn.sh): oneDNN CLI tests skipped"))
struct OneDNNCLITests {
    static func settings(_ dir: URL, out: String, precision: String) -> [String] {
        PrecisionCLITests.settings(dir, out: out, precision: precision, backend: "onednn")
    }

    /// In bf16 where the CPU runs it, else fp32: the header, metrics.json and run.json name the
    /// products and oneDNN; the step-10 checkpoint resumed ends bit for bit where the
    /// uninterrupted run ended; evaluate scores in the run's products.
    @Test func aRunResumesBitForBitAndScoresInItsProducts() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = RecHubCLITests.binary.path
        let precision = cpuRunsBF16 ? "bf16" : "fp32"
        let full = try MPITests.run(bin, ["train"] + Self.settings(dir, out: "run", precision: precision)
                                    + ["--save-parameters", "\(dir.path)/full.bin"])
        #expect(full.status == 0, "\(full.output)")
        #expect(full.output.contains("products: onednn \(precision) (oneDNN 3."), "\(full.output)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("run/metrics.json"))) as? [String: Any]
        #expect(metrics?["gemm_backend"] as? String == "onednn" && metrics?["precision"] as? String == precision)
        #expect((metrics?["onednn_library"] as? String)?.contains("libdnnl") == true, "\(String(describing: metrics))")
        #expect((metrics?["onednn_version"] as? String)?.hasPrefix("oneDNN 3.") == true, "\(String(describing: metrics))")
        #expect(metrics?["mkl_library"] == nil)
        let step10 = "\(dir.path)/run/checkpoints/step-00000010.rhck"
        let again = try MPITests.run(bin, ["train", "--resume", step10, "--set", "output_dir=\(dir.path)/again",
                                           "--save-parameters", "\(dir.path)/again.bin"])
        #expect(again.status == 0 && again.output.contains("resumed from"), "\(again.output)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("full.bin")) == Data(contentsOf: dir.appendingPathComponent("again.bin")),
                "a oneDNN run resumed differs from the uninterrupted one")
        let last = "\(dir.path)/run/checkpoints/step-00000020.rhck"
        let e = try MPITests.run(bin, ["evaluate", "--checkpoint", last])
        #expect(e.status == 0 && e.output.contains("products: onednn \(precision)") && e.output.contains("libdnnl.so"), "\(e.output)")
        // The same steps on OpenBLAS in fp32 end elsewhere in bf16 (the precision took effect)
        // and within training noise of the oneDNN fp32 run otherwise.
        let openblas = try MPITests.run(bin, ["train"] + Self.settings(dir, out: "openblas", precision: "fp32")
                                        + ["--set", "gemm_backend=openblas", "--save-parameters", "\(dir.path)/openblas.bin"])
        #expect(openblas.status == 0, "\(openblas.output)")
        let a = try MPITests.load("\(dir.path)/full.bin"), b = try MPITests.load("\(dir.path)/openblas.bin")
        #expect(a.count == b.count)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        if precision == "bf16" { #expect(worst > 0, "bf16 on oneDNN ended on OpenBLAS fp32's parameters") }
        else { #expect(worst < 1e-3, "oneDNN fp32 against OpenBLAS fp32 after 20 steps: \(worst)") }
    }

    /// A missing oneDNN: every place tried is named, with the setup script; the library key
    /// is refused with another backend.
    @Test func aMissingOneDNNIsNamedWithEveryPlaceTried() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = RecHubCLITests()
        let missing = try cli.rechub(["train"] + Self.settings(dir, out: "out", precision: "fp32"),
                                     environment: ["RECHUB_ONEDNN_LIBRARY": "", "RECHUB_ONEDNN_HOME": "\(dir.path)/empty",
                                                   "VIRTUAL_ENV": "", "CONDA_PREFIX": ""])
        if !FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libdnnl.so.3") {
            #expect(missing.status == 1 && missing.stderr.contains("no oneDNN library loads")
                    && missing.stderr.contains("\(dir.path)/empty/lib/libdnnl.so.3 (no such file)")
                    && missing.stderr.contains("bash Launch/setup_onednn.sh"), "\(missing.stderr)")
        }
        let wrongKey = try cli.rechub(["train"] + Self.settings(dir, out: "out", precision: "fp32")
                                      + ["--set", "gemm_backend=mkl", "--set", "onednn_library=/x"])
        #expect(wrongKey.status != 0 && wrongKey.stderr.contains("onednn_library") && wrongKey.stderr.contains("only read with gemm_backend: onednn"),
                "\(wrongKey.stderr)")
    }

    /// bf16 where oneDNN's kernels cannot run bf16 instructions (lowered here with oneDNN's own
    /// ONEDNN_MAX_CPU_ISA) is refused, naming the instruction set: it would be emulated, or fall
    /// back to OpenBLAS fp32 while labelled bf16. fp32 there still runs.
    @Test(.enabled(if: cpuRunsBF16, "no bf16 on this CPU"), arguments: ["AVX2", "AVX512_CORE"])
    func bf16BelowOneDNNsBF16InstructionsIsRefused(isa: String) throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = RecHubCLITests()
        let r = try cli.rechub(["train"] + Self.settings(dir, out: "out", precision: "bf16"), environment: ["ONEDNN_MAX_CPU_ISA": isa])
        #expect(r.status == 1 && r.stderr.contains("needs oneDNN's kernels to run bf16 instructions, but here they run at \(isa.lowercased())"),
                "\(r.stderr)")
        #expect(!r.stderr.contains("warning: oneDNN cannot make"), "\(r.stderr)")
        let fp32 = try cli.rechub(["train"] + Self.settings(dir, out: "fp32", precision: "fp32") + ["--set", "max_steps=2"],
                                  environment: ["ONEDNN_MAX_CPU_ISA": isa])
        #expect(fp32.status == 0 && fp32.stdout.contains("products: onednn fp32 (oneDNN 3.2.0, \(isa.lowercased())"), "\(fp32.stdout)\(fp32.stderr)")
    }

    /// evaluate and predict refuse a library flag of another backend, as train and bench do,
    /// and name the flag when the place it gives does not load.
    @Test func scoringRefusesALibraryFlagOfAnotherBackend() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = RecHubCLITests()
        let run = try cli.rechub(["train"] + Self.settings(dir, out: "out", precision: "fp32") + ["--set", "max_steps=10"])
        #expect(run.status == 0, "\(run.stderr)")
        let checkpoint = "\(dir.path)/out/checkpoints/step-00000010.rhck"
        for command in ["evaluate", "predict"] {
            let extra = command == "predict" ? ["--data", "\(dir.path)/data/test.csv", "--out", "\(dir.path)/p.csv"] : []
            let other = try cli.rechub([command, "--checkpoint", checkpoint, "--gemm-backend", "openblas",
                                        "--onednn-library", "/x"] + extra)
            #expect(other.status != 0 && other.stderr.contains("--onednn-library is only read with gemm backend onednn"),
                    "\(command): \(other.stderr)")
            let junk = try cli.rechub([command, "--checkpoint", checkpoint, "--onednn-library", "/nonexistent"] + extra)
            #expect(junk.status != 0 && junk.stderr.contains("--onednn-library (/nonexistent) does not load oneDNN")
                    && junk.stderr.contains("or drop --onednn-library") && !junk.stderr.contains("--set"),
                    "\(command): \(junk.stderr)")
        }
    }

    @Test func benchReportsOneDNNAndItsInstructionSet() throws {
        let precision = cpuRunsBF16 ? "bf16" : "fp32"
        let r = try RecHubCLITests().rechub(["bench", "--gemm-backend", "onednn", "--precision", precision, "--steps", "2",
                                             "--warmup", "1", "--rows", "2048", "--scale", "0.01", "--expert-units", "32",
                                             "--num-experts", "2", "--batch-size", "512", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(o?["gemm_backend"] as? String == "onednn" && o?["precision"] as? String == precision, "\(r.stdout)")
        #expect((o?["onednn_version"] as? String)?.hasPrefix("oneDNN 3.") == true, "\(r.stdout)")
    }
}

/// A place the user names for oneDNN or MKL (config key, environment variable, bench flag) is
/// the only one tried, even where the setup script's library would load: the run stops naming
/// it and why it did not load.
struct NamedGEMMLibraryCLITests {
    @Test(arguments: [("onednn", "onednn_library", "RECHUB_ONEDNN_LIBRARY", "oneDNN", "has no dnnl_"),
                      ("mkl", "mkl_library", "RECHUB_MKL_LIBRARY", "MKL", "has no MKL_Set_Interface_Layer")])
    func aNamedLibraryThatDoesNotLoadStopsTheRun(backend: String, key: String, variable: String, name: String,
                                                  missingSymbol: String) throws {
        guard backend == "onednn" ? oneDNNInstalled : mklInstalled else { return }
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = RecHubCLITests()
        let settings = OneDNNCLITests.settings(dir, out: "out", precision: "fp32") + ["--set", "gemm_backend=\(backend)"]
        let openblas = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"
        let byKey = try cli.rechub(["train"] + settings + ["--set", "\(key)=\(openblas)"])
        #expect(byKey.status == 1 && byKey.stderr.contains("\(key) (\(openblas)) does not load \(name)")
                && byKey.stderr.contains(missingSymbol), "\(byKey.stderr)")
        let byVariable = try cli.rechub(["train"] + settings, environment: [variable: "/tmp"])
        #expect(byVariable.status == 1 && byVariable.stderr.contains("\(variable) (/tmp) does not load \(name)"), "\(byVariable.stderr)")
        // A file is loaded as given, whatever its name: a file that is no library says why.
        let text = dir.appendingPathComponent("notalibrary")
        try "text\n".write(to: text, atomically: true, encoding: .utf8)
        let file = try cli.rechub(["train"] + settings + ["--set", "\(key)=\(text.path)"])
        #expect(file.status == 1 && file.stderr.contains("Tried: \(text.path) (") && !file.stderr.contains("notalibrary/"),
                "\(file.stderr)")
        let bench = try cli.rechub(["bench", "--gemm-backend", backend, "--\(key.replacingOccurrences(of: "_", with: "-"))",
                                    "/nonexistent", "--steps", "1"])
        #expect(bench.status != 0 && bench.stderr.contains("--\(key.replacingOccurrences(of: "_", with: "-")) (/nonexistent) does not load \(name)"),
                "\(bench.stderr)")
    }
}
