import CBLAS
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Time spent inside `gemm` while `enabled` (for `rechub bench --profile`; one thread only).
public enum GEMMProfile {
    /// Whether `gemm` accumulates its time and FLOPs.
    nonisolated(unsafe) public static var enabled = false
    /// Seconds inside `cblas_sgemm` since the last reset.
    nonisolated(unsafe) public static var seconds = 0.0
    /// FLOPs of those products.
    nonisolated(unsafe) public static var flops = 0.0

    /// Zeroes the totals.
    public static func reset() { seconds = 0; flops = 0 }

    @usableFromInline static func now() -> Double { monotonicSeconds() }
}
