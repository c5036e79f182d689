import Testing
@testable import TensorBoard

/// CRC-32C against published check values, and TensorFlow's mask.
struct CRC32CTests {
    /// Check values: "123456789" is the CRC catalogue's check string for CRC-32C
    /// (0xE3069283); the 32-byte patterns are RFC 3720 (iSCSI) appendix B.4.
    @Test(arguments: [
        (Array("123456789".utf8), UInt32(0xE306_9283)),
        (Array(repeating: UInt8(0), count: 32), UInt32(0x8A91_36AA)),
        (Array(repeating: UInt8(0xFF), count: 32), UInt32(0x62A8_AB43)),
        ((0..<32).map { UInt8($0) }, UInt32(0x46DD_794E)),
        ((0..<32).reversed().map { UInt8($0) }, UInt32(0x113F_DB5C)),
        ([], UInt32(0)),
    ])
    func checkValues(bytes: [UInt8], expected: UInt32) {
        #expect(CRC32C.checksum(bytes) == expected)
    }

    /// A CRC continued over a second part equals the CRC of the whole.
    @Test func continuesAcrossParts() {
        let whole = Array("The quick brown fox jumps over the lazy dog".utf8)
        for cut in [0, 1, 7, 20, whole.count] {
            let first = whole[..<cut].withUnsafeBytes { CRC32C.checksum($0) }
            let both = whole[cut...].withUnsafeBytes { CRC32C.checksum($0, continuing: first) }
            #expect(both == CRC32C.checksum(whole), "cut at \(cut)")
        }
    }

    /// mask is a rotation right by 15 plus 0xA282EAD8, and unmask undoes it.
    @Test func maskRotatesAndAdds() {
        #expect(CRC32C.mask(0) == 0xA282_EAD8)
        #expect(CRC32C.mask(1 << 15) == 1 &+ 0xA282_EAD8)
        #expect(CRC32C.mask(1) == (1 << 17) &+ 0xA282_EAD8)
        for x: UInt32 in [0, 1, 0xE306_9283, 0xFFFF_FFFF, 0x8000_0000, 0x1234_5678] {
            #expect(CRC32C.unmask(CRC32C.mask(x)) == x)
        }
    }
}
