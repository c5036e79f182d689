import CBLAS
#if canImport(Glibc)
import Glibc
#endif

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
