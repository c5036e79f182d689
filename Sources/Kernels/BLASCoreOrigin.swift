import CBLAS
#if canImport(Glibc)
import Glibc
#endif

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
