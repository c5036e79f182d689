// FuzzCSV: the input bytes are a CSV file, read by `CSVReader` with a fixed Ali-CCP-like
// schema (labels click, purchase; sparse 101, 205; dense D1): vocabulary learned, vocabulary
// given, and with tiny read chunks so lines straddle the buffer. Only the first load uses the
// default 4 MB chunk (its allocation dominates a run); the others read 4 KB or less at a
// time. Thrown errors are fine.
import Foundation
import FuzzDriver
import RecHub

/// One temporary file per fuzzing process (libFuzzer workers are separate processes).
let csvPath = NSTemporaryDirectory() + "rechub-fuzzcsv-\(getpid()).csv"
let schema = DatasetSchema(labels: ["click", "purchase"], sparse: ["101", "205"], dense: ["D1"])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    guard FileManager.default.createFile(atPath: csvPath, contents: bytes) else { fatalError("cannot write \(csvPath)") }
    let url = URL(fileURLWithPath: csvPath)
    _ = try? CSVReader.header(of: url)
    if let learned = try? CSVReader().load(url, schema: schema) {
        _ = learned.vocabularySizes
    }
    _ = try? CSVReader(chunkSize: 1 << 12).load(url, schema: schema, vocabulary: [10, 20])
    _ = try? CSVReader(chunkSize: 7).load(url, schema: schema, vocabulary: [1, 3])
    var fixed = schema
    fixed.vocabularySizes = [5, 5]
    _ = try? CSVReader(chunkSize: 64).load(url, schema: fixed)
    return 0
}

/// The executable's entry point (see FuzzDriver).
@_cdecl("FuzzCSV_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}
