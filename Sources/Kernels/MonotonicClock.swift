#if canImport(Glibc)
import Glibc
#endif

/// Seconds from a monotonic clock (CLOCK_MONOTONIC): the project's one clock for durations
/// (steps, phases, sgemm time, data loading).
@inlinable
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
