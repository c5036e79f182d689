import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// The library that runs `gemm` (the `gemm_backend` config key).
public enum GEMMBackend: String, CaseIterable, Sendable, Codable {
    /// OpenBLAS's `cblas_sgemm`, with the core `BLASCore` chooses (the default).
    case openblas
    /// Intel MKL's `libmkl_rt`, loaded at run time (`GEMMEngine.libraryCandidates`); never linked.
    case mkl
    /// oneDNN's `libdnnl` (3.0 or newer), loaded at run time like MKL; each product runs as its
    /// matmul primitive, made once per shape and reused. Its bf16 kernels use AVX512_BF16 (AMD
    /// Zen 4, Intel Cooper Lake) or AMX (Intel Sapphire Rapids and later).
    case onednn
}

/// The precision of the products' inputs (the `precision` config key).
///
/// `bf16` is mixed precision as on GPUs (Micikevicius et al., "Mixed Precision Training",
/// ICLR 2018, §3; bf16 instead of fp16, so without loss scaling): every product's two inputs
/// are rounded to bf16 (8-bit significand, ties to even) as the product reads them, and the
/// product accumulates and writes fp32 (MKL's `cblas_gemm_bf16bf16f32`, oneDNN's matmul on
/// bf16 inputs with an fp32 output). That covers all three
/// products of each layer: the forward product (activations × weights), the input gradient
/// (output gradient × weights) and the weight gradient (output gradient × activations). The
/// weights, their gradients, Adam's moments, losses, batch-norm statistics, all-reduces and
/// metrics stay fp32: rounding happens only inside the product, so the fp32 master weights are
/// what Adam updates and what checkpoints hold.
public enum GEMMPrecision: String, CaseIterable, Sendable, Codable {
    case fp32, bf16
}

/// A backend and precision that cannot run here, or a library (MKL, oneDNN) that cannot be loaded.
public struct GEMMBackendError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong and what to do.
    public var message: String
    public var description: String { message }

    public init(message: String) { self.message = message }
}

/// What `gemm` runs: the backend, the precision, and for MKL or oneDNN the library and its version.
public struct GEMMSelection: Sendable, Equatable {
    public var backend: GEMMBackend
    public var precision: GEMMPrecision
    /// The MKL or oneDNN library loaded (nil for OpenBLAS, whose library `BLASCore` reports).
    public var library: String?
    /// Its version string, for oneDNN with the instruction set its kernels use (nil for OpenBLAS).
    public var version: String?
    /// Something worth saying once about these products here (bf16 that MKL emulates).
    public var note: String?

    /// "openblas fp32", "mkl bf16": the name the run files and the report use.
    public var products: String { "\(backend.rawValue) \(precision.rawValue)" }

    /// "openblas fp32", "mkl bf16 (Intel(R) oneAPI Math Kernel Library Version 2026.2 …)".
    public var summary: String { products + (version.map { " (\($0))" } ?? "") }

    /// For the run files: `mkl_library`/`mkl_version` or `onednn_library`/`onednn_version`
    /// (nothing for OpenBLAS).
    public var libraryFields: [String: String] {
        var fields: [String: String] = [:]
        if let library { fields["\(backend.rawValue)_library"] = library }
        if let version { fields["\(backend.rawValue)_version"] = version }
        return fields
    }

    /// The C library's mode for these settings.
    var mode: Int32 {
        switch (backend, precision) {
        case (.openblas, _): return Int32(RECHUB_GEMM_OPENBLAS)
        case (.mkl, .fp32): return Int32(RECHUB_GEMM_MKL_FP32)
        case (.mkl, .bf16): return Int32(RECHUB_GEMM_MKL_BF16)
        case (.onednn, .fp32): return Int32(RECHUB_GEMM_ONEDNN_FP32)
        case (.onednn, .bf16): return Int32(RECHUB_GEMM_ONEDNN_BF16)
        }
    }
}

/// Where an optional backend's library (MKL, oneDNN) is looked for, and how the messages name it.
public struct GEMMLibrary: Sendable {
    /// "MKL", "oneDNN".
    public let name: String
    /// The library's file names, most specific first.
    public let files: [String]
    /// The config key naming a place (`mkl_library`, `onednn_library`).
    public let configKey: String
    /// The environment variable naming a place, which beats the default places.
    public let variable: String
    /// The environment variable for the folder the setup script installs into, and its default
    /// under the home folder.
    public let homeVariable: String, defaultHome: String
    /// The script that installs it (`bash Launch/setup_mkl.sh`).
    public let setup: String

    /// The library behind `backend` (nil for OpenBLAS, which `BLASCore` loads).
    public static func of(_ backend: GEMMBackend) -> GEMMLibrary? {
        switch backend {
        case .openblas: return nil
        case .mkl:
            return GEMMLibrary(name: "MKL", files: ["libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"],
                               configKey: "mkl_library", variable: "RECHUB_MKL_LIBRARY", homeVariable: "RECHUB_MKL_HOME",
                               defaultHome: ".local/share/rechub/mkl", setup: "bash Launch/setup_mkl.sh")
        case .onednn:
            return GEMMLibrary(name: "oneDNN", files: ["libdnnl.so.3", "libdnnl.so"],
                               configKey: "onednn_library", variable: "RECHUB_ONEDNN_LIBRARY",
                               homeVariable: "RECHUB_ONEDNN_HOME", defaultHome: ".local/share/rechub/onednn",
                               setup: "bash Launch/setup_onednn.sh")
        }
    }
}

/// Chooses and loads the library behind `gemm`, the one function that calls it.
///
/// OpenBLAS is the default and always loaded (see `BLASCore`). oneDNN and MKL are options a user
/// turns on with `gemm_backend: onednn` or `mkl`; each is loaded with `dlopen` from the place
/// the user names, else the first of `libraryCandidates` that loads, so the build and the
/// README's two commands do not depend on them. `bash Launch/setup_onednn.sh` and
/// `bash Launch/setup_mkl.sh` install them from PyPI into `~/.local/share/rechub/`.
///
/// The settings apply per thread, for the duration of `withSettings` (a training job, the
/// bench, an evaluation run inside it): two jobs in one process (tests run in parallel) do not
/// see each other's backend. Outside any `withSettings`, `gemm` runs OpenBLAS in fp32.
public enum GEMMEngine {
    /// Where `backend`'s library is looked for, and what names the place in an error. A place
    /// the user names is the only one tried: `explicit` (the `mkl_library`/`onednn_library`
    /// config key), else `RECHUB_MKL_LIBRARY`/`RECHUB_ONEDNN_LIBRARY`; each a file, or a folder
    /// holding the library (`libmkl_rt.so.3`/`.2`/`.so`, `libdnnl.so.3`/`.so`) or its `lib/` (a
    /// place is a file when it is one, or when its name has `.so`).
    /// Otherwise, in order: the folder its setup script installs into (`RECHUB_MKL_HOME`, else
    /// `~/.local/share/rechub/mkl`; `RECHUB_ONEDNN_HOME`, else `~/.local/share/rechub/onednn`),
    /// an active virtualenv or conda environment, then the plain names through the dynamic
    /// loader's search path. A named place or setup folder that is relative (a bare file name
    /// too) is taken from `currentDirectory`; `~` is the home folder. Empty for OpenBLAS.
    /// Pure: `environment` stands for the process's.
    public static func libraryCandidates(_ backend: GEMMBackend, explicit: String?, environment: [String: String],
                                         currentDirectory: String? = nil) -> (paths: [String], named: String?) {
        guard let library = GEMMLibrary.of(backend) else { return ([], nil) }
        let names = library.files
        func absolute(_ given: String) -> String {
            var path = given
            if path == "~" || path.hasPrefix("~/"), let home = environment["HOME"] { path = home + path.dropFirst() }
            if !path.hasPrefix("/"), let cwd = currentDirectory { path = (cwd.hasSuffix("/") ? cwd : cwd + "/") + path }
            return path
        }
        func expand(_ given: String) -> [String] {
            let path = absolute(given)
            var info = stat()
            let isFile = stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
            if isFile || path.hasSuffix(".so") || path.contains(".so.") { return [path] }
            let dir = path.hasSuffix("/") ? String(path.dropLast()) : path
            return names.map { "\(dir)/\($0)" } + names.map { "\(dir)/lib/\($0)" }
        }
        if let explicit, !explicit.isEmpty { return (expand(explicit), "\(library.configKey) (\(explicit))") }
        if let env = environment[library.variable], !env.isEmpty { return (expand(env), "\(library.variable) (\(env))") }
        var out: [String] = []
        let home = environment[library.homeVariable].flatMap { $0.isEmpty ? nil : absolute($0) }
            ?? environment["HOME"].map { "\($0)/\(library.defaultHome)" }
        if let home { out += names.map { "\(home)/lib/\($0)" } }
        for key in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
            if let prefix = environment[key], !prefix.isEmpty { out += names.map { "\(prefix)/lib/\($0)" } }
        }
        out += names
        var seen = Set<String>()
        return (out.filter { seen.insert($0).inserted }, nil)
    }

    /// Whether `backend` and `precision` can run on a CPU with `features`: bf16 needs oneDNN or
    /// MKL (Debian's OpenBLAS 0.3.21 has no bf16 product) and a CPU with AMX-BF16 or
    /// AVX512_BF16 (elsewhere bf16 is emulated, slower than fp32). Pure.
    /// - Throws: `GEMMBackendError` saying which and what to use instead.
    public static func check(backend: GEMMBackend, precision: GEMMPrecision, features: CPUFeatures) throws {
        guard precision == .bf16 else { return }
        guard backend != .openblas else {
            throw GEMMBackendError(message: "precision: bf16 needs gemm_backend: onednn or mkl (OpenBLAS 0.3.21 has no bf16 "
                                   + "product); install oneDNN with `bash Launch/setup_onednn.sh` and set "
                                   + "gemm_backend: onednn")
        }
        guard features.amxBF16 || (features.avx512BF16 && features.osAVX512) else {
            throw GEMMBackendError(message: "precision: bf16 needs a CPU with AMX-BF16 or AVX512_BF16 (this one, "
                                   + "\(CPUFeatures.modelName), has neither, and emulated bf16 is slower than fp32); "
                                   + "use precision: fp32")
        }
    }

    nonisolated(unsafe) private static var loaded: [GEMMBackend: (library: String, version: String)] = [:]

    /// Makes `backend` and `precision` runnable in this process: checks them against the CPU,
    /// loads OpenBLAS (always; `BLASCore`) and, for MKL or oneDNN, that library from `library`
    /// or the first of `libraryCandidates` that loads, with `threads` threads (MKL's threading
    /// layer is fixed by the first load: SEQUENTIAL for 1 thread, else INTEL). Later calls reuse
    /// the loaded library.
    /// - Throws: `GEMMBackendError` when the settings cannot run on this CPU or the library does
    ///   not load (the message lists every path tried and how to install it); `BLASLoadError`.
    @discardableResult
    public static func load(backend: GEMMBackend, precision: GEMMPrecision, library: String? = nil,
                            threads: Int = 1) throws -> GEMMSelection {
        try check(backend: backend, precision: precision, features: .current)
        BLASCore.ensureLoaded()
        guard let spec = GEMMLibrary.of(backend) else { return GEMMSelection(backend: backend, precision: precision) }
        rechub_blas_lock()
        defer { rechub_blas_unlock() }
        func note(version: String) -> String? {
            guard precision == .bf16 else { return nil }
            if backend == .mkl && CPUFeatures.current.vendor != "GenuineIntel" {
                return "MKL runs bf16 products through its fp32 kernels on this \(CPUFeatures.current.vendor) CPU (measured on "
                    + "AMD EPYC Zen 4): bf16 changes the results here and is no faster than fp32 (slower with several "
                    + "threads, as the bf16 conversion runs on one); gemm_backend: onednn runs bf16 natively"
            }
            return nil
        }
        /// oneDNN in bf16 must run bf16 instructions and make the layers' products, or the run
        /// would be labelled bf16 while emulating it or falling back to OpenBLAS fp32.
        func checkOneDNN(version: String) throws {
            guard backend == .onednn else { return }
            let isa = version.split(separator: ",").last.map { String($0.drop(while: { $0 == " " })) } ?? "?"
            if precision == .bf16 && rechub_onednn_isa_has_bf16() == 0 {
                throw GEMMBackendError(message: "precision: bf16 needs oneDNN's kernels to run bf16 instructions, but here "
                                       + "they run at \(isa) (is ONEDNN_MAX_CPU_ISA set?); bf16 would be emulated, slower "
                                       + "than fp32. Use precision: fp32")
            }
            // The layers' three forms (forward NT, weight gradient TN with beta 1, input gradient NN).
            try withSettings(GEMMSelection(backend: backend, precision: precision)) {
                for (ta, tb, beta) in [(Transpose.none, Transpose.transposed, Float(0)), (.transposed, .none, 1), (.none, .none, 0)] {
                    if oneDNNImplementation(ta, tb, m: 64, n: 48, k: 40, lda: ta == .none ? 40 : 64, ldb: tb == .none ? 48 : 40,
                                            ldc: 48, beta: beta) == nil {
                        throw GEMMBackendError(message: "oneDNN (\(version)) cannot make \(precision.rawValue) matmuls here; "
                                               + "use gemm_backend: openblas")
                    }
                }
            }
        }
        var environment: [String: String] = [:]
        for key in [spec.variable, spec.homeVariable, "HOME", "VIRTUAL_ENV", "CONDA_PREFIX"] {
            if let p = getenv(key) { environment[key] = String(cString: p) }
        }
        var cwd: String?
        if let p = getcwd(nil, 0) { cwd = String(cString: p); free(p) }
        if let done = loaded[backend] {
            if let library, !libraryCandidates(backend, explicit: library, environment: environment,
                                               currentDirectory: cwd).paths.contains(done.library) {
                throw GEMMBackendError(message: "\(spec.configKey) (\(library)) asks for another \(spec.name) than the one "
                                       + "this process loaded first (\(done.library)); one process runs one \(spec.name)")
            }
            try checkOneDNN(version: done.version)
            return GEMMSelection(backend: backend, precision: precision, library: done.library, version: done.version,
                                 note: note(version: done.version))
        }
        var tried: [String] = []
        let (paths, named) = libraryCandidates(backend, explicit: library, environment: environment, currentDirectory: cwd)
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
            let threadCount = Int32(max(threads, 1))
            let opened = backend == .mkl ? rechub_mkl_open(resolved, threadCount, &error, error.count)
                : rechub_onednn_open(resolved, threadCount, &error, error.count)
            if opened >= 0 {
                var buffer = [CChar](repeating: 0, count: 256)
                if backend == .mkl { rechub_mkl_version(&buffer, Int32(buffer.count)) }
                else { rechub_onednn_version(&buffer, Int32(buffer.count)) }
                let version = String(cBuffer: buffer)
                loaded[backend] = (path, version)
                try checkOneDNN(version: version)
                return GEMMSelection(backend: backend, precision: precision, library: path, version: version,
                                     note: note(version: version))
            }
            tried.append("\(path) (\(String(cBuffer: error)))")
        }
        let file = spec.files.last!
        if let named {
            throw GEMMBackendError(message: "gemm_backend: \(backend.rawValue), but \(named) does not load \(spec.name). Tried: "
                                   + tried.joined(separator: "; ") + ". Give the path of \(file) (or its folder), or "
                                   + (named.hasPrefix(spec.variable) ? "unset \(spec.variable)" : "unset it (`--set \(spec.configKey)=null`)")
                                   + " to use the \(spec.name) that `\(spec.setup)` installs")
        }
        let home = environment[spec.homeVariable].flatMap { $0.isEmpty ? nil : $0 } ?? "~/\(spec.defaultHome)"
        throw GEMMBackendError(message: "gemm_backend: \(backend.rawValue), but no \(spec.name) library loads. Tried: "
                               + tried.joined(separator: "; ") + ". Install it with `\(spec.setup)` (from PyPI into \(home)), "
                               + "or give the path of \(file) in \(spec.configKey) or \(spec.variable)")
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
    /// change while `body` runs. Pins nest (the expert bank's input, and inside it each layer's
    /// output gradient, which feeds both the weight and the input gradient's products); up to
    /// four are held at once, and a deeper one converts per product (still correct).
    public static func withPinnedInput<T>(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int,
                                          _ body: () throws -> T) rethrows -> T {
        guard current.precision == .bf16 else { return try body() }
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
        case Int(RECHUB_GEMM_ONEDNN_FP32): return (.onednn, .fp32)
        case Int(RECHUB_GEMM_ONEDNN_BF16): return (.onednn, .bf16)
        default: return (.openblas, .fp32)
        }
    }

    /// Sets the thread count of MKL (when loaded with the INTEL threading layer) and oneDNN.
    static func setLibraryThreads(_ n: Int) {
        if rechub_mkl_is_loaded() != 0 { rechub_mkl_set_num_threads(Int32(n)) }
        if rechub_onednn_is_loaded() != 0 { rechub_onednn_set_num_threads(Int32(n)) }
    }

    /// How many products oneDNN could not make, so that OpenBLAS ran them in fp32 (said once on
    /// stderr when it first happens); 0 when every product ran on oneDNN.
    public static var oneDNNFallbacks: UInt64 { UInt64(rechub_onednn_fallbacks()) }

    /// The implementation oneDNN picks for a product as `gemm` would run it on this thread
    /// (e.g. "brg:avx512_core_bf16"), nil when oneDNN is not loaded or cannot make it. For the
    /// bench and tests: a "ref" implementation is a slow reference loop.
    public static func oneDNNImplementation(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                                            lda: Int, ldb: Int, ldc: Int, alpha: Float = 1, beta: Float) -> String? {
        let bf16 = current.precision == .bf16
        let ta = transA == .none ? Int32(RECHUB_CBLAS_NO_TRANS) : Int32(RECHUB_CBLAS_TRANS)
        let tb = transB == .none ? Int32(RECHUB_CBLAS_NO_TRANS) : Int32(RECHUB_CBLAS_TRANS)
        // bf16 copies are contiguous: their row strides are the stored widths.
        let a = bf16 ? (transA == .none ? k : m) : lda, b = bf16 ? (transB == .none ? n : k) : ldb
        var buffer = [CChar](repeating: 0, count: 128)
        guard rechub_onednn_impl(bf16 ? 1 : 0, ta, tb, Int32(m), Int32(n), Int32(k), Int32(a), Int32(b), Int32(ldc),
                                 alpha, beta, &buffer, Int32(buffer.count)) == 0 else { return nil }
        return String(cBuffer: buffer)
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
