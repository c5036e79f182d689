@testable import Training
import Testing

/// `format(_:_:)`, the number formatter of every report line: never traps, whatever the value
/// (issue: a huge finite loss or weight crashed the run with "Double value cannot be converted
/// to Int").
struct NumberFormatTests {
    @Test(arguments: [
        (0.0, 4, "0.0000"), (0.12345, 4, "0.1235"), (-0.5, 2, "-0.50"), (-0.0001, 2, "0.00"), (12.0, 0, "12"),
        (1234.5678, 1, "1234.6"), (Double.nan, 4, "nan"), (Double.infinity, 4, "inf"), (-Double.infinity, 3, "-inf"),
        (3.4e38, 4, "3.4e+38"), (-3.4e38, 4, "-3.4e+38"), (1.0e19, 3, "1e+19"), (Double.greatestFiniteMagnitude, 5, "1.7976931348623157e+308"),
        (Double.leastNonzeroMagnitude, 4, "0.0000"), (-Double.leastNormalMagnitude, 4, "0.0000"),
        (9.0e15, 0, "9000000000000000"), (9.1e15, 0, "9.1e+15"), (1.5, 40, "1.500000000000000"),
    ] as [(Double, Int, String)])
    func formats(value: Double, digits: Int, expected: String) {
        #expect(format(value, digits) == expected)
    }

    /// Every Float bit pattern class through the report formatter: no trap, and a non-empty text.
    @Test func everyFloatClassFormats() {
        var values: [Float] = [.nan, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                               .leastNonzeroMagnitude, .leastNormalMagnitude, 0, -0, 1e19, 3.4e38]
        var bits: UInt32 = 0x0000_0001
        for _ in 0..<64 { values.append(Float(bitPattern: bits)); bits = bits &* 2_654_435_761 &+ 12345 }
        for v in values {
            for d in [0, 3, 5] { #expect(!format(Double(v), d).isEmpty) }
        }
    }
}
