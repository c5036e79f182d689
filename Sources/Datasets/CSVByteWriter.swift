#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Formats numbers by hand into a large byte buffer and writes it to a file in big chunks.
final class CSVByteWriter {
    /// The file's path, for error messages.
    let path: String
    private let fd: Int32
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var used = 0
    /// Bytes kept free at the end so that one row never overflows (flush before a row if less).
    private let rowReserve: Int

    /// Creates (truncates) `path`; `rowReserve` must bound the bytes of one row.
    init(path: String, capacity: Int = 1 << 22, rowReserve: Int = 1 << 12) throws(DatasetError) {
        precondition(capacity > 2 * rowReserve, "capacity \(capacity) must exceed twice rowReserve \(rowReserve)")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotWrite(file: path, reason: String(cString: strerror(errno))) }
        self.path = path
        self.fd = fd
        self.capacity = capacity
        self.rowReserve = rowReserve
        self.buffer = .allocate(capacity: capacity)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// Flushes if fewer than `rowReserve` bytes are free; call before each row.
    @inline(__always)
    func reserveRow() throws(DatasetError) {
        if capacity - used < rowReserve { try flush() }
    }

    /// Appends raw text (header lines; not for per-row use).
    func append(_ text: String) throws(DatasetError) {
        for byte in text.utf8 {
            if used == capacity { try flush() }
            buffer[used] = byte
            used += 1
        }
    }

    /// Appends one byte.
    @inline(__always)
    func append(byte: UInt8) {
        buffer[used] = byte
        used += 1
    }

    /// Appends a non-negative integer in decimal.
    @inline(__always)
    func append(nonNegative value: Int) {
        var v = value
        if v < 10 {
            buffer[used] = UInt8(truncatingIfNeeded: 0x30 + v)
            used += 1
            return
        }
        var digits = 0
        var t = v
        while t > 0 { digits += 1; t /= 10 }
        var i = used + digits - 1
        while v > 0 {
            buffer[i] = UInt8(truncatingIfNeeded: 0x30 + v % 10)
            v /= 10
            i -= 1
        }
        used += digits
    }

    /// Appends `units / 100000` with up to five decimals, trailing zeros trimmed but at least one
    /// decimal kept (`"0.0"`, `"0.4734"`, `"1.0"`); `units` must be non-negative.
    @inline(__always)
    func append(hundredThousandths units: Int) {
        append(nonNegative: units / 100_000)
        buffer[used] = 0x2E
        used += 1
        var fraction = units % 100_000
        if fraction == 0 {
            buffer[used] = 0x30
            used += 1
            return
        }
        var digits = 5
        while fraction % 10 == 0 { fraction /= 10; digits -= 1 }
        var i = used + digits - 1
        for _ in 0..<digits {
            buffer[i] = UInt8(truncatingIfNeeded: 0x30 + fraction % 10)
            fraction /= 10
            i -= 1
        }
        used += digits
    }

    /// Writes out the buffered bytes.
    func flush() throws(DatasetError) {
        var done = 0
        while done < used {
            let wrote = write(fd, buffer + done, used - done)
            if wrote < 0 {
                if errno == EINTR { continue }
                throw .cannotWrite(file: path, reason: String(cString: strerror(errno)))
            }
            done += wrote
        }
        used = 0
    }
}
