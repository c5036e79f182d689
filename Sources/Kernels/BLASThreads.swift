import CBLAS
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The BLAS libraries' thread count (OpenBLAS's, MKL's once loaded with more than one, oneDNN's).
public enum BLASThreads {
    /// Sets how many threads OpenBLAS uses for each call.
    public static func set(_ n: Int) {
        precondition(n >= 1, "BLAS thread count must be at least 1, got \(n)")
        BLASCore.ensureLoaded()
        rechub_blas_set_num_threads(Int32(n))
        GEMMEngine.setLibraryThreads(n)
    }

    /// How many threads OpenBLAS uses now.
    public static var current: Int {
        BLASCore.ensureLoaded()
        return Int(rechub_blas_get_num_threads())
    }
}
