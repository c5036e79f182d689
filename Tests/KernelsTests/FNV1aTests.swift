import Kernels
import Testing

/// FNV-1a 64 against the published test vectors (the IETF FNV draft's appendix), and the word
/// form the checkpoint checksum and the replica check use.
struct FNV1aTests {
    @Test func publishedVectors() {
        #expect(FNV1a.hash([UInt8]()) == 0xcbf2_9ce4_8422_2325)
        #expect(FNV1a.hash("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(FNV1a.hash("foobar".utf8) == 0x8594_4171_f739_67e8)
    }

    @Test func continuingFromASeedEqualsOneHash() {
        let whole = FNV1a.hash("foobar".utf8)
        #expect(FNV1a.hash("bar".utf8, seed: FNV1a.hash("foo".utf8)) == whole)
        var h = FNV1a()
        for b in "foobar".utf8 { h.combine(UInt64(b)) }
        #expect(h.value == whole)
    }
}
