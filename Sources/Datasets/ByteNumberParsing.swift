#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Number parsing straight from bytes, without a `String` per field.
///
/// Floats take an exact fast path (Clinger's: a mantissa below 2^24 scaled by an exactly
/// representable power of ten is one correctly rounded IEEE operation) and fall back to `strtof`
/// in the C locale for everything else, so every result equals `strtof`'s.
enum ByteNumberParsing {
    /// Result of reading a sparse id.
    enum IntResult: Equatable {
        /// An integer in `Int64.min...Int64.max` (the reader accepts only the non-negative ones).
        case value(Int64)
        /// An integer outside Int64, either sign.
        case outOfRange
        /// Not an integer.
        case invalid
    }

    /// Exactly representable powers of ten for Float32 (10^0 ... 10^10; 5^10 < 2^24).
    @usableFromInline static let powersOfTen: [Float] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10]

    @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }

    /// Trims spaces and tabs around `p[a..<b]`.
    @inline(__always)
    static func trim(_ p: UnsafePointer<UInt8>, _ a: inout Int, _ b: inout Int) {
        while a < b && isSpace(p[a]) { a += 1 }
        while b > a && isSpace(p[b - 1]) { b -= 1 }
    }

    /// Reads an integer from `p[a..<b]`: optional sign, digits, optionally `.` and zeros
    /// (`"3.0"` is 3); surrounding spaces are allowed. Exact over all of Int64 (leading zeros
    /// too); beyond it, `outOfRange`.
    @inline(__always)
    static func parseInt(_ p: UnsafePointer<UInt8>, _ a0: Int, _ b0: Int) -> IntResult {
        var (a, b) = (a0, b0)
        // Fast path: plain digits.
        var value: Int64 = 0
        var i = a
        if i < b && isDigit(p[i]) && b - a <= 15 {
            while i < b && isDigit(p[i]) { value = value &* 10 &+ Int64(p[i] &- 0x30); i += 1 }
            if i == b { return .value(value) }
        }
        trim(p, &a, &b)
        i = a
        var negative = false
        if i < b && (p[i] == 0x2D || p[i] == 0x2B) { negative = p[i] == 0x2D; i += 1 }
        let digitsStart = i
        // The magnitude, exactly while it fits UInt64; `overflow` once it does not.
        var magnitude: UInt64 = 0
        var overflow = false
        while i < b && isDigit(p[i]) {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(p[i] &- 0x30))
            if o1 || o2 { overflow = true } else { magnitude = sum }
            i += 1
        }
        guard i > digitsStart else { return .invalid }
        if i < b && p[i] == 0x2E {  // '.', then only zeros
            i += 1
            let zerosStart = i
            while i < b && p[i] == 0x30 { i += 1 }
            guard i > zerosStart else { return .invalid }
        }
        guard i == b else { return .invalid }
        if negative {
            // -2^63 is the one negative value whose magnitude is not an Int64.
            guard !overflow, magnitude <= UInt64(Int64.max) + 1 else { return .outOfRange }
            return .value(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
        }
        guard !overflow, magnitude <= UInt64(Int64.max) else { return .outOfRange }
        return .value(Int64(magnitude))
    }

    /// Reads a Float32 from `p[a..<b]`, equal to `strtof`'s result; nil when the text is not a
    /// number. `scratch` (capacity `scratchCapacity`) holds a NUL-terminated copy for `strtof`.
    /// The caller must have set the thread's C numeric locale (see `CLocale`).
    @inline(__always)
    static func parseFloat(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int,
                           scratch: UnsafeMutablePointer<CChar>, scratchCapacity: Int) -> Float? {
        if let v = fastFloat(p, a, b) { return v }
        return slowFloat(p, a, b, scratch: scratch, scratchCapacity: scratchCapacity)
    }

    /// The exact fast path: `[-+]digits[.digits][(e|E)[-+]digits]` with a mantissa below 2^24 and
    /// a decimal scale within ±10; nil when the text is outside that shape.
    @inline(__always)
    static func fastFloat(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int) -> Float? {
        var i = a
        guard i < b else { return nil }
        var negative = false
        if p[i] == 0x2D || p[i] == 0x2B { negative = p[i] == 0x2D; i += 1 }
        var mantissa: UInt32 = 0
        var digits = 0
        while i < b && isDigit(p[i]) {
            mantissa = mantissa &* 10 &+ UInt32(p[i] &- 0x30)
            if mantissa > 1 << 24 { return nil }
            digits += 1; i += 1
        }
        var fractionDigits = 0
        if i < b && p[i] == 0x2E {
            i += 1
            while i < b && isDigit(p[i]) {
                mantissa = mantissa &* 10 &+ UInt32(p[i] &- 0x30)
                if mantissa > 1 << 24 { return nil }
                fractionDigits += 1; i += 1
            }
        }
        guard digits + fractionDigits > 0 else { return nil }
        var scale = fractionDigits
        if i < b && (p[i] | 0x20) == 0x65 {  // 'e' or 'E'
            i += 1
            var expNegative = false
            if i < b && (p[i] == 0x2D || p[i] == 0x2B) { expNegative = p[i] == 0x2D; i += 1 }
            let expStart = i
            var exponent = 0
            while i < b && isDigit(p[i]) {
                exponent = exponent * 10 + Int(p[i] &- 0x30)
                if exponent > 99 { return nil }
                i += 1
            }
            guard i > expStart else { return nil }
            scale += expNegative ? exponent : -exponent
        }
        guard i == b else { return nil }
        var value = Float(mantissa)
        if mantissa != 0 {
            if scale >= 0 {
                guard scale <= 10 else { return nil }
                value = value / powersOfTen[scale]
            } else {
                guard scale >= -10 else { return nil }
                value = value * powersOfTen[-scale]
            }
        }
        return negative ? -value : value
    }

    /// `strtof` on a trimmed, NUL-terminated copy; nil unless it consumes the whole field.
    static func slowFloat(_ p: UnsafePointer<UInt8>, _ a0: Int, _ b0: Int,
                          scratch: UnsafeMutablePointer<CChar>, scratchCapacity: Int) -> Float? {
        var (a, b) = (a0, b0)
        trim(p, &a, &b)
        let n = b - a
        guard n > 0, n < scratchCapacity else { return nil }
        UnsafeMutableRawPointer(scratch).copyMemory(from: p + a, byteCount: n)
        scratch[n] = 0
        // strtof skips leading whitespace of its own (newlines too): we trimmed ours already.
        if isSpace(UInt8(bitPattern: scratch[0])) { return nil }
        var end: UnsafeMutablePointer<CChar>? = nil
        let value = strtof(scratch, &end)
        guard let end, end - scratch == n else { return nil }
        return value
    }

    /// The text of `p[a..<b]` for an error message, at most 80 bytes.
    static func text(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int) -> String {
        let n = min(b - a, 80)
        let s = String(decoding: UnsafeBufferPointer(start: p + a, count: max(n, 0)), as: UTF8.self)
        return b - a > 80 ? s + "…" : s
    }
}

/// Sets the calling thread's numeric locale to "C" for `strtof` while in scope.
struct CLocale: ~Copyable {
    private let locale: locale_t?
    private let previous: locale_t?

    /// Switches this thread to the C numeric locale.
    init() {
        locale = newlocale(LC_NUMERIC_MASK, "C", nil)
        previous = locale.map { uselocale($0) } ?? nil
    }

    deinit {
        if let locale {
            if let previous { uselocale(previous) }
            freelocale(locale)
        }
    }
}
