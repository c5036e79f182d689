/// A failure caused by a data file or a schema: every case names the file, and where it
/// applies the 1-based line number and the column.
public enum DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read.
    case cannotRead(file: String, reason: String)
    /// The file could not be written.
    case cannotWrite(file: String, reason: String)
    /// The file has no bytes (or no header line).
    case emptyFile(file: String)
    /// The file has a header but no data row.
    case headerOnly(file: String)
    /// A column the schema names is not in the file's header.
    case missingColumn(file: String, column: String)
    /// A column the schema names appears more than once in the header.
    case duplicateColumn(file: String, column: String)
    /// A data row has the wrong number of fields; `column` is the first missing column, or the
    /// last expected one when there are extra fields.
    case raggedRow(file: String, line: Int, column: String, expected: Int, found: Int)
    /// A field is not a number.
    case notANumber(file: String, line: Int, column: String, value: String)
    /// A sparse id field is not an integer.
    case notAnInteger(file: String, line: Int, column: String, value: String)
    /// A dense or label value is NaN or infinite once read as Float32.
    case nonFiniteValue(file: String, line: Int, column: String, value: String)
    /// A binary label is neither 0 nor 1.
    case labelNotBinary(file: String, line: Int, column: String, value: String)
    /// A sparse id too large to learn a vocabulary from (`max id + 1` must fit Int32).
    case idTooLarge(file: String, line: Int, column: String, value: String)
    /// The schema (or vocabulary given with it) is inconsistent.
    case invalidSchema(reason: String)
    /// A configuration value is out of range; `key` names it.
    case invalidConfiguration(key: String, reason: String)

    /// A one-line message: `file:line: column 'name': problem`.
    public var description: String {
        switch self {
        case let .cannotRead(file, reason): return "\(file): cannot read: \(reason)"
        case let .cannotWrite(file, reason): return "\(file): cannot write: \(reason)"
        case let .emptyFile(file): return "\(file): empty file (no header line)"
        case let .headerOnly(file): return "\(file): header only, no data rows"
        case let .missingColumn(file, column): return "\(file): column '\(column)' named by the schema is not in the header"
        case let .duplicateColumn(file, column): return "\(file): column '\(column)' appears more than once in the header"
        case let .raggedRow(file, line, column, expected, found):
            let which = found < expected ? "column '\(column)' is missing" : "extra field after column '\(column)'"
            return "\(file):\(line): expected \(expected) fields, found \(found) (\(which))"
        case let .notANumber(file, line, column, value):
            return "\(file):\(line): column '\(column)': not a number: \"\(value)\""
        case let .notAnInteger(file, line, column, value):
            return "\(file):\(line): column '\(column)': sparse id is not an integer: \"\(value)\""
        case let .nonFiniteValue(file, line, column, value):
            return "\(file):\(line): column '\(column)': value is not finite as Float32: \"\(value)\""
        case let .labelNotBinary(file, line, column, value):
            return "\(file):\(line): column '\(column)': binary label must be 0 or 1, found \"\(value)\""
        case let .idTooLarge(file, line, column, value):
            return "\(file):\(line): column '\(column)': id \(value) is too large to learn a vocabulary from"
        case let .invalidSchema(reason): return "invalid schema: \(reason)"
        case let .invalidConfiguration(key, reason): return "invalid configuration: \(key) \(reason)"
        }
    }
}
