import Foundation
import RecHubRandom
import Testing
@testable import Datasets

@Suite struct ByteNumberParsingTests {
    /// Parses `text` with the reader's float parser (fast path, then `strtof`).
    static func parse(_ text: String) -> Float? {
        let bytes = Array(text.utf8) + [0]  // never empty, so it has a base address
        let scratch = UnsafeMutablePointer<CChar>.allocate(capacity: 512)
        defer { scratch.deallocate() }
        let locale = CLocale()
        let value = bytes.withUnsafeBufferPointer {
            ByteNumberParsing.parseFloat($0.baseAddress!, 0, bytes.count - 1, scratch: scratch, scratchCapacity: 512)
        }
        _ = consume locale
        return value
    }

    /// The reference: C's `strtof` on the whole string (nil unless it consumes it all).
    static func reference(_ text: String) -> Float? {
        text.withCString { p in
            var end: UnsafeMutablePointer<CChar>? = nil
            let v = strtof(p, &end)
            return end.map { $0 - UnsafeMutablePointer(mutating: p) } == text.utf8.count && !text.isEmpty ? v : nil
        }
    }

    @Test(arguments: [
        ("0", Float(0)), ("0.0", 0), ("1", 1), ("1.0", 1), ("-0.25", -0.25), ("+2.5", 2.5), (".5", 0.5), ("5.", 5),
        ("1e-05", 1e-05), ("1E-5", 1e-5), ("2.5e+3", 2500), ("0.4734", 0.4734), ("0.07556", 0.07556),
        ("0.33557800000000004", 0.335578), ("3.4028235e38", Float.greatestFiniteMagnitude), ("1e-45", Float.leastNonzeroMagnitude),
        ("16777217", 16777216), ("123456789.125", 123456792), ("0.000000000001", 1e-12), (" 7.5 ", 7.5),
    ])
    func knownValues(text: String, value: Float) {
        #expect(Self.parse(text) == value, "\(text)")
        #expect(Self.parse(text)?.bitPattern == Self.reference(text.trimmingCharacters(in: .whitespaces))?.bitPattern)
    }

    @Test(arguments: ["", "-", ".", "e5", "1e", "1e+", "abc", "1.2.3", "1,5", "--1", "0x", "1 2", "\"1\""])
    func nonNumbersAreRejected(text: String) {
        #expect(Self.parse(text) == nil, "\(text)")
    }

    @Test func negativeZeroKeepsItsSign() {
        #expect(Self.parse("-0.0")?.sign == .minus)
    }

    /// Random decimal strings of every shape the fast path takes (and many it hands to `strtof`)
    /// must give exactly `strtof`'s bits: 200 000 cases, seeded.
    @Test func randomDecimalsMatchStrtofBitForBit() {
        var rng = SeededRandom(seed: 7)
        var mismatches: [String] = []
        for _ in 0..<200_000 {
            let integerDigits = rng.nextInt(below: 10)
            let fractionDigits = rng.nextInt(below: 12)
            var text = rng.nextInt(below: 4) == 0 ? "-" : ""
            for _ in 0..<integerDigits { text.append(Character(String(rng.nextInt(below: 10)))) }
            if fractionDigits > 0 || integerDigits == 0 {
                text.append(".")
                for _ in 0..<max(fractionDigits, 1) { text.append(Character(String(rng.nextInt(below: 10)))) }
            }
            if rng.nextInt(below: 5) == 0 { text += "e\(rng.nextInt(below: 31) - 15)" }
            let mine = Self.parse(text), theirs = Self.reference(text)
            if mine?.bitPattern != theirs?.bitPattern { mismatches.append(text) }
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(5))")
    }

    /// Every Float printed in Swift's shortest round-trip form parses back to itself.
    @Test func shortestRepresentationsRoundTrip() {
        var rng = SeededRandom(seed: 11)
        var failures = 0
        for _ in 0..<100_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            guard x.isFinite else { continue }
            if Self.parse(x.description) != x { failures += 1 }
        }
        #expect(failures == 0)
    }

    @Test(arguments: [
        ("0", ByteNumberParsing.IntResult.value(0)), ("42", .value(42)), ("-3", .value(-3)), ("+8", .value(8)),
        ("3.0", .value(3)), ("3.000", .value(3)), (" 12 ", .value(12)), ("-0", .value(0)),
        ("99999999999999999999", .outOfRange), ("-99999999999999999999", .outOfRange),
        ("1.5", .invalid), ("3.", .invalid), ("", .invalid), ("-", .invalid), ("1e3", .invalid), ("0x10", .invalid),
    ])
    func integers(text: String, expected: ByteNumberParsing.IntResult) {
        #expect(Self.parseInt(text) == expected, "\(text)")
    }

    /// The exact edges of Int64, with and without leading zeros and a `.0` (the slow path), and
    /// the largest counts of digits the fast path takes.
    @Test(arguments: [
        ("9223372036854775807", ByteNumberParsing.IntResult.value(Int64.max)),
        ("9223372036854775808", .outOfRange),
        ("-9223372036854775808", .value(Int64.min)),
        ("-9223372036854775809", .outOfRange),
        ("18446744073709551615", .outOfRange), ("18446744073709551616", .outOfRange),
        ("00000000000000000000009223372036854775807", .value(Int64.max)),
        ("9223372036854775807.00", .value(Int64.max)), ("+9223372036854775808.0", .outOfRange),
        ("999999999999999", .value(999_999_999_999_999)), ("1000000000000000", .value(1_000_000_000_000_000)),
        ("100000000000000000", .value(100_000_000_000_000_000)),
    ])
    func int64Edges(text: String, expected: ByteNumberParsing.IntResult) {
        #expect(Self.parseInt(text) == expected, "\(text)")
    }

    /// Random integers of 1 to 19 digits, either sign, parse to their value (200 000, seeded).
    @Test func randomIntegersParseExactly() {
        var rng = SeededRandom(seed: 13)
        var mismatches: [String] = []
        for _ in 0..<200_000 {
            let digits = 1 + rng.nextInt(below: 18)
            var value: Int64 = 0
            for _ in 0..<digits { value = value * 10 + Int64(rng.nextInt(below: 10)) }
            if rng.nextInt(below: 3) == 0 { value = -value }
            let text = String(value)
            if Self.parseInt(text) != .value(value) { mismatches.append(text) }
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(5))")
    }

    /// Parses `text` with the reader's integer parser.
    static func parseInt(_ text: String) -> ByteNumberParsing.IntResult {
        let bytes = Array(text.utf8) + [0]
        return bytes.withUnsafeBufferPointer { ByteNumberParsing.parseInt($0.baseAddress!, 0, text.utf8.count) }
    }
}
