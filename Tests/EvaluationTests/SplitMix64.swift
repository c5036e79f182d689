/// A tiny seeded generator for the tests (SplitMix64), with its own Float and Int draws so
/// that every test input is the same on every platform and toolchain.
///
/// ```
/// Steele, Lea & Flood, "Fast Splittable Pseudorandom Number Generators", OOPSLA 2014.
/// state += 0x9E3779B97F4A7C15; z = mix(state)
/// ```
struct SplitMix64: RandomNumberGenerator {
    /// The generator's whole state.
    var state: UInt64

    /// Creates a generator whose sequence depends only on `seed`.
    init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Float in [0, 1) with 24 random bits.
    mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// A uniform Double in [0, 1) with 53 random bits.
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// An integer in `0..<bound` (multiply-shift; bias far below anything a test can see).
    mutating func nextInt(below bound: Int) -> Int {
        Int(UInt64(bound).multipliedFullWidth(by: next()).high)
    }

    /// 0 or 1, the latter with probability `p`.
    mutating func nextLabel(probability p: Float) -> Float { nextFloat() < p ? 1 : 0 }

    /// Shuffles `a` in place (Fisher–Yates).
    mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, nextInt(below: i + 1))
        }
    }
}
