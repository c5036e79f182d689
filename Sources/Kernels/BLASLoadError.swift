import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS cannot be loaded, or a core setting is wrong.
public struct BLASLoadError: Error, CustomStringConvertible, Sendable {
    /// What went wrong and what to do.
    public var message: String
    public var description: String { message }
}
