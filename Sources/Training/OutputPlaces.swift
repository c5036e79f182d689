#if canImport(Glibc)
import Glibc
#endif

/// Checks, before any data is generated or loaded, that a run can write everywhere it will:
/// so a read-only folder or a path under a regular file stops the run at once, naming the
/// setting and the path, instead of after an epoch of training (or, without checkpoints, after
/// the whole run).
///
/// A folder is created if missing (with its parents) and a probe file is created in it and
/// removed; a file's folder is checked the same way, and the file itself must not be a folder.
public enum OutputPlaces {
    /// One place a run writes to.
    public struct Place: Sendable, Equatable {
        /// The setting that names it (`output_dir`, `checkpoint_dir`, `--save-parameters`, …).
        public var key: String
        /// The path.
        public var path: String
        /// A folder (created if missing), or a file to be written.
        public var isFolder: Bool

        /// A place a run writes to.
        public init(key: String, path: String, isFolder: Bool) {
            self.key = key
            self.path = path
            self.isFolder = isFolder
        }
    }

    /// Checks every place, in order.
    /// - Throws: `ConfigError` with `file` "config" (or the flag), the key, the path and the
    ///   operating system's reason (never a raw Foundation error).
    public static func check(_ places: [Place]) throws {
        for p in places {
            if let reason = problem(p) {
                throw ConfigError(file: p.key.hasPrefix("--") ? "command line" : "config", key: p.key,
                                  message: "cannot write to \(p.path): \(reason)")
            }
        }
    }

    /// Why `place` cannot be written, or nil.
    static func problem(_ place: Place) -> String? {
        guard !place.path.isEmpty else { return "the path is empty" }
        if place.isFolder { return folderProblem(place.path) }
        var st = stat()
        if stat(place.path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { return "it is a folder, not a file" }
        let slash = place.path.lastIndex(of: "/")
        let folder = slash.map { $0 == place.path.startIndex ? "/" : String(place.path[..<$0]) } ?? "."
        if let p = folderProblem(folder) { return p }
        if access(place.path, F_OK) == 0 && access(place.path, W_OK) != 0 { return errnoText() }
        return nil
    }

    /// Creates `path` and its parents where missing, then writes and removes a probe file in it.
    static func folderProblem(_ path: String) -> String? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
            var st = stat()
            if stat(prefix, &st) == 0 {
                if (st.st_mode & S_IFMT) != S_IFDIR { return "'\(prefix)' is a file, not a folder" }
                continue
            }
            if mkdir(prefix, 0o777) != 0 && errno != EEXIST { return "cannot create '\(prefix)': \(errnoText())" }
        }
        let probe = (path.hasSuffix("/") ? path : path + "/") + ".rechub-write-check-\(getpid())"
        let fd = open(probe, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard fd >= 0 else { return errnoText() }
        var byte: UInt8 = 0
        let wrote = write(fd, &byte, 1)
        let why = wrote == 1 ? nil : errnoText()
        close(fd)
        unlink(probe)
        return why
    }

    static func errnoText() -> String {
        guard let s = strerror(errno) else { return "error \(errno)" }
        return String(cString: s)
    }
}
