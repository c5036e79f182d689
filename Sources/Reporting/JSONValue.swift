import Foundation

/// A JSON value as read from a run folder's files (RFC 8259): the report reads fields by
/// name and shows the resolved config whatever its shape, so it keeps the tree, not a type.
public enum JSONValue: Sendable, Equatable, Decodable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number (JSON has one number type; integers up to 2^53 are exact).
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; JSON objects are unordered, so readers sort the keys when order matters.
    case object([String: JSONValue])

    /// Decodes any JSON value (booleans are tried before numbers, so `true` stays a Bool).
    /// - Throws: `DecodingError` when the input is not JSON.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// Parses one JSON document.
    /// - Throws: `DecodingError` (the caller names the file and line).
    public static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// The value as a number: a JSON number, `null` (NaN: a value the writer could not give),
    /// or one of the strings JSON encoders use for non-finite floats (`"NaN"`, `"Infinity"`,
    /// `"-Infinity"`, `"inf"`, `"-inf"`, `"+Infinity"`, any case); nil for anything else.
    public var numberValue: Double? {
        switch self {
        case .number(let d): return d
        case .null: return .nan
        case .string(let s):
            switch s.lowercased() {
            case "nan", "-nan", "+nan": return .nan
            case "inf", "+inf", "infinity", "+infinity": return .infinity
            case "-inf", "-infinity": return -.infinity
            default: return nil
            }
        default: return nil
        }
    }

    /// The value written out for a table cell: strings as they are, integral numbers without a
    /// fraction, other numbers in Swift's shortest round-trip form, arrays and objects as
    /// compact JSON-like text (`[256, 128]`, `{a: 1}`) with object keys sorted.
    public var displayText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d):
            if d.isFinite && d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        case .string(let s): return s
        case .array(let a): return "[" + a.map(\.displayText).joined(separator: ", ") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { "\($0): \(o[$0]!.displayText)" }.joined(separator: ", ") + "}"
        }
    }

    /// A short name of the value's kind, for error messages ("a string", "an object").
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Flattens nested objects into dotted keys (`data.generate.rows`), sorted; arrays and
    /// scalars are leaves; an empty object is a leaf too (shown as `{}`).
    public func flattened(prefix: String = "") -> [(key: String, value: JSONValue)] {
        guard case .object(let o) = self, !o.isEmpty else { return [(prefix, self)] }
        return o.keys.sorted().flatMap { k in o[k]!.flattened(prefix: prefix.isEmpty ? k : prefix + "." + k) }
    }
}
