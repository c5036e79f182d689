/// A fixed-size, zero-initialised, 64-byte-aligned Float32 buffer with a stable address.
///
/// The arenas of parameters, gradients and optimizer state, and every per-batch
/// workspace, are `FloatBuffer`s: allocated once, reused every step.
public final class FloatBuffer: @unchecked Sendable {
    /// The first element.
    public let base: UnsafeMutablePointer<Float>
    /// The number of elements.
    public let count: Int
    /// What keeps memory this buffer does not own alive (nil: the buffer owns and frees it).
    private let owner: AnyObject?

    /// Allocates `count` zeroed floats.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative, got \(count)")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
        self.count = count
        owner = nil
    }

    /// Wraps `count` floats at `base` (zeroed, 64-byte aligned) that `owner` keeps alive and
    /// frees: e.g. a communicator's shared-memory gradient arena. The buffer never frees them.
    public init(wrapping base: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        precondition(count >= 0, "FloatBuffer count must be non-negative, got \(count)")
        precondition(Int(bitPattern: base) % 64 == 0, "FloatBuffer memory must be 64-byte aligned")
        self.base = base
        self.count = count
        self.owner = owner
    }

    /// Allocates a buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let p = src.baseAddress { base.update(from: p, count: values.count) }
        }
    }

    deinit { if owner == nil { UnsafeMutableRawPointer(base).deallocate() } }

    /// Element access (bounds-checked; for tests and set-up, not hot loops).
    public subscript(i: Int) -> Float {
        get { precondition(i >= 0 && i < count, "index \(i) out of 0..<\(count)"); return base[i] }
        set { precondition(i >= 0 && i < count, "index \(i) out of 0..<\(count)"); base[i] = newValue }
    }

    /// Sets every element to zero.
    public func zero() { base.update(repeating: 0, count: count) }

    /// A copy of the contents as an array (for tests and reporting).
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Copies all elements from `other`, which must have the same count.
    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "copy(from:) count mismatch: \(other.count) vs \(count)")
        base.update(from: other.base, count: count)
    }
}

/// A fixed-size, zero-initialised Int32 buffer with a stable address (ids, slots).
public final class Int32Buffer: @unchecked Sendable {
    /// The first element.
    public let base: UnsafeMutablePointer<Int32>
    /// The number of elements.
    public let count: Int

    /// Allocates `count` elements set to `value`.
    public init(count: Int, repeating value: Int32 = 0) {
        precondition(count >= 0, "Int32Buffer count must be non-negative, got \(count)")
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: value, count: max(count, 1))
        self.count = count
    }

    deinit { base.deallocate() }

    /// Element access (bounds-checked; for tests and set-up).
    public subscript(i: Int) -> Int32 {
        get { precondition(i >= 0 && i < count, "index \(i) out of 0..<\(count)"); return base[i] }
        set { precondition(i >= 0 && i < count, "index \(i) out of 0..<\(count)"); base[i] = newValue }
    }
}
