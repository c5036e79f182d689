import RecHubRandom
import Foundation

/// Why a checkpoint was refused; every case names the file and, where it applies, the section.
public enum CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file is not a RecHub checkpoint (wrong magic) or is shorter than a header.
    case notACheckpoint(file: String)
    /// A format version this build cannot read.
    case unsupportedVersion(file: String, version: UInt32)
    /// The header or section table is inconsistent (checksum, sizes, offsets, overlaps).
    case badHeader(file: String, reason: String)
    /// A section's bytes do not match its checksum, or its size is not what it must be.
    case badSection(file: String, section: String, reason: String)
    /// A section the reader needs is absent.
    case missingSection(file: String, section: String)
    /// The checkpoint belongs to another model or data layout.
    case incompatible(file: String, reason: String)
    /// The file could not be read or written.
    case io(file: String, reason: String)
    /// No valid checkpoint in a folder.
    case noValidCheckpoint(directory: String, rejected: [String])

    public var description: String {
        switch self {
        case let .notACheckpoint(file): return "\(file): not a RecHub checkpoint"
        case let .unsupportedVersion(file, v): return "\(file): checkpoint format version \(v) is not supported (this build reads 1)"
        case let .badHeader(file, reason): return "\(file): corrupt checkpoint header: \(reason)"
        case let .badSection(file, section, reason): return "\(file): section '\(section)' is corrupt: \(reason)"
        case let .missingSection(file, section): return "\(file): section '\(section)' is missing"
        case let .incompatible(file, reason): return "\(file): checkpoint does not fit this run: \(reason)"
        case let .io(file, reason): return "\(file): \(reason)"
        case let .noValidCheckpoint(dir, rejected):
            return "\(dir): no valid checkpoint" + (rejected.isEmpty
                ? " (a run stopped before its first checkpoint has nothing to resume: start it again without --resume)"
                : " (rejected: " + rejected.joined(separator: "; ") + ")")
        }
    }
}
