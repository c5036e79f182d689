import CBLAS
import CKernels
#if canImport(Glibc)
import Glibc
#endif

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

    /// The CPUs this process may run on (its affinity mask: `taskset`, mpirun's
    /// `--bind-to core`, a container's cpuset), now; the online CPUs when the mask cannot be read.
    public static var usableCores: Int {
        let count = Int(rechub_usable_cpus())
        return count > 0 ? count : onlineCores
    }

    /// The CPUs online in the machine (node).
    public static var onlineCores: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// "GenuineIntel family 6 model 207: AVX-512 (BF16), AMX".
    public var summary: String {
        var parts: [String] = []
        if supportsAVX512 { parts.append("AVX-512" + (avx512BF16 ? " (BF16)" : "")) }
        else if supportsAVX2FMA { parts.append("AVX2+FMA") }
        if amxTile { parts.append("AMX") }
        return "\(vendor) family \(family) model \(model)" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", "))
    }
}
