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

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): key '\(key)': \(message)"
    }
}

/// A parsed YAML document as a small tree that keeps each value's origin (file and line),
/// so that errors found later still point at the right place.
public indirect enum ConfigNode: Sendable {
    /// A scalar's text.
    case scalar(String, origin: ConfigOrigin)
    /// A sequence.
    case list([ConfigNode], origin: ConfigOrigin)
    /// A mapping, in document order.
    case map([(String, ConfigNode)], origin: ConfigOrigin)

    /// Where the node came from.
    public var origin: ConfigOrigin {
        switch self {
        case .scalar(_, let o), .list(_, let o), .map(_, let o): return o
        }
    }

    /// The most values (scalars, lists and mappings, aliases counted each time they are used)
    /// a config may hold: YAML aliases can expand a few hundred bytes into billions of values.
    public static let maxValues = 100_000
    /// The deepest a config may nest (lists and mappings): the YAML composer recurses per level.
    public static let maxDepth = 256

    /// Parses YAML text; `file` names it in errors.
    /// - Throws: `ConfigError` for text that is not YAML, nests deeper than `maxDepth` or
    ///   (with its aliases expanded) holds more than `maxValues` values.
    public static func parse(yaml: String, file: String) throws -> ConfigNode {
        // Yams composes recursively, so the nesting is bounded before it runs: an upper bound
        // is the deepest run of unclosed `[`/`{` plus the most `-`/`?` on one line (compact
        // block sequences `- - - x`), quotes and comments counted too.
        var depth = 0, flow = 0, block = 0
        for c in yaml.utf8 {
            switch c {
            case UInt8(ascii: "["), UInt8(ascii: "{"): flow += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"): flow = max(0, flow - 1)
            case UInt8(ascii: "-"), UInt8(ascii: "?"): block += 1
            case UInt8(ascii: "\n"): block = 0
            default: continue
            }
            depth = max(depth, flow + block)
        }
        guard depth <= maxDepth else {
            throw ConfigError(file: file, key: "-", message: "nested more than \(maxDepth) levels deep")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(file: file, key: "-", message: "not valid YAML: \(error)")
        }
        guard let node else { return .map([], origin: ConfigOrigin(file: file, line: nil)) }
        var budget = maxValues
        return try convert(node, file: file, path: "", budget: &budget)
    }

    /// `node` as a `ConfigNode`; every value made is taken from `budget`.
    private static func convert(_ node: Node, file: String, path: String, budget: inout Int) throws -> ConfigNode {
        let origin = ConfigOrigin(file: file, line: node.mark.map { $0.line })
        budget -= 1
        guard budget >= 0 else {
            throw ConfigError(file: file, key: path.isEmpty ? "-" : path, line: origin.line,
                              message: "more than \(maxValues) values (aliases expanding?)")
        }
        switch node {
        case .scalar(let s):
            return .scalar(s.string, origin: origin)
        case .sequence(let seq):
            return .list(try seq.enumerated().map { try convert($1, file: file, path: "\(path)[\($0)]", budget: &budget) }, origin: origin)
        case .mapping(let map):
            var pairs: [(String, ConfigNode)] = []
            for (k, v) in map {
                guard case .scalar(let ks) = k else {
                    throw ConfigError(file: file, key: path, line: origin.line, message: "mapping keys must be plain text")
                }
                let key = ks.string
                let full = path.isEmpty ? key : "\(path).\(key)"
                if pairs.contains(where: { $0.0 == key }) {
                    throw ConfigError(file: file, key: full, line: k.mark?.line, message: "appears twice")
                }
                pairs.append((key, try convert(v, file: file, path: full, budget: &budget)))
            }
            return .map(pairs, origin: origin)
        }
    }

    /// The node as YAML text (block mappings, flow lists, scalars quoted where needed): parsing
    /// it again gives the same values.
    public func yaml(indent: Int = 0) -> String {
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .scalar(let s, _):
            return ConfigNode.quote(s)
        case .list(let items, _):
            return "[" + items.map { $0.yaml(indent: indent) }.joined(separator: ", ") + "]"
        case .map(let pairs, _):
            if pairs.isEmpty { return "{}" }
            return pairs.map { key, value in
                if case .map(let inner, _) = value, !inner.isEmpty {
                    return "\(pad)\(ConfigNode.quote(key)):\n" + value.yaml(indent: indent + 2)
                }
                return "\(pad)\(ConfigNode.quote(key)): \(value.yaml(indent: indent + 2))"
            }.joined(separator: "\n")
        }
    }

    static func quote(_ s: String) -> String {
        let plain = !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "._-/+".contains($0) }
            && !["true", "false", "yes", "no", "on", "off", "null", "~"].contains(s.lowercased())
        return plain ? s : "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// Applies `--set key=value`: the dotted key's value is replaced by `value` parsed as YAML
    /// (so `--set expert_units=[128,64]` gives a list), creating mappings as needed;
    /// `--set key=null` removes the key (back to its default).
    /// - Throws: `ConfigError` (file `--set`) for an assignment without `key=`, a value that is
    ///   not YAML (as `parse` throws), or a key path through a value that is not a mapping.
    public func setting(_ assignment: String) throws -> ConfigNode {
        guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
            throw ConfigError(file: "--set", key: assignment, message: "expected key=value")
        }
        let key = String(assignment[..<eq])
        let text = String(assignment[assignment.index(after: eq)...])
        let parsed = try ConfigNode.parse(yaml: text.isEmpty ? "''" : text, file: "--set \(key)")
        let value: ConfigNode?
        if ["null", "~"].contains(text.trimmingCharacters(in: .whitespaces)) {
            value = nil
        } else if case .map(let pairs, _) = parsed, pairs.isEmpty {
            value = .scalar(text, origin: ConfigOrigin(file: "--set", line: nil))
        } else {
            value = parsed
        }
        return try replacing(path: key.split(separator: ".").map(String.init), with: value, fullKey: key)
    }

    private func replacing(path: [String], with value: ConfigNode?, fullKey: String) throws -> ConfigNode {
        guard let head = path.first else {
            return value ?? .map([], origin: ConfigOrigin(file: "--set", line: nil))
        }
        guard case .map(var pairs, let origin) = self else {
            throw ConfigError(file: "--set", key: fullKey, message: "'\(head)' is inside a value that is not a mapping")
        }
        let rest = Array(path.dropFirst())
        if let i = pairs.firstIndex(where: { $0.0 == head }) {
            if rest.isEmpty && value == nil {
                pairs.remove(at: i)
            } else {
                pairs[i].1 = try pairs[i].1.replacing(path: rest, with: value, fullKey: fullKey)
            }
        } else if value == nil && rest.isEmpty {
            return self
        } else {
            let empty = ConfigNode.map([], origin: ConfigOrigin(file: "--set", line: nil))
            pairs.append((head, try empty.replacing(path: rest, with: value, fullKey: fullKey)))
        }
        return .map(pairs, origin: origin)
    }
}

/// Where a config value was written.
public struct ConfigOrigin: Sendable {
    /// The file, or `--set`.
    public var file: String
    /// The 1-based line, when known.
    public var line: Int?
}

/// Reads typed values out of one mapping, remembering which keys were read so that every
/// key nobody asked for is reported as unknown (with a suggestion when it looks like a typo).
public final class ConfigReader {
    private let pairs: [(String, ConfigNode)]
    private let prefix: String
    private let origin: ConfigOrigin
    private var used: Set<String> = []

    /// Reads the mapping `node`; `prefix` is its dotted path (empty at the top).
    /// - Throws: `ConfigError` naming the node's file, line and `prefix` when it is not a mapping.
    public init(_ node: ConfigNode, prefix: String = "") throws {
        guard case .map(let pairs, let origin) = node else {
            throw ConfigError(file: node.origin.file, key: prefix.isEmpty ? "-" : prefix, line: node.origin.line,
                              message: "expected a mapping of key: value")
        }
        self.pairs = pairs
        self.prefix = prefix
        self.origin = origin
    }

    private func full(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    private func node(_ key: String) -> ConfigNode? {
        used.insert(key)
        return pairs.first { $0.0 == key }?.1
    }

    /// Whether `key` is present.
    public func has(_ key: String) -> Bool { pairs.contains { $0.0 == key } }

    func fail(_ key: String, _ node: ConfigNode?, _ message: String) -> ConfigError {
        let o = node?.origin ?? origin
        return ConfigError(file: o.file, key: full(key), line: o.line, message: message)
    }

    private func scalar(_ key: String, _ node: ConfigNode, _ what: String) throws -> String {
        guard case .scalar(let s, _) = node else { throw fail(key, node, "expected \(what)") }
        return s
    }

    /// A string value, or `fallback` when absent.
    /// - Throws: `ConfigError` naming the file, line and key when the value is a list or mapping.
    public func string(_ key: String, _ fallback: String? = nil) throws -> String? {
        guard let n = node(key) else { return fallback }
        return try scalar(key, n, "a string")
    }

    /// An integer, checked against `range`.
    /// - Throws: `ConfigError` naming the file, line and key when the value is not an integer or
    ///   is outside `range`.
    public func int(_ key: String, _ fallback: Int, in range: ClosedRange<Int> = Int.min...Int.max) throws -> Int {
        guard let n = node(key) else { return fallback }
        guard let v = Int(try scalar(key, n, "an integer")) else { throw fail(key, n, "expected an integer") }
        guard range.contains(v) else { throw fail(key, n, "\(v) is outside \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    /// A floating-point number, checked against `range`.
    /// - Throws: `ConfigError` naming the file, line and key when the value is not a finite
    ///   number or is outside `range`.
    public func double(_ key: String, _ fallback: Double, in range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) throws -> Double {
        guard let n = node(key) else { return fallback }
        guard let v = Double(try scalar(key, n, "a number")), v.isFinite else { throw fail(key, n, "expected a number") }
        guard range.contains(v) else { throw fail(key, n, "\(v) is outside \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    /// One of a string enum's raw values (`activation: relu`).
    /// - Throws: `ConfigError` naming the file, line and key, with `message`, when the value is
    ///   not a string or none of the raw values.
    public func choice<T: RawRepresentable>(_ key: String, _ fallback: T, _ message: String) throws -> T
    where T.RawValue == String {
        try choice(key, fallback) { _ in message }
    }

    /// One of a string enum's raw values, the error's message made from the value read.
    /// - Throws: `ConfigError` naming the file, line and key, with `message(value)`, when the
    ///   value is not a string or none of the raw values.
    public func choice<T: RawRepresentable>(_ key: String, _ fallback: T, _ message: (String) -> String) throws -> T
    where T.RawValue == String {
        guard let text = try string(key) else { return fallback }
        guard let value = T(rawValue: text) else { throw fail(key, raw(key), message(text)) }
        return value
    }

    /// A boolean (`true`/`false`, `yes`/`no`).
    /// - Throws: `ConfigError` naming the file, line and key when the value is none of these
    ///   (nor `on`/`off`).
    public func bool(_ key: String, _ fallback: Bool) throws -> Bool {
        guard let n = node(key) else { return fallback }
        switch try scalar(key, n, "true or false").lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(key, n, "expected true or false")
        }
    }

    /// A list of scalars converted by `convert` (nil = not convertible, with `what` in the error).
    /// - Throws: `ConfigError` naming the key when the value is not a list, or `key[i]` for the
    ///   first item `convert` refuses.
    public func list<T>(_ key: String, _ what: String, _ convert: (String) -> T?) throws -> [T]? {
        guard let n = node(key) else { return nil }
        guard case .list(let items, _) = n else { throw fail(key, n, "expected a list of \(what), e.g. [a, b]") }
        return try items.enumerated().map { i, item in
            guard case .scalar(let s, _) = item, let v = convert(s) else {
                throw fail("\(key)[\(i)]", item, "expected \(what)")
            }
            return v
        }
    }

    /// A list of positive integers (layer widths).
    /// - Throws: `ConfigError` as `list` throws it, for a value that is not a list of positive integers.
    public func units(_ key: String, _ fallback: [Int]) throws -> [Int] {
        guard let v = try list(key, "positive integers", { Int($0).flatMap { $0 > 0 ? $0 : nil } }) else { return fallback }
        return v
    }

    /// A nested mapping's reader, or nil when absent.
    /// - Throws: `ConfigError` naming the dotted key when the value is not a mapping.
    public func section(_ key: String) throws -> ConfigReader? {
        guard let n = node(key) else { return nil }
        return try ConfigReader(n, prefix: full(key))
    }

    /// The raw node of `key` (for values with several accepted forms).
    public func raw(_ key: String) -> ConfigNode? { node(key) }

    /// Throws for the first key that was never read, suggesting the closest known key.
    /// - Throws: `ConfigError` naming the file, line and unknown key, with "did you mean" when a
    ///   read or `extra` key is within max(2, length / 3) edits of it.
    public func finish(known extra: [String] = []) throws {
        for (key, value) in pairs where !used.contains(key) {
            let known = Array(used) + extra
            let suggestion = known.min { editDistance($0, key) < editDistance($1, key) }
                .flatMap { editDistance($0, key) <= max(2, key.count / 3) ? $0 : nil }
            throw fail(key, value, "unknown key" + (suggestion.map { " (did you mean '\($0)'?)" } ?? ""))
        }
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = prev
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
