import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Which of OpenBLAS's kernel sets ("cores") runs the products, and how it was picked.
///
/// A `DYNAMIC_ARCH` OpenBLAS (Debian's) picks its core once, when it loads, from the CPU id,
/// unless `OPENBLAS_CORETYPE` names one. On a CPU newer than the library it falls back to
/// generic SSE3 kernels (`Prescott`), 4× slower: Debian's 0.3.21 does that on Intel Xeon
/// family 6 model 207 (AVX-512, AMX). So RecHub loads OpenBLAS itself, at run time, after
/// choosing (DESIGN.md §9):
///
/// ```
/// OPENBLAS_CORETYPE set          → keep it                                   (inherited)
/// policy keep                    → OpenBLAS's own choice                     (detected)
/// policy <name>                  → that core, if it passes the check         (requested)
/// policy auto (the default):
///   OpenBLAS's own choice is generic (Prescott, Core2, Katmai, Penryn, …) and the CPU and OS
///   support AVX-512 F/BW/DQ/VL/CD → Cooperlake with AVX512_BF16, else SkylakeX;
///   AVX2 with FMA → Zen on AMD/Hygon, else Haswell                           (chosen)
///   otherwise → OpenBLAS's own choice                                        (detected)
/// ```
/// A chosen or requested core is first checked in a forked child process: sgemm on the
/// layers' shapes and transposes (odd sizes, alpha, beta) against a double-precision
/// reference within the classical rounding bound. If the check fails (a wrong result, a
/// crash, SIGILL, a time-out), OpenBLAS's own choice is kept and `selection.note` says why.
///
/// Loading happens on the first product, or earlier by calling `load(policy:)`; programs that
/// use MPI should call it before `MPI_Init` (the check forks). The policy comes from the
/// caller (the `blas_core` config key), else the `RECHUB_BLAS_CORE` environment variable, else
/// `auto`; the library from `RECHUB_OPENBLAS_LIBRARY`, else `libopenblas.so.0`.
public enum BLASCore {
    /// The core running the products (loads OpenBLAS if needed).
    public static var name: String { selection.core }

    /// How the running core was picked (loads OpenBLAS if needed).
    public static var origin: BLASCoreOrigin { selection.origin }

    /// The whole outcome of the choice (loads OpenBLAS if needed, with the environment's policy;
    /// stops the program with the loader's message if no OpenBLAS can be loaded).
    public static var selection: BLASCoreSelection {
        do { return try load() } catch { fatalError("\(error)") }
    }

    /// OpenBLAS's generic kernel sets: what it runs on a CPU it does not know. Lower-cased.
    public static let genericCores: Set<String> = [
        "katmai", "coppermine", "northwood", "prescott", "banias", "core2", "penryn", "dunnington", "nehalem",
        "atom", "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "unknown", "generic",
    ]

    /// The x86-64 core names OpenBLAS 0.3.21 accepts in `OPENBLAS_CORETYPE`.
    public static let knownCores: [String] = [
        "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn", "Dunnington", "Nehalem",
        "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Sandybridge", "Bulldozer", "Piledriver",
        "Steamroller", "Excavator", "Haswell", "Zen", "SkylakeX", "Cooperlake",
    ]

    /// What to do, from the core OpenBLAS picks by itself (`detected`, nil when not asked),
    /// the CPU's features, `OPENBLAS_CORETYPE` (`environmentCore`, nil when unset) and the
    /// policy. Pure: the table of cases is in the tests.
    public static func decide(detected: String?, features: CPUFeatures, environmentCore: String?,
                              policy: BLASCorePolicy) -> BLASCoreDecision {
        if let environmentCore { return .inherit(environmentCore) }
        switch policy {
        case .keep:
            return .keep(reason: "blas_core is keep")
        case .named(let name):
            return .check(name, origin: .requested)
        case .auto:
            guard let detected else { return .keep(reason: "OpenBLAS's own core is unknown") }
            guard genericCores.contains(detected.lowercased()) else {
                return .keep(reason: "OpenBLAS picked \(detected) itself")
            }
            if features.supportsAVX512 {
                return .check(features.avx512BF16 ? "Cooperlake" : "SkylakeX", origin: .chosen)
            }
            if features.supportsAVX2FMA {
                return .check(features.isAMD ? "Zen" : "Haswell", origin: .chosen)
            }
            return .keep(reason: "the CPU has neither AVX-512 nor AVX2 with FMA")
        }
    }

    nonisolated(unsafe) private static var current: BLASCoreSelection?

    /// Loads OpenBLAS with the core `policy` leads to (nil: `RECHUB_BLAS_CORE`, else auto) and
    /// returns the outcome. Only the first call in a process decides; later calls return it.
    /// - Throws: `BLASLoadError` when no OpenBLAS can be loaded (the message says what was tried
    ///   and how to install it) or `RECHUB_BLAS_CORE` holds an unknown value.
    @discardableResult
    public static func load(policy: BLASCorePolicy? = nil) throws -> BLASCoreSelection {
        rechub_blas_lock()
        defer { rechub_blas_unlock() }
        if let current { return current }
        let s = try choose(policy: policy ?? (try BLASCorePolicy.fromEnvironment()))
        current = s
        return s
    }

    /// Makes sure OpenBLAS is loaded (the hot path is one flag test).
    @inline(__always)
    public static func ensureLoaded() {
        if rechub_blas_is_loaded() == 0 { _ = selection }
    }

    private static func environment(_ key: String) -> String? {
        guard let p = getenv(key) else { return nil }
        return String(cString: p)
    }

    private static func choose(policy: BLASCorePolicy) throws -> BLASCoreSelection {
        let library = environment("RECHUB_OPENBLAS_LIBRARY")
        let libraryName = library ?? "libopenblas.so.0"
        let envCore = environment("OPENBLAS_CORETYPE")
        let features = CPUFeatures.current
        var detected: String?
        var probeNote: String?
        if envCore == nil && policy == .auto {
            let p = probe(core: nil, check: false, library: library)
            if p.status == 0 { detected = p.corename } else { probeNote = p.detail }
        }
        let decision = decide(detected: detected, features: features, environmentCore: envCore, policy: policy)
        var note = probeNote.map { "could not ask OpenBLAS for its own core: \($0)" }
        var origin = BLASCoreOrigin.detected
        var loadCore: String?
        switch decision {
        case .inherit:
            origin = .inherited
        case .keep:
            break
        case .check(let core, let why):
            let p = probe(core: core, check: true, library: library)
            if p.status == 0 && p.corename.lowercased() == core.lowercased() {
                loadCore = core
                origin = why
            } else {
                let reason = p.status == 0 ? "OpenBLAS ran \(p.corename) when asked for \(core)" : p.detail
                note = "the check of OpenBLAS core \(core) failed (\(reason)); kept OpenBLAS's own choice"
            }
        }
        var error = [CChar](repeating: 0, count: 512)
        let rc = rechub_blas_open(library, loadCore, &error, error.count)
        if rc < 0 {
            throw BLASLoadError(message: "RecHub could not load OpenBLAS: \(String(cBuffer: error)). Install it "
                                + "(apt-get install libopenblas-dev, which brings libopenblas0) or set "
                                + "RECHUB_OPENBLAS_LIBRARY to the library's path (tried \(libraryName)).")
        }
        let running = rechub_blas_corename().map { String(cString: $0) } ?? "unknown"
        return BLASCoreSelection(core: running, origin: origin, detected: detected ?? (origin == .detected ? running : nil),
                                 policy: policy, note: note, library: libraryName)
    }

    /// Checks `core` (nil: OpenBLAS's own choice) in a child process: which core a fresh copy
    /// of the library runs and, with `check`, whether its sgemm is right.
    public static func probe(core: String?, check: Bool, library: String? = nil) -> BLASProbe {
        var r = rechub_blas_probe_result()
        rechub_blas_probe(library, core, check ? 1 : 0, 30, &r)
        let corename = withUnsafeBytes(of: r.corename) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let detail = withUnsafeBytes(of: r.detail) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return BLASProbe(status: Int(r.status), signal: Int(r.signal), corename: corename, worstRatio: r.worst_ratio,
                         detail: detail)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

extension BLASCorePolicy: Codable {
    /// Decodes `auto`, `keep` or a core name.
    /// - Throws: `DecodingError.dataCorrupted` for anything else.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        do { self = try BLASCorePolicy(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "\(error)")
        }
    }

    /// Encodes the setting as its text.
    /// - Throws: `EncodingError` when `encoder` cannot take a single string value.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
