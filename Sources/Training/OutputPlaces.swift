#if canImport(Glibc)
import Glibc
#endif

/// Checks, before any data is generated or loaded, that a run can write everywhere it will:
/// so a read-only folder or a path under a regular file stops the run at once, naming the
/// setting and the path, instead of after an epoch of training (or, without checkpoints, after
/// the whole run).
///
/// A folder is created if missing (with its parents) and a probe file is created in it and
/// removed; a file's folder is checked the same way. A file is written atomically (a new file
/// renamed over the path), so an existing file place must be a regular file or a symbolic link:
/// a link is written through (its target replaced, the link kept; see `fileTarget`), and a
/// folder, device, FIFO or socket is refused rather than replaced by a regular file.
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

    /// Why a file cannot be written in place: the operating system's or RecHub's words.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// What stands in the way, e.g. "it is a FIFO (named pipe), not a regular file".
        public var reason: String
        public var description: String { reason }
    }

    /// Checks every place, in order, and returns the path each one's writer renames its new file
    /// to: the place's path, or for a file place that is a symbolic link, the link's target.
    /// - Throws: `ConfigError` with `file` "config" (or "command line" for a flag), the key, the
    ///   path and the operating system's reason (never a raw Foundation error).
    @discardableResult
    public static func check(_ places: [Place]) throws -> [String] {
        try places.map { p in
            if let reason = problem(p) {
                throw ConfigError(file: p.key.hasPrefix("--") ? "command line" : "config", key: p.key,
                                  message: "cannot write to \(p.path): \(reason)")
            }
            return p.isFolder ? p.path : (try? fileTarget(p.path)) ?? p.path
        }
    }

    /// Refuses an output file that is one of the command's inputs: the same file (same device
    /// and inode), whatever path or link names it, would be replaced before or while it is read
    /// (`predict --out` over its `--data`, `export --out` over its checkpoint). An input that is
    /// a folder stands for the files in it and in its `checkpoints/` (a run folder).
    /// - Throws: `ConfigError` (file "command line", the output's key) naming both paths.
    ///   `allowed` exempts files of a folder input that may be replaced (an earlier report page).
    public static func checkNotInput(_ output: Place, inputs: [(key: String, path: String)],
                                     allowed: (String) -> Bool = { _ in false }) throws {
        func identity(_ path: String) -> (UInt64, UInt64)? {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            return (UInt64(st.st_dev), UInt64(st.st_ino))
        }
        guard let out = identity(output.path) else { return }  // not there yet: nothing to overwrite
        for input in inputs {
            var files = [input.path]
            var st = stat()
            if stat(input.path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR {
                for folder in [input.path, input.path + "/checkpoints"] {
                    guard let d = opendir(folder) else { continue }
                    defer { closedir(d) }
                    while let e = readdir(d) {
                        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                        if name != "." && name != ".." { files.append(folder + "/" + name) }
                    }
                }
            }
            for file in files where file == input.path || !allowed(file) {
                if let id = identity(file), id == out {
                    throw ConfigError(file: "command line", key: output.key,
                                      message: "\(output.path) is " + (file == input.path ? "the \(input.key) file \(file)"
                                          : "\(file), in \(input.key) \(input.path)")
                                          + ": writing it would replace that input")
                }
            }
        }
    }

    /// Why `place` cannot be written, or nil.
    static func problem(_ place: Place) -> String? {
        guard !place.path.isEmpty else { return "the path is empty" }
        if place.isFolder { return folderProblem(place.path) }
        let target: String
        do { target = try fileTarget(place.path) } catch { return error.reason }
        if let p = folderProblem(folder(of: target)) { return target == place.path ? p : "\(p) (the link's target \(target))" }
        if access(target, F_OK) == 0 && access(target, W_OK) != 0 { return errnoText() }
        return nil
    }

    /// The path an atomic write of the file `path` renames its new file to: `path` itself, or,
    /// when `path` is a symbolic link, the end of its chain of links (a relative target read from
    /// its link's folder), whether that file exists or not. So a link is kept and written
    /// through, and a link to a missing file writes that file as if it had been named.
    /// - Throws: `Refusal` when the chain has more than 40 links, or when the file exists and is
    ///   not a regular file (a folder, device, FIFO or socket, which a rename would replace).
    public static func fileTarget(_ path: String) throws(Refusal) -> String {
        var current = path
        for _ in 0..<40 {
            var st = stat()
            guard lstat(current, &st) == 0 else { return current }
            let kind = st.st_mode & S_IFMT
            guard kind == S_IFLNK else {
                if kind == S_IFREG { return current }
                let via = current == path ? "" : " (the link's target \(current))"
                throw Refusal(reason: "it is \(kindName(kind)), not a regular file\(via)")
            }
            var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = buffer.withUnsafeMutableBufferPointer { b in
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { readlink(current, $0, b.count - 1) }
            }
            guard n > 0 else { throw Refusal(reason: "cannot read the link \(current): \(errnoText())") }
            let link = String(decoding: buffer[0..<n], as: UTF8.self)
            current = link.hasPrefix("/") ? link : folder(of: current) + "/" + link
        }
        throw Refusal(reason: "more than 40 symbolic links in a row (a loop?)")
    }

    /// The folder part of `path` ("." when it has none).
    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// "a folder", "a FIFO (named pipe)", … for a `stat` file type.
    static func kindName(_ kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: return "a folder"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
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
