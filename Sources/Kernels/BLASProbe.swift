import CBLAS
#if canImport(Glibc)
import Glibc
#endif

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
