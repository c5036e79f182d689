/// FNV-1a, 64-bit (Fowler, Noll and Vo; the IETF draft "The FNV Non-Cryptographic Hash
/// Algorithm"): the project's one small hash, over bytes, words or floats' bit patterns.
///
/// ```
/// h₀ = 0xcbf29ce484222325        h ← (h ^ unit) · 0x100000001b3   for each unit
/// ```
/// Used for the binary cache's header and fingerprint, dropout sites' ids, the checkpoint
/// checksum (over 8-byte words, with a fold of the high bits after each) and the replicas'
/// parameter checksum (over each float's bits).
public struct FNV1a: Sendable {
    /// The offset basis h₀.
    public static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    /// The FNV prime for 64 bits.
    public static let prime: UInt64 = 0x0000_0100_0000_01B3

    /// The hash so far.
    public var value: UInt64

    /// A hash starting from `seed` (the offset basis by default).
    @inlinable
    public init(seed: UInt64 = FNV1a.offsetBasis) { value = seed }

    /// Folds in one unit: a byte, a word or a float's bits, zero-extended.
    @inlinable @inline(__always)
    public mutating func combine(_ unit: UInt64) { value = (value ^ unit) &* Self.prime }

    /// Folds in every byte of `bytes`.
    @inlinable
    public mutating func combine<S: Sequence>(bytes: S) where S.Element == UInt8 {
        for b in bytes { combine(UInt64(b)) }
    }

    /// FNV-1a of `bytes`, from `seed`.
    @inlinable
    public static func hash<S: Sequence>(_ bytes: S, seed: UInt64 = offsetBasis) -> UInt64 where S.Element == UInt8 {
        var h = FNV1a(seed: seed)
        h.combine(bytes: bytes)
        return h.value
    }
}
