import Foundation
import Yams

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
            throw ConfigError(file: node.origin.file, key: prefix, line: node.origin.line,
                              message: prefix.isEmpty ? "a config is a mapping of key: value, not a single value or list"
                                  : "expected a mapping of key: value")
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
        // At most 2²⁴ wide: products of widths (a layer's weights, times the experts) then stay
        // far inside Int, so the memory check can count them (4·10¹² overflowed and trapped).
        guard let v = try list(key, "positive integers up to 16777216", {
            Int($0).flatMap { $0 > 0 && $0 <= 1 << 24 ? $0 : nil }
        }) else { return fallback }
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
    ///   Keys written as null (`key: ~`, `--set key=null`) are checked too.
    public func finish(known extra: [String] = []) throws {
        let known = Array(used) + extra
        func unknown(_ key: String) -> String {
            let suggestion = known.min { editDistance($0, key) < editDistance($1, key) }
                .flatMap { editDistance($0, key) <= max(2, key.count / 3) ? $0 : nil }
            return "unknown key" + (suggestion.map { " (did you mean '\($0)'?)" } ?? "")
        }
        for (key, value) in pairs where !used.contains(key) {
            throw fail(key, value, unknown(key))
        }
        for (key, place) in origin.nullKeys where !used.contains(key) && !extra.contains(key) {
            throw ConfigError(file: place.file, key: full(key), line: place.line, message: unknown(key) + ", set to null")
        }
    }
}
