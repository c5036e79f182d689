import Foundation
import Yams

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
        // is the deepest run of unclosed `[`/`{`, plus the most `-`/`?` on one line (compact
        // block sequences `- - - x`), plus twice the line's indentation (each block level is
        // indented one column at least, and a sequence may sit at its key's own column), quotes
        // and comments counted too.
        var depth = 0, flow = 0, block = 0, indent = 0, atLineStart = true
        for c in yaml.utf8 {
            if atLineStart && c == UInt8(ascii: " ") {
                indent += 1
                depth = max(depth, flow + block + 2 * indent)
                continue
            }
            atLineStart = false
            switch c {
            case UInt8(ascii: "["), UInt8(ascii: "{"): flow += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"): flow = max(0, flow - 1)
            case UInt8(ascii: "-"), UInt8(ascii: "?"): block += 1
            case UInt8(ascii: "\n"): (block, indent, atLineStart) = (0, 0, true)
            default: continue
            }
            depth = max(depth, flow + block + 2 * indent)
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
            var mapOrigin = origin
            for (k, v) in map {
                guard case .scalar(let ks) = k else {
                    throw ConfigError(file: file, key: path, line: origin.line, message: "mapping keys must be plain text")
                }
                let key = ks.string
                let full = path.isEmpty ? key : "\(path).\(key)"
                if pairs.contains(where: { $0.0 == key }) || mapOrigin.nullKeys.contains(where: { $0.key == key }) {
                    throw ConfigError(file: file, key: full, line: k.mark?.line, message: "appears twice")
                }
                // `key: null`, `key: ~` or `key:` is the key left out, as `--set key=null` is.
                if case .scalar(let vs) = v, vs.style == .plain, ["", "~", "null", "Null", "NULL"].contains(vs.string) {
                    mapOrigin.nullKeys.append((key, ConfigKeyOrigin(file: file, line: k.mark?.line)))
                    continue
                }
                pairs.append((key, try convert(v, file: file, path: full, budget: &budget)))
            }
            return .map(pairs, origin: mapOrigin)
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

    /// The value at the dotted `path` (`data.generate.rows`), nil when a key on the way is absent.
    public func value(at path: String) -> ConfigNode? {
        var node = self
        for part in path.split(separator: ".") {
            guard case .map(let pairs, _) = node, let next = pairs.first(where: { $0.0 == part })?.1 else { return nil }
            node = next
        }
        return node
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
        if ["null", "Null", "NULL", "~"].contains(text.trimmingCharacters(in: .whitespaces)) {  // YAML's nulls, as in files
            value = nil
        } else if case .map(let pairs, let origin) = parsed, pairs.isEmpty, origin.nullKeys.isEmpty,
                  text.trimmingCharacters(in: .whitespaces) != "{}" {
            value = .scalar(text, origin: ConfigOrigin(file: "--set", line: nil))
        } else {
            value = parsed
        }
        let path = key.split(separator: ".").map(String.init)
        var result = try replacing(path: path, with: value, fullKey: key)
        if value == nil, path.count > 1, self.value(at: path.dropLast().joined(separator: ".")) == nil,
           case .map(let pairs, var origin) = result {
            origin.danglingNullPaths.append(key)
            result = .map(pairs, origin: origin)
        }
        return result
    }

    private func replacing(path: [String], with value: ConfigNode?, fullKey: String) throws -> ConfigNode {
        guard let head = path.first else {
            return value ?? .map([], origin: ConfigOrigin(file: "--set", line: nil))
        }
        guard case .map(var pairs, var origin) = self else {
            throw ConfigError(file: "--set", key: fullKey, message: "'\(head)' is inside a value that is not a mapping")
        }
        let rest = Array(path.dropFirst())
        if let i = pairs.firstIndex(where: { $0.0 == head }) {
            if rest.isEmpty && value == nil {
                pairs.remove(at: i)
            } else {
                pairs[i].1 = try pairs[i].1.replacing(path: rest, with: value, fullKey: fullKey)
            }
        } else if value == nil {
            // Nothing to remove; the key is still checked as a key (a misspelt one is an error),
            // and a path inside a mapping that is absent too (`setting` keeps it for the parse).
            origin.nullKeys.append((head, ConfigKeyOrigin(file: "--set", line: nil)))
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
    /// A mapping's keys written as null (`key: ~`, `--set key=null`): left out of its pairs, and
    /// still checked against the known keys (`ConfigReader.finish`), so a misspelt one is not
    /// silently ignored.
    public var nullKeys: [(key: String, origin: ConfigKeyOrigin)] = []
    /// At the root: the dotted keys `--set` set to null inside a mapping the config does not
    /// have (`--set task_specific_lr.clik=null`); nothing is removed, and `TrainConfig.parse`
    /// still checks each as a key.
    public var danglingNullPaths: [String] = []

    /// A place in `file`, at `line` when known.
    public init(file: String, line: Int?) {
        self.file = file
        self.line = line
    }
}

/// Where a key written as null was written.
public struct ConfigKeyOrigin: Sendable {
    /// The file, or `--set`.
    public var file: String
    /// The 1-based line, when known.
    public var line: Int?
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
