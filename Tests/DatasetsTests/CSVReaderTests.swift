import Foundation
import Testing
@testable import Datasets

/// One malformed file and the error it must raise.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let content: String
    var schema = CSVReaderTests.schema
    let expected: @Sendable (String) -> DatasetError
    var testDescription: String { name }
}

@Suite struct CSVReaderTests {
    static let schema = DatasetSchema(labels: ["click", "purchase"], sparse: ["101", "205"], dense: ["D508"])
    static let header = "click,purchase,101,205,D508\n"

    static let malformed: [MalformedCase] = [
        MalformedCase(name: "ragged row, too few fields", content: header + "1,0,3,4,0.5\n0,0,1,2\n") {
            .raggedRow(file: $0, line: 3, column: "D508", expected: 5, found: 4)
        },
        MalformedCase(name: "ragged row, too many fields", content: header + "0,0,1,2,0.5,9\n") {
            .raggedRow(file: $0, line: 2, column: "D508", expected: 5, found: 6)
        },
        MalformedCase(name: "ragged row wins over a bad value", content: header + "x,0,1\n") {
            .raggedRow(file: $0, line: 2, column: "205", expected: 5, found: 3)
        },
        MalformedCase(name: "non-numeric dense value", content: header + "0,0,1,2,abc\n") {
            .notANumber(file: $0, line: 2, column: "D508", value: "abc")
        },
        MalformedCase(name: "empty dense value", content: header + "0,0,1,2,\n") {
            .notANumber(file: $0, line: 2, column: "D508", value: "")
        },
        MalformedCase(name: "dense value with trailing junk", content: header + "0,0,1,2,0.5x\n") {
            .notANumber(file: $0, line: 2, column: "D508", value: "0.5x")
        },
        MalformedCase(name: "binary label 2", content: header + "1,0,1,2,0.5\n2,0,1,2,0.5\n") {
            .labelNotBinary(file: $0, line: 3, column: "click", value: "2")
        },
        MalformedCase(name: "binary label 0.5", content: header + "0,0.5,1,2,0.5\n") {
            .labelNotBinary(file: $0, line: 2, column: "purchase", value: "0.5")
        },
        MalformedCase(name: "non-numeric label", content: header + "yes,0,1,2,0.5\n") {
            .notANumber(file: $0, line: 2, column: "click", value: "yes")
        },
        MalformedCase(name: "missing column", content: "click,purchase,101,205\n0,0,1,2\n") {
            .missingColumn(file: $0, column: "D508")
        },
        MalformedCase(name: "duplicate column", content: "click,purchase,101,101,205,D508\n0,0,1,1,2,0.5\n") {
            .duplicateColumn(file: $0, column: "101", positions: [3, 4])
        },
        MalformedCase(name: "empty file", content: "") { .emptyFile(file: $0) },
        MalformedCase(name: "blank first line", content: "\n0,0,1,2,0.5\n") { .emptyFile(file: $0) },
        MalformedCase(name: "header only", content: header) { .headerOnly(file: $0) },
        MalformedCase(name: "header and blank lines only", content: header + "\r\n\n") { .headerOnly(file: $0) },
        MalformedCase(name: "fractional sparse id", content: header + "0,0,1,1.5,0.5\n") {
            .notAnInteger(file: $0, line: 2, column: "205", value: "1.5")
        },
        MalformedCase(name: "non-numeric sparse id", content: header + "0,0,abc,1,0.5\n") {
            .notAnInteger(file: $0, line: 2, column: "101", value: "abc")
        },
        MalformedCase(name: "sparse id in exponent form", content: header + "0,0,1e3,1,0.5\n") {
            .notAnInteger(file: $0, line: 2, column: "101", value: "1e3")
        },
        MalformedCase(name: "NaN dense value", content: header + "0,0,1,2,nan\n") {
            .nonFiniteValue(file: $0, line: 2, column: "D508", value: "nan")
        },
        MalformedCase(name: "infinite dense value", content: header + "0,0,1,2,-inf\n") {
            .nonFiniteValue(file: $0, line: 2, column: "D508", value: "-inf")
        },
        MalformedCase(name: "dense value overflowing Float32", content: header + "0,0,1,2,1e50\n") {
            .nonFiniteValue(file: $0, line: 2, column: "D508", value: "1e50")
        },
        MalformedCase(name: "id too large to learn a vocabulary", content: header + "0,0,1,99999999999,0.5\n") {
            .idTooLarge(file: $0, line: 2, column: "205", value: "99999999999")
        },
        MalformedCase(name: "negative sparse id", content: header + "0,0,1,2,0.5\n0,0,-4,2,0.5\n") {
            .idOutOfRange(file: $0, line: 3, column: "101", value: "-4")
        },
        MalformedCase(name: "sparse id past Int64", content: header + "0,0,1,9223372036854775808,0.5\n") {
            .idOutOfRange(file: $0, line: 2, column: "205", value: "9223372036854775808")
        },
        MalformedCase(name: "schema inconsistent with itself",
                      content: header + "0,0,1,2,0.5\n",
                      schema: DatasetSchema(labels: ["click"], labelKinds: [], sparse: ["101"], dense: [])) {
            .invalidSchema(file: $0, reason: "1 labels but 0 label kinds")
        },
        MalformedCase(name: "schema naming a column twice that the header holds once",
                      content: header + "0,0,1,2,0.5\n",
                      schema: DatasetSchema(labels: ["click"], sparse: ["101", "101"], dense: [])) {
            .invalidSchema(file: $0, reason: "column '101' is named more than once")
        },
        MalformedCase(name: "schema with a zero vocabulary size",
                      content: header + "0,0,1,2,0.5\n",
                      schema: DatasetSchema(labels: ["click"], sparse: ["101"], dense: [], vocabularySizes: [0])) {
            .invalidSchema(file: $0, reason: "vocabulary size 0 of field '101' is outside 1...\(DatasetSchema.maxVocabularySize)")
        },
        MalformedCase(name: "line number counts blank lines and CRLF",
                      content: "click,purchase,101,205,D508\r\n\r\n1,0,1,2,0.5\r\n1,0,1,2,x\r\n") {
            .notANumber(file: $0, line: 4, column: "D508", value: "x")
        },
        MalformedCase(name: "error on a last line without newline", content: header + "1,0,1,2,0.5\n1,0,1,2,?") {
            .notANumber(file: $0, line: 3, column: "D508", value: "?")
        },
        MalformedCase(name: "non-finite real label",
                      content: "y,a\ninf,1\n",
                      schema: DatasetSchema(labels: ["y"], labelKinds: [.real], sparse: ["a"], dense: [])) {
            .nonFiniteValue(file: $0, line: 2, column: "y", value: "inf")
        },
        MalformedCase(name: "schema names a column the file lacks",
                      content: "a b,y\n1,0\n",
                      schema: DatasetSchema(labels: ["y"], sparse: ["a b", "c"], dense: [])) {
            .missingColumn(file: $0, column: "c")
        },
    ]

    @Test(arguments: malformed)
    func malformedInputStopsWithAnErrorNamingFileLineAndColumn(_ testCase: MalformedCase) throws {
        try TestSupport.withTemporaryDirectory { dir in
            let url = try TestSupport.write(testCase.content, to: "fixture.csv", in: dir)
            for chunkSize in [1 << 16, 5] {
                let error = TestSupport.datasetError {
                    _ = try CSVReader(chunkSize: chunkSize).load(url, schema: testCase.schema)
                }
                #expect(error == testCase.expected(url.path), "chunk \(chunkSize)")
                if let error { #expect(error.description.contains(url.path)) }
            }
        }
    }

    @Test func errorMessagesNameFileLineColumnAndValue() {
        let message = DatasetError.notANumber(file: "/d/train.csv", line: 17, column: "D508", value: "abc").description
        #expect(message == "/d/train.csv:17: column 'D508': not a number: \"abc\"")
        let ragged = DatasetError.raggedRow(file: "f.csv", line: 3, column: "D508", expected: 5, found: 4).description
        #expect(ragged == "f.csv:3: expected 5 fields, found 4 (column 'D508' is missing)")
    }

    @Test func missingFileIsCannotRead() {
        let error = TestSupport.datasetError {
            _ = try CSVReader().load(URL(fileURLWithPath: "/nonexistent/rechub/x.csv"), schema: Self.schema)
        }
        guard case let .cannotRead(file, _)? = error else {
            Issue.record("expected cannotRead, got \(String(describing: error))")
            return
        }
        #expect(file == "/nonexistent/rechub/x.csv")
    }

    @Test(arguments: [1 << 20, 64, 7, 1])
    func columnsInAnyOrderExtraColumnsQuotedNamesCRLFAndNoFinalNewline(chunkSize: Int) throws {
        let text = "\u{FEFF}D508, \"user id\" ,purchase,note,click,205\r\n"
            + "0.5,3,0,free text here,1,7\r\n"
            + "\r\n"
            + "-1.25e-1,0,0,,0,4\r\n"
            + " 2 ,+12,1,x,1,3.0"  // spaces around a value, '+' sign, "3.0" as an id, no final newline
        let schema = DatasetSchema(labels: ["click", "purchase"], sparse: ["user id", "205"], dense: ["D508"])
        try TestSupport.withTemporaryDirectory { dir in
            let url = try TestSupport.write(text, to: "mixed.csv", in: dir)
            #expect(try CSVReader.header(of: url) == ["D508", "user id", "purchase", "note", "click", "205"])
            let ds = try CSVReader(chunkSize: chunkSize).load(url, schema: schema)
            #expect(ds.count == 3)
            #expect(ds.labels(task: 0) == [1, 0, 1])
            #expect(ds.labels(task: 1) == [0, 0, 1])
            #expect(ds.denseColumn(0) == [0.5, -0.125, 2])
            #expect(ds.vocabularySizes == [13, 8])
            #expect(ds.sparseColumn(0) == [3, 0, 12])
            #expect(ds.sparseColumn(1) == [7, 4, 3])
            #expect(ds.oovCounts == [0, 0])
        }
    }

    @Test func trainVocabularyAppliesToTheOtherSplits() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let train = try TestSupport.write(Self.header + "1,0,0,4,0.1\n0,0,2,1,0.2\n0,0,1,0,0.3\n", to: "train.csv", in: dir)
            let val = try TestSupport.write(Self.header + "0,0,3,4,0.1\n1,1,2,5,0.2\n0,0,7,99,0.3\n", to: "val.csv", in: dir)
            let reader = CSVReader()
            let trainSet = try reader.load(train, schema: Self.schema)
            #expect(trainSet.vocabularySizes == [3, 5])
            #expect(trainSet.oovCounts == [0, 0])
            let valSet = try reader.load(val, schema: Self.schema, vocabulary: trainSet.vocabularySizes)
            #expect(valSet.vocabularySizes == [3, 5])
            #expect(valSet.sparseColumn(0) == [3, 2, 3])
            #expect(valSet.sparseColumn(1) == [4, 5, 5])
            #expect(valSet.oovCounts == [2, 2])
            // The schema's own vocabulary is used when no argument is given.
            var fixed = Self.schema
            fixed.vocabularySizes = [10, 10]
            #expect(try reader.load(val, schema: fixed).oovCounts == [0, 1])
        }
    }

    @Test func wrongVocabularyCountIsASchemaError() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let url = try TestSupport.write(Self.header + "1,0,0,4,0.1\n", to: "a.csv", in: dir)
            let error = TestSupport.datasetError { _ = try CSVReader().load(url, schema: Self.schema, vocabulary: [3]) }
            #expect(error == .invalidSchema(file: url.path, reason: "1 vocabulary sizes for 2 sparse fields"))
            #expect(error?.description == "\(url.path): invalid schema: 1 vocabulary sizes for 2 sparse fields")
        }
    }

    /// Issue: a header naming `121` twice, with the schema derived from it by Ali-CCP's rule (as
    /// `rechub train` does), said "invalid schema: column '121' is named more than once" without
    /// the file. It is the header's fault, and the message names the file, line 1 and the fields.
    @Test func duplicateHeaderColumnUnderTheAliCCPRuleNamesTheFile() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let text = "click,purchase,101,121,121,D508\n1,0,3,4,5,0.5\n"
            let url = try TestSupport.write(text, to: "train.csv", in: dir)
            let schema = DatasetSchema.aliCCPRule(header: try CSVReader.header(of: url), labels: ["click", "purchase"])
            #expect(schema.sparse == ["101", "121", "121"])
            let error = TestSupport.datasetError { _ = try CSVReader().load(url, schema: schema) }
            #expect(error == .duplicateColumn(file: url.path, column: "121", positions: [4, 5]))
            #expect(error?.description == "\(url.path):1: column '121' appears more than once in the header (fields 4, 5)")
            let cached = TestSupport.datasetError {
                _ = try DatasetCache(directory: dir.appendingPathComponent("cache")).load(url, schema: schema)
            }
            #expect(cached == error)
        }
    }

    /// One rule for sparse ids: a non-negative integer in 0...Int64.max; negative ones and ones past
    /// Int64 stop the load naming file, line and column, whether the vocabulary is learned or given.
    @Test(arguments: ["-1", "-4", " -7 ", "-0009", "-9223372036854775808", "9223372036854775808",
                      "-9223372036854775809", "99999999999999999999999", "18446744073709551615"],
          [nil, [10, 10]] as [[Int]?])
    func negativeAndPastInt64IDsAreErrors(id: String, vocabulary: [Int]?) throws {
        try TestSupport.withTemporaryDirectory { dir in
            let url = try TestSupport.write(Self.header + "1,0,0,4,0.1\n0,0,2,\(id),0.2\n", to: "ids.csv", in: dir)
            for chunkSize in [1 << 16, 3] {
                let error = TestSupport.datasetError {
                    _ = try CSVReader(chunkSize: chunkSize).load(url, schema: Self.schema, vocabulary: vocabulary)
                }
                #expect(error == .idOutOfRange(file: url.path, line: 3, column: "205", value: id), "chunk \(chunkSize)")
                let message = error?.description ?? ""
                #expect(message.hasPrefix("\(url.path):3: column '205': sparse id \(id) is outside 0...\(Int64.max)"))
            }
        }
    }

    /// The other half of the rule: every non-negative Int64 id is valid, and those at or past the
    /// vocabulary size map to the OOV row; when learning, `max id + 1` must fit a vocabulary.
    @Test func largeNonNegativeIDsMapToOOVUnderAGivenVocabulary() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let rows = "1,0,0,4,0.1\n0,0,2,9223372036854775807,0.2\n0,0,-0,2147483646,0.3\n1,0,9,10,0.4\n"
            let url = try TestSupport.write(Self.header + rows, to: "big.csv", in: dir)
            let ds = try CSVReader().load(url, schema: Self.schema, vocabulary: [10, 10])
            #expect(ds.sparseColumn(0) == [0, 2, 0, 9])
            #expect(ds.sparseColumn(1) == [4, 10, 10, 10])
            #expect(ds.oovCounts == [0, 3])
            let error = TestSupport.datasetError { _ = try CSVReader().load(url, schema: Self.schema) }
            #expect(error == .idTooLarge(file: url.path, line: 3, column: "205", value: "9223372036854775807"))
        }
    }

    @Test func binaryLabelsMayBeWrittenAsFloats() throws {
        try TestSupport.withTemporaryDirectory { dir in
            let url = try TestSupport.write(Self.header + "1.0,0.0,1,2,0.5\n-0,0,1,2,0.5\n", to: "f.csv", in: dir)
            let ds = try CSVReader().load(url, schema: Self.schema)
            #expect(ds.labels(task: 0) == [1, 0] && ds.labels(task: 1) == [0, 0])
            #expect(ds.label(row: 1, task: 0).sign == .plus)
        }
    }

    @Test func longLinesGrowTheBuffer() throws {
        // 300 dense columns: one line is far longer than a 16-byte buffer.
        let names = (0..<300).map { "D\($0)" }
        let row = (0..<300).map { "\(Double($0) / 8)" }.joined(separator: ",")
        let text = "y,id," + names.joined(separator: ",") + "\n" + "1,5," + row + "\n0,6," + row
        let schema = DatasetSchema(labels: ["y"], sparse: ["id"], dense: names)
        try TestSupport.withTemporaryDirectory { dir in
            let url = try TestSupport.write(text, to: "wide.csv", in: dir)
            let ds = try CSVReader(chunkSize: 16).load(url, schema: schema)
            #expect(ds.count == 2)
            #expect(ds.denseValue(row: 1, column: 299) == Float(299.0 / 8))
            #expect(ds.sparseColumn(0) == [5, 6])
        }
    }

    @Test func manyRowsMatchTheValuesWritten() throws {
        // 20 000 rows from a fixed LCG through a small buffer; every value must come back exactly.
        var text = "click,purchase,101,205,D508\n"
        var expected: [(Float, Float, Int32, Int32, Float)] = []
        var state: UInt64 = 12345
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        for _ in 0..<20_000 {
            let click = Float(next() % 2), purchase: Float = click == 1 && next() % 4 == 0 ? 1 : 0
            let a = Int32(next() % 1000), b = Int32(next() % 50)
            let units = Int(next() % 100_000)
            let dense = Float(units) / 100_000
            text += "\(Int(click)),\(Int(purchase)),\(a),\(b),\(dense)\n"
            expected.append((click, purchase, a, b, dense))
        }
        try TestSupport.withTemporaryDirectory { dir in
            let url = try TestSupport.write(text, to: "many.csv", in: dir)
            let ds = try CSVReader(chunkSize: 4096).load(url, schema: Self.schema, vocabulary: [1000, 50])
            #expect(ds.count == expected.count)
            var mismatches = 0
            for (r, e) in expected.enumerated() {
                if ds.label(row: r, task: 0) != e.0 || ds.label(row: r, task: 1) != e.1
                    || ds.sparseID(row: r, field: 0) != e.2 || ds.sparseID(row: r, field: 1) != e.3
                    || ds.denseValue(row: r, column: 0) != e.4 { mismatches += 1 }
            }
            #expect(mismatches == 0)
        }
    }
}
