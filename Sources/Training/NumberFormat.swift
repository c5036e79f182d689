/// Formats `x` with `digits` decimals (no Foundation needed in hot paths; used for reports).
/// Never traps: NaN and ±infinity print as `nan`, `inf`, `-inf`; magnitudes whose scaled value
/// does not fit exactly in a Double's integer range (≥ 2^53 after scaling) print in Swift's
/// shortest round-trip form (`3.4e+38`); subnormals round to zero like any tiny value.
func format(_ x: Double, _ digits: Int) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x < 0 ? "-inf" : "inf" }
    let d = max(0, min(digits, 15))
    var p = 1.0
    for _ in 0..<d { p *= 10 }
    let r = (abs(x) * p).rounded()
    guard r < 9_007_199_254_740_992 else { return "\(x)" }
    let whole = Int(r / p)
    var frac = String(Int(r.truncatingRemainder(dividingBy: p)))
    while frac.count < d { frac = "0" + frac }
    return (x < 0 && r != 0 ? "-" : "") + "\(whole)" + (d > 0 ? "." + frac : "")
}
