import Kernels

/// The agreement of an analytic gradient with central finite differences.
public struct GradientCheck: CustomStringConvertible, Sendable {
    /// Largest |analytic − numeric| over the checked entries.
    public var maxAbsError: Double = 0
    /// ‖analytic − numeric‖ / max(‖analytic‖ + ‖numeric‖, tiny) over the checked entries.
    public var relativeError: Double = 0
    /// How many entries were checked.
    public var checked = 0
    /// Entries where |analytic − numeric| > atol + rtol·|numeric|.
    public var failures = 0
    /// Entries judged by a one-sided slope because a ReLU kink lies inside ±h.
    public var oneSided = 0
    /// The worst entry, for the failure message.
    public var worst = ""

    public var description: String {
        "checked \(checked), failures \(failures), one-sided \(oneSided), relative error \(relativeError), max abs error \(maxAbsError) \(worst)"
    }
}

/// Compares `analytic[i]` with `(L(p + h e_i) − L(p − h e_i)) / 2h` for each index.
///
/// Float32 forward passes make the numeric side noisy by about eps·|L| / h (≈ 1e-5 for
/// |L| ≈ 1, h = 1e-2), so an entry fails only when |analytic − numeric| exceeds
/// `atol + rtol·|numeric|`, `atol` sitting above that noise floor; the relative error of the
/// whole vector is reported too.
/// For ReLU networks pass `kinkTolerance`: where the one-sided slopes differ by more than
/// that, a kink lies within ±h and the central difference mixes two pieces; the analytic
/// value must then match the one-sided slope on its own side, so the closer one-sided
/// slope is used (a wrong gradient matches neither). Counted in `oneSided`.
public func checkGradient(
    parameters p: UnsafeMutablePointer<Float>, indices: [Int], analytic: (Int) -> Float,
    h: Float = 1e-2, kinkTolerance: Double? = nil, atol: Double = 2e-5, rtol: Double = 1e-2,
    label: String = "", loss: () -> Double
) -> GradientCheck {
    let base = loss()
    var result = GradientCheck()
    var diff2 = 0.0, a2 = 0.0, n2 = 0.0
    for i in indices {
        let old = p[i]
        p[i] = old + h
        let plus = loss()
        p[i] = old - h
        let minus = loss()
        p[i] = old
        let central = (plus - minus) / (2 * Double(h))
        let forwardSlope = (plus - base) / Double(h)
        let backwardSlope = (base - minus) / Double(h)
        let a = Double(analytic(i))
        var numeric = central
        if let kinkTolerance, abs(forwardSlope - backwardSlope) > kinkTolerance {
            numeric = abs(forwardSlope - a) < abs(backwardSlope - a) ? forwardSlope : backwardSlope
            result.oneSided += 1
        }
        let d = abs(a - numeric)
        if d > atol + rtol * abs(numeric) { result.failures += 1 }
        if d > result.maxAbsError {
            result.maxAbsError = d
            result.worst = "(\(label)[\(i)]: analytic \(a), numeric \(numeric))"
        }
        diff2 += d * d
        a2 += a * a
        n2 += numeric * numeric
        result.checked += 1
    }
    result.relativeError = diff2.squareRoot() / max(a2.squareRoot() + n2.squareRoot(), 1e-12)
    return result
}

/// `count` distinct indices below `bound`, drawn with `rng` (all of them when `count ≥ bound`).
public func sampleIndices(_ count: Int, below bound: Int, rng: inout SeededRandom) -> [Int] {
    if count >= bound { return Array(0..<bound) }
    var all = Array(0..<bound)
    rng.shuffle(&all)
    return Array(all.prefix(count)).sorted()
}

/// A buffer of `count` values uniform in [-scale, scale).
public func randomBuffer(_ count: Int, scale: Float = 1, rng: inout SeededRandom) -> FloatBuffer {
    let b = FloatBuffer(count: count)
    for i in 0..<count { b.base[i] = (2 * rng.nextFloat() - 1) * scale }
    return b
}

/// A random batch of a model's inputs and binary labels, drawn in this order: the ids (row by
/// row, field by field), the dense values in [-1, 1), then the labels.
public struct RandomBatch {
    /// (rows, fields) ids; with `outOfVocabulary`, an id may equal its field's vocabulary size.
    public let ids: [Int32]
    /// (rows, numDense).
    public let dense: FloatBuffer
    /// (rows, tasks), 1 with probability `positiveRate`.
    public let labels: FloatBuffer

    public init(rows: Int, vocabularySizes: [Int], numDense: Int, tasks: Int, positiveRate: Float,
                outOfVocabulary: Bool, rng: inout SeededRandom) {
        let f = vocabularySizes.count, extra = outOfVocabulary ? 1 : 0
        var ids = [Int32](repeating: 0, count: rows * f)
        for i in 0..<(rows * f) { ids[i] = Int32(rng.nextInt(below: vocabularySizes[i % f] + extra)) }
        self.ids = ids
        dense = randomBuffer(rows * numDense, rng: &rng)
        labels = FloatBuffer((0..<(rows * tasks)).map { _ in rng.nextFloat() < positiveRate ? 1 : 0 })
    }
}
