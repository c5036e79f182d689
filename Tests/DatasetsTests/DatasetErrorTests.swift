import Foundation
import Testing
@testable import Datasets

@Suite struct DatasetErrorTests {
    static let file = "/data/ali-ccp/train.csv"

    /// Every case that concerns a file, with the `file:line` prefix its message must start with.
    static let fileErrors: [(DatasetError, String)] = [
        (.cannotRead(file: file, reason: "No such file or directory"), "\(file): "),
        (.cannotWrite(file: file, reason: "Read-only file system"), "\(file): "),
        (.emptyFile(file: file), "\(file): "),
        (.headerOnly(file: file), "\(file): "),
        (.missingColumn(file: file, column: "D508"), "\(file):1: "),
        (.duplicateColumn(file: file, column: "121", positions: [4, 9]), "\(file):1: "),
        (.raggedRow(file: file, line: 7, column: "D508", expected: 5, found: 4), "\(file):7: "),
        (.notANumber(file: file, line: 8, column: "D508", value: "x"), "\(file):8: column 'D508'"),
        (.notAnInteger(file: file, line: 9, column: "101", value: "1.5"), "\(file):9: column '101'"),
        (.idOutOfRange(file: file, line: 10, column: "101", value: "-3"), "\(file):10: column '101'"),
        (.nonFiniteValue(file: file, line: 11, column: "D508", value: "nan"), "\(file):11: column 'D508'"),
        (.labelNotBinary(file: file, line: 12, column: "click", value: "2"), "\(file):12: column 'click'"),
        (.idTooLarge(file: file, line: 13, column: "205", value: "99999999999"), "\(file):13: column '205'"),
        (.invalidSchema(file: file, reason: "column '121' is named more than once"), "\(file): invalid schema: "),
    ]

    @Test(arguments: fileErrors)
    func everyFileErrorStartsWithItsFileAndLine(error: DatasetError, prefix: String) {
        #expect(error.description.hasPrefix(prefix), "\(error.description)")
        #expect(error.file == Self.file)
        #expect(!error.description.contains("\n"))
    }

    @Test func errorsWithoutAFileSayWhatTheyAreAbout() {
        let schema = DatasetError.invalidSchema(file: nil, reason: "no sparse or dense feature column")
        #expect(schema.description == "invalid schema: no sparse or dense feature column")
        #expect(schema.file == nil)
        let configuration = DatasetError.invalidConfiguration(key: "scale", reason: "must be in (0, 1], got 2")
        #expect(configuration.description == "invalid configuration: scale must be in (0, 1], got 2")
        #expect(configuration.file == nil)
    }

    @Test func idMessagesStateTheRule() {
        let negative = DatasetError.idOutOfRange(file: "a.csv", line: 3, column: "205", value: "-4").description
        #expect(negative == "a.csv:3: column '205': sparse id -4 is outside 0...9223372036854775807"
                + " (ids are non-negative integers; ids at or past the vocabulary size map to its OOV row)")
        let large = DatasetError.idTooLarge(file: "a.csv", line: 3, column: "205", value: "99999999999").description
        #expect(large.hasPrefix("a.csv:3: column '205': id 99999999999 is too large to learn a vocabulary from"))
    }
}
