#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file in chunks and hands out its lines as byte ranges, without copying them.
///
/// A line ends at `\n`; a `\r` before it is dropped; the last line may lack its newline. A line
/// longer than the buffer grows the buffer. The bytes of a line stay valid until the next call.
/// With `hashing`, every byte read is also fed to a `ContentHash`, so the hash of exactly the
/// bytes parsed comes at no extra pass over the file.
final class CSVLineSource {
    /// The file's path, for error messages.
    let path: String
    /// The file's size in bytes when opened.
    let fileSize: Int
    /// 1-based number of the line last returned (0 before the first).
    private(set) var lineNumber = 0
    /// The hash of the bytes read so far; nil unless hashing. Complete once `nextLine` returned nil.
    private(set) var contentHash: ContentHash?

    private let fd: Int32
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var start = 0
    private var end = 0
    private var atEOF = false

    /// Opens `path` for reading with a buffer of `chunkSize` bytes; `hashing` keeps a
    /// `ContentHash` of the bytes read.
    init(path: String, chunkSize: Int, hashing: Bool = false) throws(DatasetError) {
        self.path = path
        self.contentHash = hashing ? ContentHash() : nil
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotRead(file: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .cannotRead(file: path, reason: reason)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .cannotRead(file: path, reason: "not a regular file")
        }
        self.fd = fd
        self.fileSize = Int(info.st_size)
        self.capacity = max(chunkSize, 16)
        self.buffer = .allocate(capacity: capacity)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// The next line (without its terminator), or nil at the end of the file.
    @inline(__always)
    func nextLine() throws(DatasetError) -> UnsafeBufferPointer<UInt8>? {
        while true {
            if start < end, let hit = memchr(buffer + start, 0x0A, end - start) {
                let lineStart = start
                var length = hit.assumingMemoryBound(to: UInt8.self) - (buffer + lineStart)
                start = lineStart + length + 1
                lineNumber += 1
                if length > 0 && buffer[lineStart + length - 1] == 0x0D { length -= 1 }
                return UnsafeBufferPointer(start: buffer + lineStart, count: length)
            }
            if atEOF {
                guard start < end else { return nil }
                let lineStart = start
                var length = end - start
                start = end
                lineNumber += 1
                if buffer[lineStart + length - 1] == 0x0D { length -= 1 }
                return UnsafeBufferPointer(start: buffer + lineStart, count: length)
            }
            try refill()
        }
    }

    /// Moves the unread tail to the front, grows the buffer if it is full, and reads more bytes.
    private func refill() throws(DatasetError) {
        if start > 0 {
            if end > start { memmove(buffer, buffer + start, end - start) }
            end -= start
            start = 0
        }
        if end == capacity {
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            bigger.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = bigger
            capacity *= 2
        }
        while true {
            let got = read(fd, buffer + end, capacity - end)
            if got < 0 {
                if errno == EINTR { continue }
                throw .cannotRead(file: path, reason: String(cString: strerror(errno)))
            }
            if got == 0 {
                atEOF = true
            } else {
                contentHash?.update(buffer + end, count: got)
                end += got
            }
            return
        }
    }
}
