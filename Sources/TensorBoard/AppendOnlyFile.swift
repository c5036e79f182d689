import Foundation

/// A file written only at its end, each `append` handed to the kernel in one `write` call
/// before it returns (no buffering in the process): a process killed at any moment leaves
/// every completed append in the file. Also replaces a whole file atomically.
public final class AppendOnlyFile {
    /// The file's path.
    public let path: String
    private let fd: Int32

    /// Opens `path` for appending, creating it (mode 0644) when absent.
    /// - truncate: empty an existing file first.
    /// - Throws: `TensorBoardError.io` naming the path and the system's reason.
    public init(path: String, truncate: Bool = false) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0o644)
        guard fd >= 0 else { throw TensorBoardError.io(file: path, reason: "cannot open for appending: \(Self.lastError)") }
    }

    deinit { close(fd) }

    /// Appends `bytes` at the end of the file.
    /// - Throws: `TensorBoardError.io` when the system refuses the write (a full disk).
    public func append(_ bytes: Data) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw TensorBoardError.io(file: path, reason: "write failed: \(Self.lastError)") }
                offset += n
            }
        }
    }

    /// Replaces the file at `path` with `contents` atomically: a temporary file in the same
    /// folder, written and fsynced, renamed over `path`, then the folder fsynced. A reader
    /// (or a crash) sees the old file or the new one, never a mix.
    /// - Throws: `TensorBoardError.io` naming the file and the failed step.
    public static func replace(_ path: String, with contents: Data) throws {
        let temp = "\(path).tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TensorBoardError.io(file: temp, reason: "cannot create: \(lastError)") }
        var failure: String?
        contents.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { failure = "write failed: \(lastError)"; return }
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = "fsync failed: \(lastError)" }
        close(fd)
        if let failure {
            unlink(temp)
            throw TensorBoardError.io(file: temp, reason: failure)
        }
        guard rename(temp, path) == 0 else {
            let reason = lastError
            unlink(temp)
            throw TensorBoardError.io(file: path, reason: "rename failed: \(reason)")
        }
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    static var lastError: String { String(cString: strerror(errno)) }
}
