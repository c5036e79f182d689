import Foundation
import Yams

/// A configuration error, naming the file, the key and (where known) the line.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// The config file (or `--set` for overrides, `defaults` for the built-in config).
    public var file: String
    /// The dotted key, e.g. `data.train` or `expert_units`.
    public var key: String
    /// The 1-based line in `file`, when known.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// Describes a problem with `key` in `file`.
    public init(file: String, key: String, line: Int? = nil, message: String) {
        self.file = file
        self.key = key
        self.line = line
        self.message = message
    }

    /// "file:line: key 'k': message", or "file: message" for the file as a whole (empty key).
    public var description: String {
        // A --set value is one line of its own: no line number.
        "\(file)\(line.map { file.hasPrefix("--set") ? "" : ":\($0)" } ?? ""): " + (key.isEmpty ? "" : "key '\(key)': ") + message
    }
}
