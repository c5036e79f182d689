/// Typed access to the fields of one JSON object from a run folder's files, with every
/// failure a `ReportError.badField` naming the file, the line (in `train_log.jsonl`) and the
/// field's dotted path (`validation.click.auc`).
struct JSONObjectReader {
    /// The file the object came from (as shown in errors).
    let file: String
    /// Its 1-based line, for JSON Lines files.
    let line: Int?
    /// The dotted path of this object inside the document ("" at the top).
    let path: String
    /// The fields.
    let fields: [String: JSONValue]

    /// Reads `value` as an object.
    /// - Throws: `ReportError.badField` when it is not an object.
    init(_ value: JSONValue, file: String, line: Int? = nil, path: String = "") throws {
        guard case .object(let o) = value else {
            throw ReportError.badField(file: file, line: line, field: path.isEmpty ? "(top level)" : path,
                                       reason: "should be an object, found \(value.kindName)")
        }
        self.file = file
        self.line = line
        self.path = path
        self.fields = o
    }

    /// The sorted field names.
    var keys: [String] { fields.keys.sorted() }

    private func name(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    private func fail(_ key: String, _ reason: String) -> ReportError {
        .badField(file: file, line: line, field: name(key), reason: reason)
    }

    /// The raw value of `key`, nil when absent.
    func value(_ key: String) -> JSONValue? { fields[key] }

    private func required(_ key: String) throws -> JSONValue {
        guard let v = fields[key] else { throw fail(key, "is missing") }
        return v
    }

    /// A string field.
    /// - Throws: `ReportError.badField` when missing or not a string.
    func string(_ key: String) throws -> String {
        let v = try required(key)
        guard case .string(let s) = v else { throw fail(key, "should be a string, found \(v.kindName)") }
        return s
    }

    /// A string field that may be absent (or null).
    /// - Throws: `ReportError.badField` when present and not a string.
    func optionalString(_ key: String) throws -> String? {
        guard let v = fields[key], v != .null else { return nil }
        return try string(key)
    }

    /// An integer field (a JSON number without a fraction).
    /// - Throws: `ReportError.badField` when missing, not a number or not an integer.
    func int(_ key: String) throws -> Int {
        let v = try required(key)
        guard case .number(let d) = v else { throw fail(key, "should be an integer, found \(v.kindName)") }
        guard d.isFinite, d == d.rounded(), abs(d) < 9e15 else { throw fail(key, "should be an integer, found \(d)") }
        return Int(d)
    }

    /// An integer field that may be absent.
    /// - Throws: `ReportError.badField` when present and not an integer.
    func optionalInt(_ key: String) throws -> Int? {
        guard let v = fields[key], v != .null else { return nil }
        return try int(key)
    }

    /// A number field (`null` and the non-finite spellings of `JSONValue.numberValue` allowed).
    /// - Throws: `ReportError.badField` when missing or not a number.
    func number(_ key: String) throws -> Double {
        let v = try required(key)
        guard let d = v.numberValue else { throw fail(key, "should be a number, found \(v.kindName)") }
        return d
    }

    /// A number field that may be absent.
    /// - Throws: `ReportError.badField` when present and not a number.
    func optionalNumber(_ key: String) throws -> Double? {
        guard fields[key] != nil else { return nil }
        return try number(key)
    }

    /// A nested object field.
    /// - Throws: `ReportError.badField` when missing or not an object.
    func object(_ key: String) throws -> JSONObjectReader {
        try JSONObjectReader(required(key), file: file, line: line, path: name(key))
    }

    /// A nested object field that may be absent (or null).
    /// - Throws: `ReportError.badField` when present and not an object.
    func optionalObject(_ key: String) throws -> JSONObjectReader? {
        guard let v = fields[key], v != .null else { return nil }
        return try object(key)
    }

    /// An object of numbers (`{"click": 0.41, ...}`).
    /// - Throws: `ReportError.badField` when missing, not an object, or a value is not a number.
    func numberMap(_ key: String) throws -> [String: Double] {
        let o = try object(key)
        var out: [String: Double] = [:]
        for k in o.keys { out[k] = try o.number(k) }
        return out
    }

    /// An object of numbers that may be absent (empty then).
    /// - Throws: `ReportError.badField` when present and malformed.
    func optionalNumberMap(_ key: String) throws -> [String: Double] {
        guard let v = fields[key], v != .null else { return [:] }
        return try numberMap(key)
    }

    /// An array of strings.
    /// - Throws: `ReportError.badField` when missing, not an array, or an element is not a string.
    func stringArray(_ key: String) throws -> [String] {
        let v = try required(key)
        guard case .array(let a) = v else { throw fail(key, "should be an array of strings, found \(v.kindName)") }
        return try a.enumerated().map { i, e in
            guard case .string(let s) = e else {
                throw fail("\(key)[\(i)]", "should be a string, found \(e.kindName)")
            }
            return s
        }
    }
}
