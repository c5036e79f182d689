/// CRC-32C (Castagnoli): the checksum TFRecord framing uses, and its masked form.
///
/// ```
/// polynomial 0x1EDC6F41, reflected 0x82F63B78; init 0xFFFFFFFF, final xor 0xFFFFFFFF
/// masked(crc) = ((crc >> 15) | (crc << 17)) &+ 0xA282EAD8
/// ```
///
/// Source: Castagnoli, Bräuer, Herrmann, "Optimization of Cyclic Redundancy-Check Codes with
/// 24 and 32 Parity Bits", IEEE Trans. Communications 41(6), 1993 (the polynomial), as used
/// by iSCSI (RFC 3720 §12.1, with its check value crc32c("123456789") = 0xE3069283) and by
/// TensorFlow's record format, which stores the masked value so that a CRC over data that
/// itself holds CRCs stays well distributed.
public enum CRC32C {
    /// The reflected Castagnoli polynomial.
    public static let polynomial: UInt32 = 0x82F6_3B78
    /// The constant TensorFlow adds when masking a CRC.
    public static let maskDelta: UInt32 = 0xA282_EAD8

    /// One table entry per byte value: the CRC register after shifting that byte through.
    private static let table: [UInt32] = (0..<256).map { byte in
        var c = UInt32(byte)
        for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ polynomial : c >> 1 }
        return c
    }

    /// The CRC-32C of `bytes`, continuing from `crc` (the CRC of the bytes before; 0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }

    /// The CRC-32C of a byte sequence.
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        if let c = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0)) }) { return c }
        return Array(bytes).withUnsafeBytes { checksum($0) }
    }

    /// TensorFlow's masked form of `crc`: rotated right by 15 bits, plus `maskDelta`.
    public static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ maskDelta
    }

    /// Undoes `mask`.
    public static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- maskDelta
        return (rotated >> 17) | (rotated << 15)
    }

    /// The masked CRC-32C of `bytes`, as a TFRecord stores it.
    public static func maskedChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { mask(checksum(bytes)) }
}
