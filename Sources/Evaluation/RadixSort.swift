/// A floating-point score that maps to an unsigned integer with the same order, so that
/// scores can be radix-sorted as plain integers.
protocol OrderedBitsConvertible: BinaryFloatingPoint {
    /// The unsigned integer type of the same width.
    associatedtype OrderedBits: FixedWidthInteger & UnsignedInteger

    /// An integer that compares as the (non-NaN) score does; `-0` and `+0` map to the same key.
    ///
    /// ```
    /// key(x) = ~bits(x)             if x < 0
    ///          bits(x) | signBit    otherwise
    /// x < y  <=>  key(x) < key(y)   for all non-NaN x, y (with -0 == +0)
    /// ```
    var orderedBits: OrderedBits { get }
}

extension Float: OrderedBitsConvertible {
    @inline(__always)
    var orderedBits: UInt32 {
        // Adding +0 turns -0 into +0 (round to nearest) and leaves every other value alone.
        let bits = (self + 0).bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    }
}

extension Double: OrderedBitsConvertible {
    @inline(__always)
    var orderedBits: UInt64 {
        let bits = (self + 0).bitPattern
        return bits & 0x8000_0000_0000_0000 != 0 ? ~bits : bits | 0x8000_0000_0000_0000
    }
}

/// Sorts `keys` ascending in place: least-significant-digit radix sort on bytes, using
/// `scratch` (at least `keys.count` long) as the second buffer.
///
/// One counting pass builds the histograms of every byte; a byte position on which all keys
/// agree (common: the sign and exponent bytes of probabilities) is skipped. Time and traffic
/// are linear in `keys.count`.
///
/// ```
/// passes ≤ Key.bitWidth / 8, each: read n keys, write n keys
/// ```
func radixSort<Key: FixedWidthInteger & UnsignedInteger>(
    _ keys: UnsafeMutableBufferPointer<Key>, scratch: UnsafeMutableBufferPointer<Key>
) {
    let n = keys.count
    precondition(scratch.count >= n, "radixSort: scratch has \(scratch.count) slots for \(n) keys")
    guard n > 1 else { return }
    let passes = Key.bitWidth / 8
    let counts = UnsafeMutablePointer<Int>.allocate(capacity: 256 * passes)
    defer { counts.deallocate() }
    counts.initialize(repeating: 0, count: 256 * passes)

    for key in keys {
        var k = key
        for pass in 0..<passes {
            counts[pass &* 256 &+ Int(truncatingIfNeeded: k & 0xFF)] &+= 1
            k >>= 8
        }
    }

    var source = keys.baseAddress!
    var target = scratch.baseAddress!
    for pass in 0..<passes {
        let histogram = counts + pass * 256
        let shift = Key(pass * 8)
        // Every key has the same byte here: this pass would not move anything.
        if histogram[Int(truncatingIfNeeded: (source[0] >> shift) & 0xFF)] == n { continue }
        var offset = 0
        for digit in 0..<256 {
            let c = histogram[digit]
            histogram[digit] = offset
            offset &+= c
        }
        for i in 0..<n {
            let key = source[i]
            let digit = Int(truncatingIfNeeded: (key >> shift) & 0xFF)
            target[histogram[digit]] = key
            histogram[digit] &+= 1
        }
        swap(&source, &target)
    }
    if source != keys.baseAddress! {
        keys.baseAddress!.update(from: source, count: n)
    }
}
