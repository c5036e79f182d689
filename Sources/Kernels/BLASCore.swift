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
            throw BLASLoadError(message: "RecHub could not load OpenBLAS: \(String(decoding: error.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)). Install it "
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

/// The outcome of checking a core in a child process.
public struct BLASProbe: Sendable, Equatable {
    /// 0 passed; 1 wrong result; 2 could not load; 3 killed by a signal; 4 no result.
    public var status: Int
    /// The signal that ended the child (status 3).
    public var signal: Int
    /// The core the child's OpenBLAS ran.
    public var corename: String
    /// Worst error over the checked entries, in units of the rounding bound (≤ 1 passes).
    public var worstRatio: Double
    /// What failed.
    public var detail: String
}

/// How the running OpenBLAS core came to be (shown beside every speed figure).
public enum BLASCoreOrigin: String, Sendable, Codable {
    /// OpenBLAS picked it itself from the CPU id, and RecHub kept it.
    case detected
    /// RecHub chose it (OpenBLAS ran a generic core on a CPU that supports a better one),
    /// after checking it numerically in a child process.
    case chosen
    /// `OPENBLAS_CORETYPE` was set in the environment; RecHub never overrides it.
    case inherited
    /// The `blas_core` key or `RECHUB_BLAS_CORE` named it; checked like a chosen one.
    case requested
}

/// The `blas_core` setting: `auto`, `keep`, or a core name.
public enum BLASCorePolicy: Sendable, Equatable, CustomStringConvertible {
    /// Choose a better core when OpenBLAS runs a generic one on a capable CPU (the default).
    case auto
    /// Always keep OpenBLAS's own choice.
    case keep
    /// This core (one of `BLASCore.knownCores`), if it passes the check.
    case named(String)

    /// Parses `auto`, `keep` or a core name (case-insensitive).
    /// - Throws: `BLASLoadError` naming the value and the accepted ones.
    public init(parsing text: String) throws {
        let t = text.trimmingWhitespace()
        switch t.lowercased() {
        case "auto": self = .auto
        case "keep": self = .keep
        default:
            guard let name = BLASCore.knownCores.first(where: { $0.lowercased() == t.lowercased() }) else {
                throw BLASLoadError(message: "'\(text)' is not auto, keep or an OpenBLAS core ("
                                    + BLASCore.knownCores.joined(separator: ", ") + ")")
            }
            self = .named(name)
        }
    }

    /// `RECHUB_BLAS_CORE`, or auto when unset.
    /// - Throws: `BLASLoadError` when the variable holds something else.
    public static func fromEnvironment() throws -> BLASCorePolicy {
        guard let p = getenv("RECHUB_BLAS_CORE") else { return .auto }
        do { return try BLASCorePolicy(parsing: String(cString: p)) } catch let e as BLASLoadError {
            throw BLASLoadError(message: "RECHUB_BLAS_CORE: " + e.message)
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .keep: return "keep"
        case .named(let n): return n
        }
    }
}

/// What `BLASCore.decide` says to do.
public enum BLASCoreDecision: Sendable, Equatable {
    /// Keep `OPENBLAS_CORETYPE` from the environment.
    case inherit(String)
    /// Keep OpenBLAS's own choice.
    case keep(reason: String)
    /// Check this core in a child process and load it if it passes.
    case check(String, origin: BLASCoreOrigin)
}

/// The outcome of choosing and loading OpenBLAS.
public struct BLASCoreSelection: Sendable, Equatable {
    /// The core running the products.
    public var core: String
    /// How it was picked.
    public var origin: BLASCoreOrigin
    /// The core OpenBLAS picked by itself, when known.
    public var detected: String?
    /// The policy that applied.
    public var policy: BLASCorePolicy
    /// Why a chosen or requested core was not used, or another thing worth saying once.
    public var note: String?
    /// The library loaded.
    public var library: String

    /// "SkylakeX (chosen over OpenBLAS's generic Prescott, checked)".
    public var summary: String {
        switch origin {
        case .detected: return "\(core) (detected by OpenBLAS)"
        case .chosen: return "\(core) (chosen over OpenBLAS's generic \(detected ?? "core"), checked)"
        case .inherited: return "\(core) (from OPENBLAS_CORETYPE)"
        case .requested: return "\(core) (requested by blas_core, checked)"
        }
    }
}

/// OpenBLAS cannot be loaded, or a core setting is wrong.
public struct BLASLoadError: Error, CustomStringConvertible, Sendable {
    /// What went wrong and what to do.
    public var message: String
    public var description: String { message }
}

/// What CPUID and XGETBV report (x86-64).
public struct CPUFeatures: Sendable, Equatable {
    /// "GenuineIntel", "AuthenticAMD", …
    public var vendor: String
    /// Display family and model.
    public var family: Int, model: Int
    /// Instruction-set flags.
    public var avx2: Bool, fma: Bool
    /// AVX-512 foundation and the subsets OpenBLAS's SkylakeX kernels use.
    public var avx512F: Bool, avx512BW: Bool, avx512DQ: Bool, avx512VL: Bool, avx512CD: Bool
    /// AVX512_BF16 (Cooperlake and later) and AMX.
    public var avx512BF16: Bool, amxTile: Bool, amxBF16: Bool
    /// Whether the OS saves the YMM (AVX) and the opmask/ZMM (AVX-512) states.
    public var osAVX: Bool, osAVX512: Bool

    /// Builds a feature set (for tests); every flag defaults to off.
    public init(vendor: String = "GenuineIntel", family: Int = 6, model: Int = 0, avx2: Bool = false, fma: Bool = false,
                avx512F: Bool = false, avx512BW: Bool = false, avx512DQ: Bool = false, avx512VL: Bool = false,
                avx512CD: Bool = false, avx512BF16: Bool = false, amxTile: Bool = false, amxBF16: Bool = false,
                osAVX: Bool = false, osAVX512: Bool = false) {
        self.vendor = vendor; self.family = family; self.model = model; self.avx2 = avx2; self.fma = fma
        self.avx512F = avx512F; self.avx512BW = avx512BW; self.avx512DQ = avx512DQ; self.avx512VL = avx512VL
        self.avx512CD = avx512CD; self.avx512BF16 = avx512BF16; self.amxTile = amxTile; self.amxBF16 = amxBF16
        self.osAVX = osAVX; self.osAVX512 = osAVX512
    }

    /// This machine's CPU.
    public static let current: CPUFeatures = {
        var f = rechub_cpu_features()
        rechub_cpu_detect(&f)
        let vendor = withUnsafeBytes(of: f.vendor) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return CPUFeatures(vendor: vendor, family: Int(f.family), model: Int(f.model), avx2: f.avx2 != 0,
                           fma: f.fma != 0, avx512F: f.avx512f != 0, avx512BW: f.avx512bw != 0,
                           avx512DQ: f.avx512dq != 0, avx512VL: f.avx512vl != 0, avx512CD: f.avx512cd != 0,
                           avx512BF16: f.avx512_bf16 != 0, amxTile: f.amx_tile != 0, amxBF16: f.amx_bf16 != 0,
                           osAVX: f.os_avx != 0, osAVX512: f.os_avx512 != 0)
    }()

    /// AVX-512 F, BW, DQ, VL and CD, with the OS saving the ZMM state.
    public var supportsAVX512: Bool { avx512F && avx512BW && avx512DQ && avx512VL && avx512CD && osAVX512 && osAVX }
    /// AVX2 and FMA, with the OS saving the YMM state.
    public var supportsAVX2FMA: Bool { avx2 && fma && osAVX }
    /// An AMD (or Hygon) CPU.
    public var isAMD: Bool { vendor == "AuthenticAMD" || vendor == "HygonGenuine" }

    /// The CPU's marketing name from /proc/cpuinfo ("Intel(R) Xeon(R) …"), or "unknown".
    public static let modelName: String = {
        guard let f = fopen("/proc/cpuinfo", "r") else { return "unknown" }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>?
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0, let l = line {
            let s = String(cString: l)
            if s.hasPrefix("model name"), let colon = s.firstIndex(of: ":") {
                return String(s[s.index(after: colon)...]).trimmingWhitespace()
            }
        }
        return "unknown"
    }()

    /// "GenuineIntel family 6 model 207: AVX-512 (BF16), AMX".
    public var summary: String {
        var parts: [String] = []
        if supportsAVX512 { parts.append("AVX-512" + (avx512BF16 ? " (BF16)" : "")) }
        else if supportsAVX2FMA { parts.append("AVX2+FMA") }
        if amxTile { parts.append("AMX") }
        return "\(vendor) family \(family) model \(model)" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", "))
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
