import Foundation
import Testing

/// `rechub bench`, run as a user would, on tiny shapes (a second or two each): every model,
/// every task-weighting strategy, the trainer's step profile, and the flags it refuses.
struct BenchCommandTests {
    /// A short bench on 4096 generated rows at vocabulary scale 0.01.
    static let short = ["bench", "--steps", "2", "--warmup", "1", "--rows", "4096", "--scale", "0.01"]

    /// Each model with tiny shapes, through the flags its config keys map to.
    static let tinyModels: [(model: String, flags: [String])] = [
        ("mmoe", ["--expert-units", "32", "--num-experts", "2", "--tower-units", "8"]),
        ("shared_bottom", ["--hidden-units", "32", "--tower-units", "8"]),
        ("esmm", ["--tower-units", "32,8"]),
        ("ple", ["--expert-units", "32", "--num-experts", "1", "--num-shared-experts", "1", "--num-layers", "2",
                 "--tower-units", "8"]),
        ("aitm", ["--tower-units", "32,8"]),
    ]

    /// The trainer's step phases, in order (StepProfiler.Phase).
    static let phases = ["gather", "forward", "loss", "backward", "reduce", "combine", "update", "after"]

    func rechub(_ args: [String]) throws -> RecHubCLITests.Run { try RecHubCLITests().rechub(args) }

    /// Runs a bench that must succeed and returns its JSON line.
    func benchJSON(_ args: [String]) throws -> [String: Any] {
        let r = try rechub(Self.short + args + ["--json"])
        #expect(r.status == 0, "\(args): \(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
    }

    /// The fields every run reports: positive finite throughput, finite losses (one per task),
    /// the OpenBLAS core with its origin, and the CPU.
    func expectThroughputAndLosses(_ json: [String: Any], _ label: String) {
        for key in ["samples_per_second", "model_gflops", "sgemm_gflops", "fraction_of_sgemm", "mflop_per_sample",
                    "peak_rss_mib", "median_step_ms"] {
            let v = json[key] as? Double ?? -1
            #expect(v.isFinite && v > 0, "\(label): \(key) = \(v)")
        }
        let losses = json["final_loss"] as? [Double] ?? []
        #expect(losses.count == 2 && losses.allSatisfy { $0.isFinite && $0 > 0 }, "\(label): losses \(losses)")
        #expect((json["blas_core"] as? String)?.isEmpty == false, "\(label)")
        #expect(["detected", "chosen", "inherited"].contains(json["blas_core_origin"] as? String ?? ""), "\(label)")
        #expect((json["cpu"] as? String)?.isEmpty == false, "\(label)")
    }

    @Test(arguments: tinyModels)
    func everyModelTrainsWithFixedWeightsAndProfilesEveryPhase(model: String, flags: [String]) throws {
        let json = try benchJSON(["--model", model, "--profile"] + flags)
        #expect(json["model"] as? String == model && json["strategy"] as? String == "fixed", "\(json)")
        expectThroughputAndLosses(json, model)
        let phases = try #require(json["phases"] as? [String: [String: Double]], "\(json)")
        #expect(Set(phases.keys) == Set(Self.phases), "\(phases.keys)")
        for (name, p) in phases {
            let ms = p["ms"] ?? -1, sgemm = p["sgemm_ms"] ?? -1
            #expect(ms.isFinite && ms >= 0 && sgemm >= 0 && sgemm <= ms, "\(model) \(name): \(p)")
        }
        #expect((phases["forward"]?["sgemm_ms"] ?? 0) > 0 && (phases["backward"]?["sgemm_ms"] ?? 0) > 0, "\(phases)")
        // With fixed weights the step runs the nominal products once, less the dense inputs'
        // gradient (which some models skip: at most 8 of 376 input columns of the first layers).
        let nominal = json["mflop_per_sample"] as? Double ?? 0, ran = json["sgemm_mflop_per_sample"] as? Double ?? 0
        #expect(ran <= nominal * (1 + 1e-9) && ran >= 0.97 * nominal, "\(model): nominal \(nominal), ran \(ran)")
    }

    @Test(arguments: ["fixed", "uncertainty", "gradnorm", "metabalance"])
    func everyStrategyTrainsMMoE(strategy: String) throws {
        let json = try benchJSON(["--strategy", strategy] + Self.tinyModels[0].flags)
        #expect(json["model"] as? String == "mmoe" && json["strategy"] as? String == strategy, "\(json)")
        expectThroughputAndLosses(json, strategy)
    }

    @Test func benchReportsThroughputAgainstSgemm() throws {
        let json = try benchJSON(["--steps", "3"] + Self.tinyModels[0].flags)
        expectThroughputAndLosses(json, "mmoe")
        #expect(json["batch_norm"] as? Bool == false && json["expert_units"] as? [Int] == [32]
                && json["num_experts"] as? Int == 2 && json["tower_units"] as? [Int] == [8], "\(json)")
        #expect(json["phases"] == nil, "no profile unless asked")
    }

    @Test func profilePrintsEveryPhaseWithItsSgemmShare() throws {
        let p = try rechub(Self.short + Self.tinyModels[0].flags + ["--profile", "--batch-norm"])
        #expect(p.status == 0, "\(p.stderr)")
        let lines = p.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for phase in Self.phases + ["total"] {
            #expect(lines.contains { $0.hasPrefix(phase + " ") && $0.contains("ms  (sgemm ") }, "\(phase) in \(p.stdout)")
        }
        #expect(p.stdout.contains("batch norm") && p.stdout.contains("OpenBLAS core") && p.stdout.contains("CPU "),
                "\(p.stdout)")
    }

    @Test func badModelStrategyOrShapeIsRefusedNamingTheFlag() throws {
        for (args, flag) in [(["--model", "transformer"], "--model"), (["--strategy", "pcgrad"], "--strategy"),
                             (["--model", "esmm", "--expert-units", "32"], "--expert-units"),
                             (["--model", "mmoe", "--hidden-units", "32"], "--hidden-units"),
                             (["--num-experts", "0"], "--num-experts"), (["--tower-units", "8,x"], "--tower-units")] {
            let r = try rechub(Self.short + args)
            #expect(r.status != 0 && r.stderr.contains(flag), "\(args): \(r.stderr)")
        }
    }

    /// Batch norm over one row per rank is refused as `train` refuses it, before any data.
    @Test func batchNormOverOneRowIsRefused() throws {
        let r = try rechub(Self.short + Self.tinyModels[0].flags + ["--batch-norm", "--batch-size", "1"])
        #expect(r.status != 0 && r.stderr.contains("--batch-norm needs at least 2 rows per rank: --batch-size 1 over 1 rank(s) gives 1"), "\(r.stderr)")
        #expect(r.stdout.isEmpty, "nothing measured: \(r.stdout)")
    }
}
