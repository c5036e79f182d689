import Foundation
import RecHubRandom
import Testing
@testable import Datasets

@Suite struct ContentHashTests {
    /// `count` seeded random bytes.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// The hash of `data` fed in one piece.
    static func hash(_ data: [UInt8]) -> UInt64 {
        var h = ContentHash()
        data.withUnsafeBytes { if let base = $0.baseAddress { h.update(base, count: $0.count) } }
        return h.finalize()
    }

    /// The reader feeds whatever `read` returns: the hash must not depend on where the chunks end.
    @Test(arguments: [0, 1, 63, 64, 65, 127, 128, 1000, 10_007])
    func chunkBoundariesDoNotMatter(length: Int) {
        let data = Self.bytes(length, seed: UInt64(length) + 1)
        let whole = Self.hash(data)
        var rng = SeededRandom(seed: 42)
        for _ in 0..<200 {
            var h = ContentHash()
            var offset = 0
            data.withUnsafeBytes { raw in
                while offset < length {
                    // Mostly small pieces, sometimes a long one, sometimes empty.
                    let piece = min(length - offset, rng.nextInt(below: 4) == 0 ? rng.nextInt(below: 300) : rng.nextInt(below: 9))
                    h.update(raw.baseAddress! + offset, count: piece)
                    offset += piece
                }
            }
            #expect(h.finalize() == whole)
            #expect(h.byteCount == UInt64(length))
        }
    }

    /// Any single changed byte, in any lane, in the whole blocks or the tail, changes the hash;
    /// so do a trailing zero byte and a swap of two blocks.
    @Test func editsChangeTheHash() {
        let data = Self.bytes(300, seed: 5)
        let original = Self.hash(data)
        var seen: Set<UInt64> = [original]
        for position in 0..<data.count {
            for bit in [0, 3, 7] {
                var edited = data
                edited[position] ^= UInt8(1 << bit)
                seen.insert(Self.hash(edited))
            }
        }
        #expect(seen.count == 1 + 300 * 3)  // all distinct
        #expect(Self.hash(data + [0]) != original)
        #expect(Self.hash(Array(data[64..<128] + data[0..<64] + data[128...])) != original)
        #expect(Self.hash([]) != Self.hash([0]))
    }

    /// Pinned values: the hash is stored in cache files, so a change here must bump
    /// `DatasetCache.formatVersion`. (Values produced by this implementation when format 2 was set.)
    @Test func pinnedValues() {
        #expect(Self.hash([]) == 9_530_745_848_954_993_174)
        #expect(Self.hash(Array("click,purchase,101\n1,0,7\n".utf8)) == 12_888_180_140_007_554_710)
    }

    @Test func fileHashEqualsTheStreamedHash() throws {
        try TestSupport.withTemporaryDirectory { dir in
            // Larger than the 1 MiB read buffer and not a multiple of 64.
            let data = Self.bytes((1 << 20) * 2 + 777, seed: 9)
            let url = dir.appendingPathComponent("blob.csv")
            try Data(data).write(to: url)
            #expect(try ContentHash.ofFile(url.path) == Self.hash(data))
            let empty = try TestSupport.write("", to: "empty.csv", in: dir)
            #expect(try ContentHash.ofFile(empty.path) == Self.hash([]))
        }
    }

    @Test func missingFileIsCannotReadNamingIt() {
        let error = TestSupport.datasetError { _ = try ContentHash.ofFile("/nonexistent/rechub/train.csv") }
        guard case let .cannotRead(file, _)? = error else {
            Issue.record("expected cannotRead, got \(String(describing: error))")
            return
        }
        #expect(file == "/nonexistent/rechub/train.csv")
    }
}
