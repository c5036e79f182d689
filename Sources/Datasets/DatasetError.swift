/// A failure caused by a data file or a schema: every case met while reading or writing a file
/// names the file, and where it applies the 1-based line number and the column.
public enum DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read.
    case cannotRead(file: String, reason: String)
    /// The file could not be written.
    case cannotWrite(file: String, reason: String)
    /// The file has no bytes (or no header line).
    case emptyFile(file: String)
    /// The file has a header but no data row.
    case headerOnly(file: String)
    /// A column the schema names is not in the file's header (line 1).
    case missingColumn(file: String, column: String)
    /// A column the schema names appears more than once in the header (line 1); `positions` are
    /// its 1-based places among the header's fields.
    case duplicateColumn(file: String, column: String, positions: [Int])
    /// A data row has the wrong number of fields; `column` is the first missing column, or the
    /// last expected one when there are extra fields.
    case raggedRow(file: String, line: Int, column: String, expected: Int, found: Int)
    /// A field is not a number.
    case notANumber(file: String, line: Int, column: String, value: String)
    /// A sparse id field is not an integer.
    case notAnInteger(file: String, line: Int, column: String, value: String)
    /// A sparse id is an integer outside `0...Int64.max`: negative, or past Int64.
    case idOutOfRange(file: String, line: Int, column: String, value: String)
    /// A dense or label value is NaN or infinite once read as Float32.
    case nonFiniteValue(file: String, line: Int, column: String, value: String)
    /// A binary label is neither 0 nor 1.
    case labelNotBinary(file: String, line: Int, column: String, value: String)
    /// A sparse id too large to learn a vocabulary from (`max id + 1` must fit Int32).
    case idTooLarge(file: String, line: Int, column: String, value: String)
    /// The schema (or vocabulary given with it) is inconsistent; `file` is the data file it was
    /// applied to, nil when the schema was checked on its own or with in-memory arrays.
    case invalidSchema(file: String?, reason: String)
    /// A configuration value is out of range; `key` names it.
    case invalidConfiguration(key: String, reason: String)

    /// The data file the error is about, nil only for a schema checked without a file and for a
    /// generator configuration.
    public var file: String? {
        switch self {
        case let .cannotRead(file, _), let .cannotWrite(file, _), let .emptyFile(file), let .headerOnly(file),
             let .missingColumn(file, _), let .duplicateColumn(file, _, _):
            return file
        case let .raggedRow(file, _, _, _, _), let .notANumber(file, _, _, _), let .notAnInteger(file, _, _, _),
             let .idOutOfRange(file, _, _, _), let .nonFiniteValue(file, _, _, _), let .labelNotBinary(file, _, _, _),
             let .idTooLarge(file, _, _, _):
            return file
        case let .invalidSchema(file, _):
            return file
        case .invalidConfiguration:
            return nil
        }
    }

    /// A one-line message: `file:line: column 'name': problem`.
    public var description: String {
        switch self {
        case let .cannotRead(file, reason): return "\(file): cannot read: \(reason)"
        case let .cannotWrite(file, reason): return "\(file): cannot write: \(reason)"
        case let .emptyFile(file): return "\(file): empty file (no header line)"
        case let .headerOnly(file): return "\(file): header only, no data rows"
        case let .missingColumn(file, column): return "\(file):1: column '\(column)' named by the schema is not in the header"
        case let .duplicateColumn(file, column, positions):
            let places = positions.map(String.init).joined(separator: ", ")
            return "\(file):1: column '\(column)' appears more than once in the header (fields \(places))"
        case let .raggedRow(file, line, column, expected, found):
            let which = found < expected ? "column '\(column)' is missing" : "extra field after column '\(column)'"
            return "\(file):\(line): expected \(expected) fields, found \(found) (\(which))"
        case let .notANumber(file, line, column, value):
            return "\(file):\(line): column '\(column)': not a number: \"\(value)\""
        case let .notAnInteger(file, line, column, value):
            return "\(file):\(line): column '\(column)': sparse id is not an integer: \"\(value)\""
        case let .idOutOfRange(file, line, column, value):
            return "\(file):\(line): column '\(column)': sparse id \(value) is outside 0...\(Int64.max)"
                + " (ids are non-negative integers; ids at or past the vocabulary size map to its OOV row)"
        case let .nonFiniteValue(file, line, column, value):
            return "\(file):\(line): column '\(column)': value is not finite as Float32: \"\(value)\""
        case let .labelNotBinary(file, line, column, value):
            return "\(file):\(line): column '\(column)': binary label must be 0 or 1, found \"\(value)\""
        case let .idTooLarge(file, line, column, value):
            return "\(file):\(line): column '\(column)': id \(value) is too large to learn a vocabulary from"
                + " (max id + 1 must be at most \(DatasetSchema.maxVocabularySize); give vocabulary sizes to map larger ids to OOV)"
        case let .invalidSchema(file?, reason): return "\(file): invalid schema: \(reason)"
        case let .invalidSchema(nil, reason): return "invalid schema: \(reason)"
        case let .invalidConfiguration(key, reason): return "invalid configuration: \(key) \(reason)"
        }
    }
}
