import CBLAS
#if canImport(Glibc)
import Glibc
#endif

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
