import CBLAS

/// Which of OpenBLAS's kernel sets ("cores") runs the products.
///
/// A `DYNAMIC_ARCH` OpenBLAS picks its core when it loads, from the CPU id, unless
/// `OPENBLAS_CORETYPE` names one. `rechub` never changes that choice: on some processors the
/// environment pins a core on purpose, because older OpenBLAS builds compute wrong results or
/// crash with the core they would pick. `rechub bench` prints the core with its sgemm figure,
/// so that numbers from different machines can be read side by side.
public enum BLASCore {
    /// The core OpenBLAS runs ("Haswell", "SkylakeX", …).
    public static var name: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }
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
}

extension BLASCore {
    /// How the running core was picked.
    public static var origin: BLASCoreOrigin { .detected }
}
