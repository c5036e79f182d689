import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// The library that runs `gemm` (the `gemm_backend` config key).
public enum GEMMBackend: String, CaseIterable, Sendable, Codable {
    /// OpenBLAS's `cblas_sgemm`, with the core `BLASCore` chooses (the default).
    case openblas
    /// Intel MKL's `libmkl_rt`, loaded at run time (`GEMMEngine.mklCandidates`); never linked.
    case mkl
}

/// The precision of the products' inputs (the `precision` config key).
///
/// `bf16` is mixed precision as on GPUs (Micikevicius et al., "Mixed Precision Training",
/// ICLR 2018, §3; bf16 instead of fp16, so without loss scaling): every product's two inputs
/// are rounded to bf16 (8-bit significand, ties to even) as the product reads them, and the
/// product accumulates and writes fp32 (`cblas_gemm_bf16bf16f32`). That covers all three
/// products of each layer: the forward product (activations × weights), the input gradient
/// (output gradient × weights) and the weight gradient (output gradient × activations). The
/// weights, their gradients, Adam's moments, losses, batch-norm statistics, all-reduces and
/// metrics stay fp32: rounding happens only inside the product, so the fp32 master weights are
/// what Adam updates and what checkpoints hold.
public enum GEMMPrecision: String, CaseIterable, Sendable, Codable {
    case fp32, bf16
}

/// A backend and precision that cannot run here, or MKL that cannot be loaded.
public struct GEMMBackendError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong and what to do.
    public var message: String
    public var description: String { message }

    public init(message: String) { self.message = message }
}

/// What `gemm` runs: the backend, the precision, and for MKL the library and its version.
public struct GEMMSelection: Sendable, Equatable {
    public var backend: GEMMBackend
    public var precision: GEMMPrecision
    /// The MKL library loaded (nil for OpenBLAS, whose library `BLASCore` reports).
    public var library: String?
    /// MKL's version string (nil for OpenBLAS).
    public var version: String?
    /// Something worth saying once about these products here (bf16 that MKL emulates).
    public var note: String?

    /// "openblas fp32", "mkl bf16": the name the run files and the report use.
    public var products: String { "\(backend.rawValue) \(precision.rawValue)" }

    /// "openblas fp32", "mkl bf16 (Intel(R) oneAPI Math Kernel Library Version 2026.2 …)".
    public var summary: String { products + (version.map { " (\($0))" } ?? "") }

    /// The C library's mode for these settings.
    var mode: Int32 {
        switch (backend, precision) {
        case (.openblas, _): return Int32(RECHUB_GEMM_OPENBLAS)
        case (.mkl, .fp32): return Int32(RECHUB_GEMM_MKL_FP32)
        case (.mkl, .bf16): return Int32(RECHUB_GEMM_MKL_BF16)
        }
    }
}

/// Chooses and loads the library behind `gemm`, the one function that calls it.
///
/// OpenBLAS is the default and always loaded (see `BLASCore`). MKL is an option a user turns on
/// with `gemm_backend: mkl`; it is loaded with `dlopen` from the place the user names, else the
/// first of `mklCandidates` that loads, so the build and the README's two commands do not depend on it.
/// `bash Launch/setup_mkl.sh` installs it from PyPI into `~/.local/share/rechub/mkl`.
///
/// The settings apply per thread, for the duration of `withSettings` (a training job, the
/// bench, an evaluation run inside it): two jobs in one process (tests run in parallel) do not
/// see each other's backend. Outside any `withSettings`, `gemm` runs OpenBLAS in fp32.
public enum GEMMEngine {
    /// Where MKL is looked for, and what names the place in an error. A place the user names
    /// is the only one tried: `explicit` (the `mkl_library` config key), else
    /// `RECHUB_MKL_LIBRARY`; each a file, or a folder holding `libmkl_rt.so.3`/`.2`/`.so` (or
    /// its `lib/`). Otherwise, in order: the folder `Launch/setup_mkl.sh` installs into
    /// (`RECHUB_MKL_HOME`, else `~/.local/share/rechub/mkl`), an active virtualenv or conda
    /// environment, then the plain names through the dynamic loader's search path.
    /// Pure: `environment` stands for the process's.
    public static func mklCandidates(explicit: String?, environment: [String: String]) -> (paths: [String], named: String?) {
        let names = ["libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"]
        func expand(_ given: String) -> [String] {
            var path = given
            if path == "~" || path.hasPrefix("~/"), let home = environment["HOME"] { path = home + path.dropFirst() }
            if path.hasSuffix(".so") || path.contains(".so.") { return [path] }
            let dir = path.hasSuffix("/") ? String(path.dropLast()) : path
            return names.map { "\(dir)/\($0)" } + names.map { "\(dir)/lib/\($0)" }
        }
        if let explicit, !explicit.isEmpty { return (expand(explicit), "mkl_library (\(explicit))") }
        if let env = environment["RECHUB_MKL_LIBRARY"], !env.isEmpty { return (expand(env), "RECHUB_MKL_LIBRARY (\(env))") }
        var out: [String] = []
        let home = environment["RECHUB_MKL_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["HOME"].map { "\($0)/.local/share/rechub/mkl" }
        if let home { out += names.map { "\(home)/lib/\($0)" } }
        for key in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
            if let prefix = environment[key], !prefix.isEmpty { out += names.map { "\(prefix)/lib/\($0)" } }
        }
        out += names
        var seen = Set<String>()
        return (out.filter { seen.insert($0).inserted }, nil)
    }

    /// Whether `backend` and `precision` can run on a CPU with `features`: bf16 needs MKL
    /// (Debian's OpenBLAS 0.3.21 has no bf16 product) and a CPU with AMX-BF16 or AVX512_BF16
    /// (elsewhere MKL emulates bf16, slower than fp32). Pure.
    /// - Throws: `GEMMBackendError` saying which and what to use instead.
    public static func check(backend: GEMMBackend, precision: GEMMPrecision, features: CPUFeatures) throws {
        guard precision == .bf16 else { return }
        guard backend == .mkl else {
            throw GEMMBackendError(message: "precision: bf16 needs gemm_backend: mkl (OpenBLAS 0.3.21 has no bf16 product); "
                                   + "install MKL with `bash Launch/setup_mkl.sh` and set both")
        }
        guard features.amxBF16 || (features.avx512BF16 && features.osAVX512) else {
            throw GEMMBackendError(message: "precision: bf16 needs a CPU with AMX-BF16 or AVX512_BF16 (this one, "
                                   + "\(CPUFeatures.modelName), has neither, and emulated bf16 is slower than fp32); "
                                   + "use precision: fp32")
        }
    }

    nonisolated(unsafe) private static var mkl: (library: String, version: String)?

    /// Makes `backend` and `precision` runnable in this process: checks them against the CPU,
    /// loads OpenBLAS (always; `BLASCore`) and, for MKL, MKL from `library` or the first of
    /// `mklCandidates` that loads, with `threads` threads (its threading layer is fixed by the
    /// first load: SEQUENTIAL for 1 thread, else INTEL). Later calls reuse the loaded MKL.
    /// - Throws: `GEMMBackendError` when the settings cannot run on this CPU or no MKL loads
    ///   (the message lists every path tried and how to install MKL); `BLASLoadError`.
    @discardableResult
    public static func load(backend: GEMMBackend, precision: GEMMPrecision, library: String? = nil,
                            threads: Int = 1) throws -> GEMMSelection {
        try check(backend: backend, precision: precision, features: .current)
        BLASCore.ensureLoaded()
        guard backend == .mkl else { return GEMMSelection(backend: backend, precision: precision) }
        rechub_blas_lock()
        defer { rechub_blas_unlock() }
        let note = precision == .bf16 && CPUFeatures.current.vendor != "GenuineIntel"
            ? "MKL runs bf16 products through its fp32 kernels on this \(CPUFeatures.current.vendor) CPU (measured on AMD "
              + "EPYC Zen 4): bf16 changes the results here and is no faster than fp32 (slower with several threads, "
              + "as the bf16 conversion runs on one)"
            : nil
        if let mkl {
            if let library, !mklCandidates(explicit: library, environment: [:]).paths.contains(mkl.library) {
                throw GEMMBackendError(message: "mkl_library (\(library)) asks for another MKL than the one this process "
                                       + "loaded first (\(mkl.library)); one process runs one MKL")
            }
            return GEMMSelection(backend: .mkl, precision: precision, library: mkl.library, version: mkl.version, note: note)
        }
        var environment: [String: String] = [:]
        for key in ["RECHUB_MKL_LIBRARY", "RECHUB_MKL_HOME", "HOME", "VIRTUAL_ENV", "CONDA_PREFIX"] {
            if let p = getenv(key) { environment[key] = String(cString: p) }
        }
        var tried: [String] = []
        let (paths, named) = mklCandidates(explicit: library, environment: environment)
        for path in paths {
            if path.hasPrefix("/") && access(path, F_OK) != 0 {
                tried.append("\(path) (no such file)")
                continue
            }
            var error = [CChar](repeating: 0, count: 512)
            // Through symbolic links: libmkl_rt finds MKL's other libraries beside its own real
            // path (a link elsewhere made MKL itself stop the process with a fatal error).
            var resolved = path
            if path.hasPrefix("/"), let real = realpath(path, nil) {
                resolved = String(cString: real)
                free(real)
            }
            if rechub_mkl_open(resolved, Int32(max(threads, 1)), &error, error.count) >= 0 {
                var buffer = [CChar](repeating: 0, count: 256)
                rechub_mkl_version(&buffer, Int32(buffer.count))
                let version = String(cBuffer: buffer)
                mkl = (path, version)
                return GEMMSelection(backend: .mkl, precision: precision, library: path, version: version, note: note)
            }
            tried.append("\(path) (\(String(cBuffer: error)))")
        }
        if let named {
            throw GEMMBackendError(message: "gemm_backend: mkl, but \(named) does not load MKL. Tried: " + tried.joined(separator: "; ")
                                   + ". Give the path of libmkl_rt.so (or its folder), or leave it unset to use the MKL "
                                   + "that `bash Launch/setup_mkl.sh` installs")
        }
        let home = environment["RECHUB_MKL_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "~/.local/share/rechub/mkl"
        throw GEMMBackendError(message: "gemm_backend: mkl, but no MKL library loads. Tried: " + tried.joined(separator: "; ")
                               + ". Install it with `bash Launch/setup_mkl.sh` (pip install mkl into \(home)), "
                               + "or give the path of libmkl_rt.so in mkl_library or RECHUB_MKL_LIBRARY")
    }

    /// Runs `body` with `gemm` on `selection`'s backend and precision on this thread (after
    /// `load` returned it), then restores what ran before.
    public static func withSettings<T>(_ selection: GEMMSelection, _ body: () throws -> T) rethrows -> T {
        let previous = rechub_gemm_set_thread_mode(selection.mode)
        defer { rechub_gemm_set_thread_mode(previous) }
        return try body()
    }

    /// Runs `body` with `x` (rows, cols; row stride `ld`) converted to bf16 once for every
    /// product on this thread that reads exactly that matrix, instead of once per product
    /// (bf16 only; otherwise just runs `body`). For an input several products read: the expert
    /// bank's input feeds every expert's forward and weight-gradient products. `x` must not
    /// change while `body` runs. One matrix is pinned per thread: a nested call replaces the
    /// outer pin, and after it the outer matrix is converted per product again (still correct).
    public static func withPinnedInput<T>(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int,
                                          _ body: () throws -> T) rethrows -> T {
        guard rechub_gemm_mode() == Int32(RECHUB_GEMM_MKL_BF16) else { return try body() }
        rechub_bf16_pin(x, Int32(rows), Int32(cols), Int32(ld))
        defer { rechub_bf16_unpin() }
        return try body()
    }

    /// How many values this thread has rounded to bf16 for products so far.
    public static var convertedToBF16: UInt64 { UInt64(rechub_bf16_converted()) }

    /// The backend and precision `gemm` runs on this thread now.
    public static var current: (backend: GEMMBackend, precision: GEMMPrecision) {
        switch Int(rechub_gemm_mode()) {
        case Int(RECHUB_GEMM_MKL_FP32): return (.mkl, .fp32)
        case Int(RECHUB_GEMM_MKL_BF16): return (.mkl, .bf16)
        default: return (.openblas, .fp32)
        }
    }

    /// Sets MKL's thread count, when MKL is loaded with the INTEL threading layer.
    static func setMKLThreads(_ n: Int) {
        if rechub_mkl_is_loaded() != 0 { rechub_mkl_set_num_threads(Int32(n)) }
    }

    /// Rounds each value to the nearest bf16 (ties to even), as the products' inputs are
    /// rounded in bf16; for references and tests. `y` may be `x`.
    public static func roundToBF16(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        rechub_round_to_bf16(x, y, count)
    }
}

extension String {
    /// The text of a NUL-terminated C character buffer (UTF-8; the whole buffer if no NUL).
    init(cBuffer buffer: [CChar]) {
        self = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
