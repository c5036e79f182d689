// FuzzCheckpoint: the input bytes are a checkpoint file. Each input is tried twice: as given,
// and with its file size and header, table and section checksums recomputed (as a hostile
// writer would), so mutations reach the section contents. Both go through everything
// `rechub evaluate`/`predict` do before reading weights: `CheckpointFile(data:path:)`,
// `verifyAll()`, `Checkpointer.readSetup`, `Checkpointer.makeModel` with the job's builder,
// then `loadWeights`. Thrown errors are fine; a trap or an allocation past what the file
// holds is a finding.
import Foundation
import FuzzDriver
import RecHub

/// The table layout of `CheckpointFormat` (header 128 bytes, entries of 48).
let headerSize = 128, entrySize = 48

func load(_ at: Int, _ b: [UInt8]) -> UInt64 {
    b.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
}

func store(_ v: UInt64, _ at: Int, _ b: inout [UInt8]) {
    withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { b[at + i] = $0[i] } }
}

/// The bytes with the declared size and every checksum made to match; nil when no table fits.
func resealed(_ input: [UInt8]) -> [UInt8]? {
    var b = input
    guard b.count >= headerSize else { return nil }
    let count = b.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 16, as: UInt32.self))) }
    guard count <= CheckpointFormat.maxSections else { return nil }
    let tableEnd = headerSize + count * entrySize + 8
    guard tableEnd <= b.count else { return nil }
    store(UInt64(b.count), 24, &b)
    for k in 0..<count {
        let e = headerSize + k * entrySize
        let offset = load(e + 24, b), length = load(e + 32, b)
        guard length <= UInt64(b.count), offset <= UInt64(b.count) - length else { continue }
        let sum = b.withUnsafeBytes { checksum64(UnsafeRawBufferPointer(rebasing: $0[Int(offset)..<Int(offset + length)])) }
        store(sum, e + 40, &b)
    }
    store(b.withUnsafeBytes { checksum64(UnsafeRawBufferPointer(rebasing: $0[headerSize..<(tableEnd - 8)])) }, tableEnd - 8, &b)
    store(b.withUnsafeBytes { checksum64(UnsafeRawBufferPointer(rebasing: $0[0..<120])) }, 120, &b)
    return b
}

func check(_ bytes: [UInt8]) {
    guard let file = try? CheckpointFile(data: Data(bytes), path: "fuzz.ckpt") else { return }
    _ = try? file.verifyAll()
    guard let (config, features) = try? Checkpointer.readSetup(file) else { return }
    let job = TrainingJob(config: config)
    guard let model = try? Checkpointer.makeModel(for: file, features: features, build: { job.makeModel(features: $0) }) else { return }
    _ = try? Checkpointer.loadWeights(file, into: model)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    check(input)
    if let sealed = resealed(input), sealed != input { check(sealed) }
    return 0
}

/// The executable's entry point (see FuzzDriver).
@_cdecl("FuzzCheckpoint_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}
