import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An advisory lock on a folder a run writes into (`flock` on the folder itself, so no file is
/// added to it), held by rank 0 from before a run touches its `output_dir` and `checkpoint_dir`
/// until it ends. A second run started on the same folder while the first one writes is
/// refused, instead of setting aside the first run's checkpoints while they are being written
/// and having its own pruned by the first one's `keep_last`. The operating system releases the
/// lock when the process ends, however it ends. A file system without `flock` support (some
/// network file systems) goes unlocked.
public final class FolderLock {
    private var descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Makes `folder` (and its parents) when missing and locks it; held by another process,
    /// the run is refused (the folders a run writes into).
    /// - Returns: the lock, or nil when the file system cannot lock folders.
    /// - Throws: `ConfigError` naming `key` when another process holds the lock, or when the
    ///   folder cannot be made.
    public static func acquire(_ folder: String, key: String) throws -> FolderLock? {
        try lock(folder, key: key) {
            throw ConfigError(file: "config", key: key, message: "\(folder) is in use by another rechub run on this "
                              + "machine: two runs writing one folder would set aside or prune each other's checkpoints. "
                              + "Wait for that run to end (or stop it), or choose another \(key)")
        }
    }

    /// Makes `folder` when missing and locks it, waiting for another process that holds it
    /// (`waiting` is called once first); for a data folder that one run writes while another
    /// would read or rewrite it.
    /// - Returns: the lock, or nil when the file system cannot lock folders.
    /// - Throws: `ConfigError` naming `key` when the folder cannot be made.
    public static func acquireWaiting(_ folder: String, key: String, waiting: () -> Void) throws -> FolderLock? {
        try lock(folder, key: key) { waiting() }
    }

    /// Makes `folder`, opens it and takes its lock; when another process holds it, `busy` runs
    /// first (it may throw), then the lock is waited for.
    private static func lock(_ folder: String, key: String, busy: () throws -> Void) throws -> FolderLock? {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ConfigError(file: "config", key: key, message: "cannot create \(folder): \(error.localizedDescription)")
        }
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return FolderLock(descriptor: fd) }
        guard errno == EWOULDBLOCK else { close(fd); return nil }
        do { try busy() } catch { close(fd); throw error }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { close(fd); return nil }
        }
        return FolderLock(descriptor: fd)
    }

    /// Releases the lock (also done when the lock is freed).
    public func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
