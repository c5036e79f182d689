import RecHubRandom
import Foundation

/// A 64-bit checksum of bytes: FNV-1a over little-endian 8-byte words, then the tail bytes.
public func checksum64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h = FNV1a()
    let words = bytes.count / 8
    for i in 0..<words {
        h.combine(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
        h.value ^= h.value >> 29
    }
    for i in (words * 8)..<bytes.count { h.combine(UInt64(bytes[i])) }
    return h.value
}

/// The on-disk checkpoint format (DESIGN.md §7), version 1.
///
/// ```
/// header, 128 bytes:  magic "RHCKPT\0\u{1}" · version u32 · header size u32 · section count u32 ·
///                     reserved u32 · file size u64 · config fingerprint u64 · step u64 · epoch u64 ·
///                     step in epoch u64 · padding · header checksum u64 (bytes 0..<120)
/// table, 48 bytes a section: name (24 bytes, NUL-padded) · offset u64 · length u64 · checksum u64
/// table checksum u64, then the sections, each starting 64-byte aligned
/// ```
/// All integers little-endian. A reader checks the magic, the version, the header and table
/// checksums, that every section lies inside the file without overlapping another, that the
/// alignment padding is zero, and a section's checksum when it is read, before it trusts any
/// size: every byte of the file is covered.
public enum CheckpointFormat {
    /// The first eight bytes of every checkpoint.
    public static let magic: [UInt8] = Array("RHCKPT".utf8) + [0, 1]
    /// The version this build writes and reads.
    public static let version: UInt32 = 1
    static let headerSize = 128
    static let entrySize = 48
    static let nameSize = 24
    /// The most sections a file may declare.
    public static let maxSections = 64
}

/// The fixed fields of a checkpoint header.
public struct CheckpointHeader: Sendable, Equatable {
    /// Fingerprint of the model and data layout the checkpoint belongs to.
    public var configFingerprint: UInt64
    /// Optimizer steps taken.
    public var step: UInt64
    /// The epoch in progress (from 1), or the next one when a whole epoch ended.
    public var epoch: UInt64
    /// Steps already taken in `epoch`.
    public var stepInEpoch: UInt64

    /// Describes a checkpoint position.
    public init(configFingerprint: UInt64, step: UInt64, epoch: UInt64, stepInEpoch: UInt64) {
        self.configFingerprint = configFingerprint
        self.step = step
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
    }
}

/// A checkpoint read from disk and checked: header, table and section bounds on open, each
/// section's checksum when it is read. Nothing is allocated from a size before it is checked
/// against the file's length.
public struct CheckpointFile: Sendable {
    /// Where it was read from.
    public let path: String
    /// The header fields.
    public let header: CheckpointHeader
    /// Section names in file order, with their lengths.
    public let sections: [(name: String, length: Int)]
    private let data: Data
    private let entries: [String: (offset: Int, length: Int, checksum: UInt64)]

    /// Reads and validates `path` (header, table, bounds).
    /// - Throws: `CheckpointError.io` when the file cannot be read; otherwise what
    ///   `init(data:path:)` throws.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = access(path, R_OK) == 0 ? "not a readable file" : String(cString: strerror(errno))
            throw CheckpointError.io(file: path, reason: "cannot read: \(reason)")
        }
        try self.init(data: data, path: path)
    }

    /// Validates checkpoint bytes; `path` names them in errors.
    /// - Throws: `CheckpointError.notACheckpoint` (short or wrong magic), `.unsupportedVersion`,
    ///   `.badHeader` (checksums, sizes, names, duplicates, non-zero padding) or `.badSection`
    ///   (a section outside the file or overlapping another).
    public init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        guard data.count >= CheckpointFormat.headerSize,
              Array(data.prefix(8)) == CheckpointFormat.magic else { throw CheckpointError.notACheckpoint(file: path) }
        func u32(_ at: Int) -> UInt32 { data.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) } }
        func u64(_ at: Int) -> UInt64 { data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) } }
        let version = u32(8)
        guard version == CheckpointFormat.version else { throw CheckpointError.unsupportedVersion(file: path, version: version) }
        let headerSum = data.withUnsafeBytes { checksum64(UnsafeRawBufferPointer(rebasing: $0[0..<120])) }
        guard headerSum == u64(120) else { throw CheckpointError.badHeader(file: path, reason: "header checksum mismatch") }
        guard Int(u32(12)) == CheckpointFormat.headerSize else {
            throw CheckpointError.badHeader(file: path, reason: "header size \(u32(12))")
        }
        let count = Int(u32(16))
        guard count <= CheckpointFormat.maxSections else {
            throw CheckpointError.badHeader(file: path, reason: "\(count) sections (at most \(CheckpointFormat.maxSections))")
        }
        let fileSize = u64(24)
        guard fileSize == UInt64(data.count) else {
            throw CheckpointError.badHeader(file: path, reason: "declares \(fileSize) bytes, file has \(data.count) (truncated?)")
        }
        let tableEnd = CheckpointFormat.headerSize + count * CheckpointFormat.entrySize + 8
        guard tableEnd <= data.count else { throw CheckpointError.badHeader(file: path, reason: "section table past the end") }
        let tableSum = data.withUnsafeBytes {
            checksum64(UnsafeRawBufferPointer(rebasing: $0[CheckpointFormat.headerSize..<(tableEnd - 8)]))
        }
        guard tableSum == u64(tableEnd - 8) else { throw CheckpointError.badHeader(file: path, reason: "section table checksum mismatch") }
        header = CheckpointHeader(configFingerprint: u64(32), step: u64(40), epoch: u64(48), stepInEpoch: u64(56))
        var entries: [String: (Int, Int, UInt64)] = [:]
        var list: [(String, Int)] = []
        var spans: [(Int, Int, String)] = []
        for k in 0..<count {
            let e = CheckpointFormat.headerSize + k * CheckpointFormat.entrySize
            let nameBytes = data[(data.startIndex + e)..<(data.startIndex + e + CheckpointFormat.nameSize)].prefix { $0 != 0 }
            guard let name = String(bytes: nameBytes, encoding: .ascii), !name.isEmpty else {
                throw CheckpointError.badHeader(file: path, reason: "section \(k) has no valid name")
            }
            let offset = u64(e + 24), length = u64(e + 32)
            guard offset >= UInt64(tableEnd), length <= UInt64(data.count), offset <= UInt64(data.count) - length else {
                throw CheckpointError.badSection(file: path, section: name, reason: "offset \(offset) + length \(length) outside the file's \(data.count) bytes")
            }
            guard entries[name] == nil else { throw CheckpointError.badHeader(file: path, reason: "section '\(name)' appears twice") }
            entries[name] = (Int(offset), Int(length), u64(e + 40))
            list.append((name, Int(length)))
            spans.append((Int(offset), Int(length), name))
        }
        spans.sort { $0.0 < $1.0 }
        for i in spans.indices.dropFirst() where spans[i - 1].0 + spans[i - 1].1 > spans[i].0 {
            throw CheckpointError.badSection(file: path, section: spans[i].2, reason: "overlaps section '\(spans[i - 1].2)'")
        }
        // Alignment padding is written as zeros and belongs to no section: any other byte there
        // means the file was damaged, so every byte of the file is accounted for.
        var cursor = tableEnd
        for span in spans + [(data.count, 0, "")] {
            if span.0 > cursor {
                let gap = data[(data.startIndex + cursor)..<(data.startIndex + span.0)]
                if let bad = gap.firstIndex(where: { $0 != 0 }) {
                    throw CheckpointError.badHeader(file: path, reason: "non-zero padding at byte \(bad - data.startIndex)")
                }
            }
            cursor = max(cursor, span.0 + span.1)
        }
        self.entries = entries.mapValues { (offset: $0.0, length: $0.1, checksum: $0.2) }
        sections = list.map { (name: $0.0, length: $0.1) }
    }

    /// Whether a section is present.
    public func has(_ name: String) -> Bool { entries[name] != nil }

    /// One small section of the checkpoint file at `path`, read without loading the file: its
    /// header and section table (their checksums checked), then the section alone (its checksum
    /// checked). Nil when the file cannot be read, is not a checkpoint, lacks the section, or
    /// the section is longer than `maxLength` or damaged.
    public static func smallSection(_ name: String, ofFileAt path: String, maxLength: Int = 1 << 16) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let most = CheckpointFormat.headerSize + CheckpointFormat.maxSections * CheckpointFormat.entrySize + 8
        guard let head = try? handle.read(upToCount: most), head.count >= CheckpointFormat.headerSize,
              Array(head.prefix(8)) == CheckpointFormat.magic else { return nil }
        func u32(_ at: Int) -> UInt32 { head.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) } }
        func u64(_ at: Int) -> UInt64 { head.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) } }
        let headerSum = head.withUnsafeBytes { checksum64(UnsafeRawBufferPointer(rebasing: $0[0..<120])) }
        let count = Int(u32(16))
        guard headerSum == u64(120), count <= CheckpointFormat.maxSections else { return nil }
        let tableEnd = CheckpointFormat.headerSize + count * CheckpointFormat.entrySize + 8
        guard tableEnd <= head.count,
              head.withUnsafeBytes({ checksum64(UnsafeRawBufferPointer(rebasing: $0[CheckpointFormat.headerSize..<(tableEnd - 8)])) })
                == u64(tableEnd - 8) else { return nil }
        for k in 0..<count {
            let e = CheckpointFormat.headerSize + k * CheckpointFormat.entrySize
            let nameBytes = head[e..<(e + CheckpointFormat.nameSize)].prefix { $0 != 0 }
            guard String(bytes: nameBytes, encoding: .ascii) == name else { continue }
            let (offset, length, sum) = (u64(e + 24), u64(e + 32), u64(e + 40))
            guard length <= UInt64(maxLength), (try? handle.seek(toOffset: offset)) != nil,
                  let bytes = try? handle.read(upToCount: Int(length)), bytes.count == Int(length),
                  bytes.withUnsafeBytes({ checksum64($0) }) == sum else { return nil }
            return bytes
        }
        return nil
    }

    /// A section's bytes, after checking its checksum (and its length, when `expectedLength` is given).
    /// - Throws: `CheckpointError.missingSection`, or `.badSection` naming the section (wrong
    ///   length or checksum mismatch).
    public func section(_ name: String, expectedLength: Int? = nil) throws -> Data {
        guard let e = entries[name] else { throw CheckpointError.missingSection(file: path, section: name) }
        if let expectedLength, expectedLength != e.length {
            throw CheckpointError.badSection(file: path, section: name, reason: "\(e.length) bytes, expected \(expectedLength)")
        }
        let bytes = data[(data.startIndex + e.offset)..<(data.startIndex + e.offset + e.length)]
        let sum = bytes.withUnsafeBytes { checksum64($0) }
        guard sum == e.checksum else { throw CheckpointError.badSection(file: path, section: name, reason: "checksum mismatch") }
        return Data(bytes)
    }

    /// Copies a section of `count` floats into `pointer` after checking length, checksum and
    /// that every value is finite.
    /// - Throws: `CheckpointError.missingSection`, or `.badSection` naming the section (wrong
    ///   length, checksum mismatch, or the first value that is NaN or infinite).
    public func read(_ name: String, floats pointer: UnsafeMutablePointer<Float>, count: Int) throws {
        let bytes = try section(name, expectedLength: count * 4)
        guard count > 0 else { return }
        try checkFinite(name, bytes)
        bytes.withUnsafeBytes { UnsafeMutableRawPointer(pointer).copyMemory(from: $0.baseAddress!, byteCount: count * 4) }
    }

    /// The sections that hold Float32 arrays (parameters, embeddings, optimizer and layer state):
    /// every value must be finite.
    public static let floatSections: Set<String> = [
        "params", "embeddings", "adam.m", "adam.v", "adam.emb_m", "adam.emb_v", "model.state",
        "best.params", "best.embeddings",
    ]

    /// Refuses a float section holding NaN or ±infinity (a checkpoint written after training
    /// diverged, or a hostile file whose checksums were recomputed).
    func checkFinite(_ name: String, _ bytes: Data) throws {
        guard bytes.count % 4 == 0 else {
            throw CheckpointError.badSection(file: path, section: name, reason: "\(bytes.count) bytes is not a whole number of floats")
        }
        let bad: Int? = bytes.withUnsafeBytes { raw in
            for i in 0..<(raw.count / 4) {
                let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                if bits & 0x7F80_0000 == 0x7F80_0000 { return i }  // exponent all ones: NaN or infinity
            }
            return nil
        }
        if let bad {
            let v = bytes.withUnsafeBytes { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * bad, as: UInt32.self))) }
            throw CheckpointError.badSection(file: path, section: name, reason: "value \(bad) is \(v) (parameters must be finite)")
        }
    }

    /// Checks one section's checksum and, for a float section, that its values are finite.
    /// - Throws: `CheckpointError` naming the section.
    public func verify(_ name: String) throws {
        let bytes = try section(name)
        if Self.floatSections.contains(name) { try checkFinite(name, bytes) }
    }

    /// `verify` on every section.
    /// - Throws: the first `CheckpointError` found, naming the section.
    public func verifyAll() throws {
        for s in sections { try verify(s.name) }
    }
}
