import RecHubRandom

/// The two hashes of the binary cache: FNV-1a for small byte strings (header, fingerprint) and a
/// streaming eight-lane multiply-rotate hash for the bulk sections.
///
/// ```
/// FNV-1a:   h = (h ^ byte) · 0x100000001b3,  h₀ = 0xcbf29ce484222325
/// sections: lane j: h_j = rotl((h_j ^ w_j) · P, 31) over 64-byte blocks (tail zero-padded),
///           then the lanes and the byte count are folded with SplitMix64's finaliser
/// ```
/// Every step is a bijection of the lane state, so any single corrupted word changes the result.
struct CacheChecksum {
    /// FNV-1a 64 over `bytes`, continuing from `seed` (`FNV1a`).
    static func fnv1a<S: Sequence>(_ bytes: S, seed: UInt64 = FNV1a.offsetBasis) -> UInt64 where S.Element == UInt8 {
        FNV1a.hash(bytes, seed: seed)
    }

    private static let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
    private var lanes: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (1, 2, 3, 4, 5, 6, 7, 8)
    private var byteCount: UInt64 = 0

    @inline(__always) private static func step(_ h: UInt64, _ w: UInt64) -> UInt64 {
        let x = (h ^ w) &* multiplier
        return (x << 31) | (x >> 33)
    }

    /// Feeds `count` bytes at `bytes`, zero-padded to a multiple of 64 (so feeding a section
    /// without its padding equals feeding it with zero padding).
    mutating func update(_ bytes: UnsafeRawPointer, count: Int) {
        var offset = 0
        while offset + 64 <= count {
            block(bytes + offset)
            offset += 64
        }
        if offset < count {
            var tail = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &tail) { $0.baseAddress!.copyMemory(from: bytes + offset, byteCount: count - offset) }
            withUnsafeBytes(of: &tail) { block($0.baseAddress!) }
        }
        byteCount &+= UInt64((count + 63) / 64 * 64)
    }

    @inline(__always) private mutating func block(_ p: UnsafeRawPointer) {
        func w(_ j: Int) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(fromByteOffset: j * 8, as: UInt64.self)) }
        lanes.0 = Self.step(lanes.0, w(0)); lanes.1 = Self.step(lanes.1, w(1))
        lanes.2 = Self.step(lanes.2, w(2)); lanes.3 = Self.step(lanes.3, w(3))
        lanes.4 = Self.step(lanes.4, w(4)); lanes.5 = Self.step(lanes.5, w(5))
        lanes.6 = Self.step(lanes.6, w(6)); lanes.7 = Self.step(lanes.7, w(7))
    }

    /// The checksum of everything fed so far.
    func finalize() -> UInt64 {
        func mix(_ z0: UInt64) -> UInt64 {
            var z = z0
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var h = mix(byteCount)
        for lane in [lanes.0, lanes.1, lanes.2, lanes.3, lanes.4, lanes.5, lanes.6, lanes.7] {
            h = mix(h ^ lane)
        }
        return h
    }
}
