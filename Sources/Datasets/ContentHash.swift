#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fast 64-bit hash of a byte stream, the same however the stream is cut into chunks: the
/// key of the binary cache (`DatasetCache`) on the CSV's content.
///
/// ```
/// lane j (j = 0..<8): h_j = rotl((h_j ^ w_j) · P, 31)   over the 64-byte blocks of the stream,
///                     w_j its j-th little-endian word; the last 0..<64 bytes zero-padded
/// result:             the exact byte count, then the eight lanes, folded with SplitMix64's finaliser
/// ```
/// Every step is a bijection of the lane state, so any single changed word changes the result;
/// the byte count tells trailing zero bytes apart. It detects edits, not adversaries (not a
/// cryptographic hash). The eight lanes are independent, so it runs at memory speed.
struct ContentHash {
    private static let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
    private var lanes: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344, 0xA409_3822_299F_31D0, 0x082E_FA98_EC4E_6C89,
         0x4528_21E6_38D0_1377, 0xBE54_66CF_34E9_0C6C, 0xC0AC_29B7_C97C_50DD, 0x3F84_D5B5_B547_0917)
    /// The bytes of an unfinished block (fewer than 64), zero beyond `pendingCount`.
    private var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var pendingCount = 0
    /// Bytes fed so far.
    private(set) var byteCount: UInt64 = 0

    /// A hash of nothing yet.
    init() {}

    /// Feeds `count` bytes at `bytes`.
    mutating func update(_ bytes: UnsafeRawPointer, count: Int) {
        precondition(count >= 0, "ContentHash.update: negative count \(count)")
        byteCount &+= UInt64(count)
        var offset = 0
        if pendingCount > 0 {
            let take = min(64 - pendingCount, count)
            let pendingCount = self.pendingCount
            withUnsafeMutableBytes(of: &pending) { ($0.baseAddress! + pendingCount).copyMemory(from: bytes, byteCount: take) }
            self.pendingCount += take
            offset = take
            guard self.pendingCount == 64 else { return }
            let block = pending
            withUnsafeBytes(of: block) { blocks($0.baseAddress!, count: 1) }
            pending = (0, 0, 0, 0, 0, 0, 0, 0)
            self.pendingCount = 0
        }
        let whole = (count - offset) / 64
        if whole > 0 { blocks(bytes + offset, count: whole) }
        offset += whole * 64
        if offset < count {
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: bytes + offset, byteCount: count - offset) }
            pendingCount = count - offset
        }
    }

    /// Runs `count` whole 64-byte blocks at `p` through the lanes.
    @inline(__always)
    private mutating func blocks(_ p: UnsafeRawPointer, count: Int) {
        var (h0, h1, h2, h3, h4, h5, h6, h7) = lanes
        @inline(__always) func step(_ h: UInt64, _ w: UInt64) -> UInt64 {
            let x = (h ^ UInt64(littleEndian: w)) &* Self.multiplier
            return (x << 31) | (x >> 33)
        }
        var q = p
        for _ in 0..<count {
            h0 = step(h0, q.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            h1 = step(h1, q.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            h2 = step(h2, q.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            h3 = step(h3, q.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            h4 = step(h4, q.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            h5 = step(h5, q.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
            h6 = step(h6, q.loadUnaligned(fromByteOffset: 48, as: UInt64.self))
            h7 = step(h7, q.loadUnaligned(fromByteOffset: 56, as: UInt64.self))
            q += 64
        }
        lanes = (h0, h1, h2, h3, h4, h5, h6, h7)
    }

    /// The hash of everything fed so far (feeding may continue afterwards).
    func finalize() -> UInt64 {
        var copy = self
        if copy.pendingCount > 0 {
            let block = copy.pending
            withUnsafeBytes(of: block) { copy.blocks($0.baseAddress!, count: 1) }
        }
        let l = copy.lanes
        var h = Self.mix(byteCount ^ 0x5241_5743_5356_4831)  // "RAWCSVH1"
        for lane in [l.0, l.1, l.2, l.3, l.4, l.5, l.6, l.7] { h = Self.mix(h ^ lane) }
        return h
    }

    /// SplitMix64's finaliser.
    private static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The hash of the whole file at `path`, read once from start to end.
    static func ofFile(_ path: String) throws(DatasetError) -> UInt64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotRead(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        #if canImport(Glibc)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        #endif
        // 1 MiB: large enough for few system calls, small enough to stay in cache while hashed.
        let capacity = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        defer { buffer.deallocate() }
        var hash = ContentHash()
        while true {
            let got = read(fd, buffer, capacity)
            if got < 0 {
                if errno == EINTR { continue }
                throw .cannotRead(file: path, reason: String(cString: strerror(errno)))
            }
            if got == 0 { break }
            hash.update(buffer, count: got)
        }
        return hash.finalize()
    }
}
