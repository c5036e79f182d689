import Foundation
import Kernels

/// oneDNN and MKL for the tests of `gemm_backend: onednn | mkl` and `precision: bf16`.
/// `Launch/test.sh` installs both (`Launch/setup_onednn.sh`, `Launch/setup_mkl.sh`). Under CI
/// (`CI=true`) those tests always run, so a missing library fails them; elsewhere they are
/// skipped when it does not load.
public enum GEMMLibrariesForTests {
    /// The outcome of loading each library once (with OpenBLAS's fp32 products as the default).
    static let mkl: Result<GEMMSelection, Error> = Result { try GEMMEngine.load(backend: .mkl, precision: .fp32) }
    static let onednn: Result<GEMMSelection, Error> = Result { try GEMMEngine.load(backend: .onednn, precision: .fp32) }

    /// The optional backends.
    public static let backends: [GEMMBackend] = [.onednn, .mkl]

    static func loaded(_ backend: GEMMBackend) -> Result<GEMMSelection, Error> {
        backend == .mkl ? mkl : onednn
    }

    /// Whether the tests of `backend` run: always under CI, else when its library loads.
    public static func enabled(_ backend: GEMMBackend) -> Bool {
        ProcessInfo.processInfo.environment["CI"] == "true" || (try? loaded(backend).get()) != nil
    }

    /// Whether this CPU runs bf16 products (AMX-BF16 or AVX512_BF16); elsewhere bf16 is refused.
    public static var cpuRunsBF16: Bool {
        let f = CPUFeatures.current
        return f.amxBF16 || (f.avx512BF16 && f.osAVX512)
    }

    /// `backend`'s bf16 products, or nil when its tests do not run here (`enabled`) or the CPU
    /// has no bf16 (`cpuRunsBF16`).
    /// - Throws: what loading the library threw.
    public static func bf16Settings(_ backend: GEMMBackend) throws -> GEMMSelection? {
        guard enabled(backend) && cpuRunsBF16 else { return nil }
        return try settings(backend, .bf16)
    }

    /// `backend`'s products in `precision`.
    /// - Throws: what loading the library threw.
    public static func settings(_ backend: GEMMBackend, _ precision: GEMMPrecision) throws -> GEMMSelection {
        var s = try loaded(backend).get()
        s.precision = precision
        return s
    }
}
