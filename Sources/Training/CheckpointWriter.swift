import RecHubRandom
import Foundation

/// Writes a checkpoint atomically: temporary file, write, fsync, rename, fsync of the folder.
/// A process killed at any point leaves either the old file or the complete new one.
public struct CheckpointWriter {
    /// The header fields.
    public var header: CheckpointHeader
    /// Named sections, in order.
    public private(set) var sections: [(name: String, bytes: Data)] = []

    /// Starts a checkpoint with `header`.
    public init(header: CheckpointHeader) { self.header = header }

    /// Adds a section (names are ASCII, at most 24 bytes, unique).
    public mutating func add(_ name: String, _ bytes: Data) {
        precondition(name.utf8.count <= CheckpointFormat.nameSize && !name.isEmpty, "bad section name \(name)")
        precondition(!sections.contains { $0.name == name }, "section \(name) added twice")
        precondition(sections.count < CheckpointFormat.maxSections, "too many sections")
        sections.append((name, bytes))
    }

    /// Adds a section holding `count` floats from `pointer`.
    public mutating func add(_ name: String, floats pointer: UnsafePointer<Float>, count: Int) {
        add(name, Data(bytes: pointer, count: count * 4))
    }

    /// The whole file's bytes.
    public func encoded() -> Data {
        func align(_ x: Int) -> Int { (x + 63) / 64 * 64 }
        let tableEnd = CheckpointFormat.headerSize + sections.count * CheckpointFormat.entrySize + 8
        var offsets: [Int] = []
        var next = align(tableEnd)
        for s in sections {
            offsets.append(next)
            next = align(next + s.bytes.count)
        }
        let fileSize = sections.isEmpty ? tableEnd : offsets.last! + sections.last!.bytes.count
        var out = Data(count: fileSize)
        out.withUnsafeMutableBytes { raw in
            func put<T: FixedWidthInteger>(_ v: T, _ at: Int) { raw.storeBytes(of: v.littleEndian, toByteOffset: at, as: T.self) }
            for (i, b) in CheckpointFormat.magic.enumerated() { raw[i] = b }
            put(CheckpointFormat.version, 8)
            put(UInt32(CheckpointFormat.headerSize), 12)
            put(UInt32(sections.count), 16)
            put(UInt64(fileSize), 24)
            put(header.configFingerprint, 32)
            put(header.step, 40)
            put(header.epoch, 48)
            put(header.stepInEpoch, 56)
            put(checksum64(UnsafeRawBufferPointer(rebasing: raw[0..<120])), 120)
            for (k, s) in sections.enumerated() {
                let e = CheckpointFormat.headerSize + k * CheckpointFormat.entrySize
                for (j, b) in s.name.utf8.enumerated() { raw[e + j] = b }
                put(UInt64(offsets[k]), e + 24)
                put(UInt64(s.bytes.count), e + 32)
                s.bytes.withUnsafeBytes { src in
                    put(checksum64(src), e + 40)
                    if src.count > 0 {
                        (raw.baseAddress! + offsets[k]).copyMemory(from: src.baseAddress!, byteCount: src.count)
                    }
                }
            }
            let tableStart = CheckpointFormat.headerSize
            put(checksum64(UnsafeRawBufferPointer(rebasing: raw[tableStart..<(tableEnd - 8)])), tableEnd - 8)
        }
        return out
    }

    /// Writes the file atomically to `path`.
    /// - Throws: `CheckpointError.io` naming the temporary file when it cannot be created or
    ///   written and synced, or naming `path` when the rename onto it fails.
    public func write(to path: String) throws {
        let data = encoded()
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let temp = "\(path).tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointError.io(file: temp, reason: "cannot create: \(String(cString: strerror(errno)))") }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { ok = false; return }
                off += n
            }
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard ok && synced else {
            unlink(temp)
            throw CheckpointError.io(file: temp, reason: "write failed: \(String(cString: strerror(errno)))")
        }
        guard rename(temp, path) == 0 else {
            unlink(temp)
            throw CheckpointError.io(file: path, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
