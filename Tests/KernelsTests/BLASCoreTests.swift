#if canImport(Glibc)
import Glibc
#endif
import Kernels
import Testing

/// The OpenBLAS core choice: the pure decision on a table of cases, the child-process check,
/// the policy parser, and what this process loaded.
struct BLASCoreTests {
    static let plainSSE = CPUFeatures(vendor: "GenuineIntel", family: 6, model: 15)
    static let haswell = CPUFeatures(vendor: "GenuineIntel", family: 6, model: 60, avx2: true, fma: true, osAVX: true)
    static let zen3 = CPUFeatures(vendor: "AuthenticAMD", family: 25, model: 1, avx2: true, fma: true, osAVX: true)
    static let skylakeX = CPUFeatures(vendor: "GenuineIntel", family: 6, model: 85, avx2: true, fma: true,
                                      avx512F: true, avx512BW: true, avx512DQ: true, avx512VL: true, avx512CD: true,
                                      osAVX: true, osAVX512: true)
    /// The Xeon this choice was written for: family 6 model 207, AVX-512 with BF16, AMX.
    static let xeon207 = CPUFeatures(vendor: "GenuineIntel", family: 6, model: 207, avx2: true, fma: true,
                                     avx512F: true, avx512BW: true, avx512DQ: true, avx512VL: true, avx512CD: true,
                                     avx512BF16: true, amxTile: true, amxBF16: true, osAVX: true, osAVX512: true)
    static let zen4 = CPUFeatures(vendor: "AuthenticAMD", family: 25, model: 17, avx2: true, fma: true,
                                  avx512F: true, avx512BW: true, avx512DQ: true, avx512VL: true, avx512CD: true,
                                  avx512BF16: true, osAVX: true, osAVX512: true)

    struct Case: Sendable, CustomTestStringConvertible {
        var detected: String?
        var features: CPUFeatures
        var environment: String?
        var policy: BLASCorePolicy
        var expected: BLASCoreDecision
        var testDescription: String { "\(detected ?? "nil") \(features.summary) env=\(environment ?? "-") \(policy)" }
    }

    static func keep(_ detected: String) -> BLASCoreDecision { .keep(reason: "OpenBLAS picked \(detected) itself") }

    static let cases: [Case] = [
        // A generic core on a capable CPU: the best core the CPU supports.
        Case(detected: "Prescott", features: xeon207, environment: nil, policy: .auto, expected: .check("Cooperlake", origin: .chosen)),
        Case(detected: "Core2", features: skylakeX, environment: nil, policy: .auto, expected: .check("SkylakeX", origin: .chosen)),
        Case(detected: "Penryn", features: haswell, environment: nil, policy: .auto, expected: .check("Haswell", origin: .chosen)),
        Case(detected: "Katmai", features: zen3, environment: nil, policy: .auto, expected: .check("Zen", origin: .chosen)),
        Case(detected: "Dunnington", features: zen4, environment: nil, policy: .auto, expected: .check("Cooperlake", origin: .chosen)),
        Case(detected: "PRESCOTT", features: xeon207, environment: nil, policy: .auto, expected: .check("Cooperlake", origin: .chosen)),
        // AVX-512 flags without the OS saving ZMM state: AVX2 is what can run.
        Case(detected: "Prescott",
             features: { var f = xeon207; f.osAVX512 = false; return f }(), environment: nil, policy: .auto,
             expected: .check("Haswell", origin: .chosen)),
        // AVX-512 F without CD (OpenBLAS's SkylakeX kernels need the whole set): AVX2.
        Case(detected: "Prescott", features: { var f = skylakeX; f.avx512CD = false; return f }(), environment: nil,
             policy: .auto, expected: .check("Haswell", origin: .chosen)),
        // AVX2 without FMA, or no AVX at all: nothing better to choose.
        Case(detected: "Prescott", features: { var f = haswell; f.fma = false; return f }(), environment: nil,
             policy: .auto, expected: .keep(reason: "the CPU has neither AVX-512 nor AVX2 with FMA")),
        Case(detected: "Prescott", features: plainSSE, environment: nil, policy: .auto,
             expected: .keep(reason: "the CPU has neither AVX-512 nor AVX2 with FMA")),
        // OpenBLAS knows the CPU: its choice stands.
        Case(detected: "Cooperlake", features: zen4, environment: nil, policy: .auto, expected: keep("Cooperlake")),
        Case(detected: "Haswell", features: xeon207, environment: nil, policy: .auto, expected: keep("Haswell")),
        Case(detected: "Zen", features: zen3, environment: nil, policy: .auto, expected: keep("Zen")),
        Case(detected: "Sandybridge", features: haswell, environment: nil, policy: .auto, expected: keep("Sandybridge")),
        Case(detected: nil, features: xeon207, environment: nil, policy: .auto,
             expected: .keep(reason: "OpenBLAS's own core is unknown")),
        // A core set in the environment is never changed, whatever the policy or the CPU.
        Case(detected: nil, features: xeon207, environment: "Haswell", policy: .auto, expected: .inherit("Haswell")),
        Case(detected: "Prescott", features: xeon207, environment: "Prescott", policy: .auto, expected: .inherit("Prescott")),
        Case(detected: nil, features: zen4, environment: "Haswell", policy: .named("SkylakeX"), expected: .inherit("Haswell")),
        Case(detected: nil, features: zen4, environment: "", policy: .keep, expected: .inherit("")),
        // The user's policy: keep, or a named core (checked like a chosen one).
        Case(detected: "Prescott", features: xeon207, environment: nil, policy: .keep,
             expected: .keep(reason: "blas_core is keep")),
        Case(detected: nil, features: haswell, environment: nil, policy: .named("SkylakeX"),
             expected: .check("SkylakeX", origin: .requested)),
    ]

    @Test(arguments: cases)
    func decision(_ c: Case) {
        let d = BLASCore.decide(detected: c.detected, features: c.features, environmentCore: c.environment, policy: c.policy)
        #expect(d == c.expected)
    }

    @Test func policyParsing() throws {
        #expect(try BLASCorePolicy(parsing: "auto") == .auto)
        #expect(try BLASCorePolicy(parsing: " KEEP ") == .keep)
        #expect(try BLASCorePolicy(parsing: "skylakex") == .named("SkylakeX"))
        #expect(try BLASCorePolicy(parsing: "Zen") == .named("Zen"))
        #expect(throws: BLASLoadError.self) { try BLASCorePolicy(parsing: "Skylake-X") }
        do {
            _ = try BLASCorePolicy(parsing: "bogus")
        } catch let e as BLASLoadError {
            #expect(e.message.contains("'bogus'") && e.message.contains("Cooperlake"), "\(e.message)")
        }
    }

    /// OpenBLAS's own choice, asked in a child process (a fresh copy of the library).
    @Test func probeReportsOpenBLASsOwnCore() {
        let p = BLASCore.probe(core: nil, check: true)
        #expect(p.status == 0, "\(p.detail)")
        #expect(!p.corename.isEmpty && p.corename != "unknown")
        #expect(p.worstRatio <= 1, "worst error \(p.worstRatio) × the rounding bound")
    }

    /// The check of every core this CPU can run passes, and the child runs the core asked for
    /// even though this process may have loaded OpenBLAS with another one already.
    @Test func probeChecksTheCoresThisCPUCanRun() {
        let f = CPUFeatures.current
        var cores = ["Prescott"]
        if f.supportsAVX2FMA { cores.append("Haswell") }
        if f.supportsAVX512 { cores.append("SkylakeX") }
        if f.supportsAVX512 && f.avx512BF16 { cores.append("Cooperlake") }
        _ = BLASCore.name  // load OpenBLAS in this process first
        for core in cores {
            let p = BLASCore.probe(core: core, check: true)
            #expect(p.status == 0, "\(core): \(p.detail)")
            #expect(p.corename.lowercased() == core.lowercased(), "asked for \(core), the child ran \(p.corename)")
            #expect(p.worstRatio <= 1, "\(core): worst error \(p.worstRatio) × the rounding bound")
        }
    }

    @Test func probeOfAMissingLibrarySaysWhatWasTried() {
        let p = BLASCore.probe(core: "Haswell", check: true, library: "/nonexistent/libopenblas.so.0")
        #expect(p.status == 2)
        #expect(p.detail.contains("/nonexistent/libopenblas.so.0"), "\(p.detail)")
    }

    /// What this test process runs: the environment's core when OPENBLAS_CORETYPE is set, else
    /// a non-generic one on a CPU with AVX2 or AVX-512 (OpenBLAS's own or RecHub's choice).
    @Test func thisProcessRunsAFittingCore() {
        let s = BLASCore.selection
        if let env = getenv("OPENBLAS_CORETYPE") {
            #expect(s.origin == .inherited, "OPENBLAS_CORETYPE=\(String(cString: env)) must be kept")
        } else if CPUFeatures.current.supportsAVX2FMA || CPUFeatures.current.supportsAVX512 {
            #expect(!BLASCore.genericCores.contains(s.core.lowercased()), "\(s.summary) on \(CPUFeatures.current.summary)")
            #expect(s.origin == .detected || s.origin == .chosen || s.origin == .requested)
        }
        #expect(BLASCore.name == s.core)
    }

    @Test func cpuFeaturesAreConsistent() {
        let f = CPUFeatures.current
        #if arch(x86_64)
        #expect(!f.vendor.isEmpty)
        #endif
        if f.supportsAVX512 { #expect(f.avx512F && f.osAVX512) }
        if f.supportsAVX2FMA { #expect(f.avx2 && f.fma) }
        #expect(!CPUFeatures.modelName.isEmpty)
    }
}
