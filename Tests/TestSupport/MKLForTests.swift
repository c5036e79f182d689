import Foundation
import Kernels

/// MKL for the tests of `gemm_backend: mkl` and `precision: bf16`. `Launch/test.sh` installs
/// it (`Launch/setup_mkl.sh`). Under CI (`CI=true`) those tests always run, so a missing MKL
/// fails them; elsewhere they are skipped when no MKL loads.
public enum MKLForTests {
    /// The outcome of loading MKL once (with OpenBLAS's fp32 products as the default).
    public static let loaded: Result<GEMMSelection, Error> = Result { try GEMMEngine.load(backend: .mkl, precision: .fp32) }

    /// Whether the MKL tests run: always under CI, else when MKL loads.
    public static var enabled: Bool {
        ProcessInfo.processInfo.environment["CI"] == "true" || (try? loaded.get()) != nil
    }

    /// Whether this CPU runs bf16 products (AMX-BF16 or AVX512_BF16); elsewhere bf16 is refused.
    public static var cpuRunsBF16: Bool {
        let f = CPUFeatures.current
        return f.amxBF16 || (f.avx512BF16 && f.osAVX512)
    }

    /// MKL's products in `precision`.
    /// - Throws: what loading MKL threw.
    public static func settings(_ precision: GEMMPrecision) throws -> GEMMSelection {
        var s = try loaded.get()
        s.precision = precision
        return s
    }
}
