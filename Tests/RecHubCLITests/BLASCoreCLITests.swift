import Foundation
import Testing

/// The OpenBLAS core choice end to end, through `rechub` run as a subprocess: the real library
/// (a non-generic core on a capable CPU; a core set in the environment kept), and a stand-in
/// library that runs a generic core by itself and, when asked for another, computes right,
/// wrong, or dies of SIGILL — so the chosen path and both failure paths run on any x86-64 CPU.
struct BLASCoreCLITests {
    /// Runs `rechub` with `environment` added to this process's (minus MPI launcher variables).
    func rechub(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try RecHubCLITests().rechub(args, environment: environment)
        return (r.status, r.stdout, r.stderr)
    }

    static let generic: Set<String> = ["katmai", "coppermine", "northwood", "prescott", "banias", "core2", "penryn",
                                       "dunnington", "nehalem", "atom", "athlon", "opteron", "opteron_sse3",
                                       "barcelona", "nano", "unknown"]

    /// Whether /proc/cpuinfo lists AVX2 with FMA, or AVX-512 F.
    static let capableCPU: Bool = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return (set.contains("avx2") && set.contains("fma")) || set.contains("avx512f")
    }()

    static let coreSetByEnvironment = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil

    func benchJSON(_ environment: [String: String]) throws -> [String: Any] {
        let r = try rechub(["bench", "--json", "--steps", "2", "--warmup", "1", "--rows", "4096", "--scale", "0.01",
                            "--expert-units", "16", "--num-experts", "2", "--tower-units", "8", "--batch-size", "512"],
                           environment: environment)
        #expect(r.status == 0, "\(r.stderr)")
        let line = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
    }

    @Test(.enabled(if: capableCPU && !coreSetByEnvironment))
    func benchRunsANonGenericCoreOnACapableCPU() throws {
        let o = try benchJSON([:])
        let core = o["blas_core"] as? String ?? "?"
        #expect(!Self.generic.contains(core.lowercased()), "bench ran \(core) (\(o["blas_core_origin"] ?? "?"))")
        #expect(["detected", "chosen"].contains(o["blas_core_origin"] as? String ?? "?"))
    }

    /// A core in the environment is kept, even a generic one RecHub would otherwise replace.
    @Test func benchKeepsTheCoreSetInItsEnvironment() throws {
        let o = try benchJSON(["OPENBLAS_CORETYPE": "Prescott"])
        #expect(o["blas_core"] as? String == "Prescott")
        #expect(o["blas_core_origin"] as? String == "inherited")
    }

    @Test(.enabled(if: !coreSetByEnvironment))
    func keepPolicyKeepsOpenBLASsOwnChoice() throws {
        let o = try benchJSON(["RECHUB_BLAS_CORE": "keep"])
        #expect(o["blas_core_origin"] as? String == "detected")
    }

    @Test func unknownPolicyIsAnError() throws {
        let r = try rechub(["bench", "--steps", "1"], environment: ["RECHUB_BLAS_CORE": "Skylake-X"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("RECHUB_BLAS_CORE") && r.stderr.contains("'Skylake-X'"), "\(r.stderr)")
    }

    @Test func missingLibraryIsAnErrorSayingWhatWasTried() throws {
        let r = try rechub(["bench", "--steps", "1"], environment: ["RECHUB_OPENBLAS_LIBRARY": "/nonexistent/libopenblas.so.0"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("/nonexistent/libopenblas.so.0") && r.stderr.contains("libopenblas-dev"), "\(r.stderr)")
    }

    // MARK: The stand-in library

    /// A library with OpenBLAS's four entry points: it reports "Prescott" (generic) when loaded
    /// without OPENBLAS_CORETYPE and computes right; loaded with a core, it reports that core and
    /// computes right, wrong (+1 on every entry) or raises SIGILL, as FAKE_BLAS_MODE says.
    static let standInSource = #"""
        #include <signal.h>
        #include <stdlib.h>
        #include <string.h>
        static char core[64] = "Prescott";
        static int mode = 0, threads = 1;
        __attribute__((constructor)) static void init(void) {
            const char *c = getenv("OPENBLAS_CORETYPE"), *m = getenv("FAKE_BLAS_MODE");
            if (c && *c) {
                strncpy(core, c, 63);
                mode = m && !strcmp(m, "wrong") ? 1 : m && !strcmp(m, "sigill") ? 2 : 0;
            }
        }
        char *openblas_get_corename(void) { return core; }
        void openblas_set_num_threads(int n) { threads = n; }
        int openblas_get_num_threads(void) { return threads; }
        void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc) {
            if (mode == 2) raise(SIGILL);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++)
                        s += (double)(ta == 112 ? a[p * lda + i] : a[i * lda + p]) * (tb == 112 ? b[j * ldb + p] : b[p * ldb + j]);
                    c[i * ldc + j] = (float)(alpha * s) + (beta == 0 ? 0 : beta * c[i * ldc + j]) + (mode == 1 ? 1 : 0);
                }
        }
        """#

    static let standInLibrary: URL? = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-fakeblas-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let src = dir.appendingPathComponent("fakeblas.c"), lib = dir.appendingPathComponent("libfakeblas.so")
        guard (try? standInSource.write(to: src, atomically: true, encoding: .utf8)) != nil else { return nil }
        for cc in ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang"] where FileManager.default.isExecutableFile(atPath: cc) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: cc)
            p.arguments = ["-O2", "-shared", "-fPIC", "-o", lib.path, src.path]
            guard (try? p.run()) != nil else { continue }
            p.waitUntilExit()
            if p.terminationStatus == 0 { return lib }
        }
        return nil
    }()

    /// A tiny training run on the stand-in library: (metrics.json, stderr).
    func trainOnStandIn(mode: String) throws -> ([String: Any], String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rechub-blas-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try rechub(["train", "--set", "data.generate.rows=1024", "--set", "data.generate.val_rows=256",
                            "--set", "data.generate.test_rows=256", "--set", "data.generate.scale=0.01",
                            "--set", "data.generate.dir=\(dir.path)/data", "--set", "output_dir=\(dir.path)/out",
                            "--set", "expert_units=[8]", "--set", "num_experts=2", "--set", "tower_units=[4]",
                            "--set", "batch_size=256", "--set", "checkpoints=false", "--set", "threads=1"],
                           environment: ["RECHUB_OPENBLAS_LIBRARY": Self.standInLibrary!.path, "FAKE_BLAS_MODE": mode])
        #expect(r.status == 0, "\(r.stderr)")
        let data = try Data(contentsOf: dir.appendingPathComponent("out/metrics.json"))
        return ((try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:], r.stderr + r.stdout)
    }

    /// OpenBLAS (the stand-in) runs a generic core on a capable CPU: RecHub checks a better one
    /// in a child, and loads it; the run header and metrics.json say it was chosen.
    @Test(.enabled(if: capableCPU && !coreSetByEnvironment && standInLibrary != nil))
    func genericCoreIsReplacedAfterTheCheck() throws {
        let (m, log) = try trainOnStandIn(mode: "ok")
        let core = m["blas_core"] as? String ?? "?"
        #expect(["Cooperlake", "SkylakeX", "Haswell", "Zen"].contains(core), "\(core)")
        #expect(m["blas_core_origin"] as? String == "chosen")
        #expect(log.contains("OpenBLAS core \(core) (chosen over OpenBLAS's generic Prescott, checked)"), "\(log)")
    }

    /// A chosen core that computes wrong, or dies of SIGILL, is not used: OpenBLAS's own choice
    /// is kept and the run says why once; training completes.
    @Test(.enabled(if: capableCPU && !coreSetByEnvironment && standInLibrary != nil), arguments: ["wrong", "sigill"])
    func failedCheckKeepsOpenBLASsOwnChoice(mode: String) throws {
        let (m, log) = try trainOnStandIn(mode: mode)
        #expect(m["blas_core"] as? String == "Prescott")
        #expect(m["blas_core_origin"] as? String == "detected")
        #expect(log.components(separatedBy: "note: the check of OpenBLAS core").count == 2, "said once: \(log)")
        #expect(log.contains(mode == "wrong" ? "rounding bound" : "signal 4"), "\(log)")
    }
}
