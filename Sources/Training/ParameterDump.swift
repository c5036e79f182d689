import Datasets
import Foundation
import Models

/// Writes the model's dense parameters and embeddings as a raw dump: the magic `RHPARAM1`,
/// two little-endian Int64 counts, then the floats. For comparing runs bit for bit
/// (checkpoints with optimizer state are a separate, checksummed format). Written atomically;
/// a symbolic link at `path` is written through, and a path that is not a regular file (a
/// folder, device, FIFO or socket) is refused (see `OutputPlaces.fileTarget`).
/// - Throws: `DatasetError.cannotWrite` naming `path` and the reason.
public func saveParameters(_ model: any MultiTaskModel, to path: String) throws {
    var data = Data("RHPARAM1".utf8)
    for n in [model.parameters.count, model.embeddings.weights.count] {
        withUnsafeBytes(of: Int64(n).littleEndian) { data.append(contentsOf: $0) }
    }
    for b in [model.parameters, model.embeddings.weights] {
        data.append(UnsafeBufferPointer(start: b.base, count: b.count))
    }
    do {
        try data.write(to: URL(fileURLWithPath: try OutputPlaces.fileTarget(path)), options: .atomic)
    } catch let refusal as OutputPlaces.Refusal {
        throw DatasetError.cannotWrite(file: path, reason: refusal.reason)
    } catch {
        throw DatasetError.cannotWrite(file: path, reason: error.localizedDescription)
    }
}

/// Reads a dump written by `saveParameters`: (dense parameters, embeddings).
public func loadParameters(from path: String) throws -> ([Float], [Float]) {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw DatasetError.cannotRead(file: path, reason: "no such file")
    }
    guard data.count >= 24, data.prefix(8) == Data("RHPARAM1".utf8) else {
        throw DatasetError.cannotRead(file: path, reason: "not a RecHub parameter dump")
    }
    let (a, b) = data.withUnsafeBytes { raw in
        (Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: Int64.self))),
         Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: Int64.self))))
    }
    guard a >= 0, b >= 0, data.count == 24 + 4 * (a + b) else {
        throw DatasetError.cannotRead(file: path, reason: "sizes \(a) + \(b) do not match the file's \(data.count) bytes")
    }
    return data.withUnsafeBytes { raw in
        let p = raw.baseAddress! + 24
        var dense = [Float](repeating: 0, count: a), emb = [Float](repeating: 0, count: b)
        dense.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: p, count: 4 * a)) }
        emb.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: p + 4 * a, count: 4 * b)) }
        return (dense, emb)
    }
}
