import Collectives
import Kernels
import Layers

/// Sums the ranks' sparse embedding gradients (DESIGN.md §5), choosing per field and per
/// step the cheaper of two exchanges, the same choice on every rank:
///
/// ```
/// all-gather of (row, values):  each rank receives Σ_r touched_{r,f} · (E+1) floats
/// dense all-reduce of the table: about 2 · rows_f · (E+1) floats (ring)
/// dense when 2 · rows_f < Σ_r touched_{r,f}
/// ```
/// The dense path carries a touch count per row, so the merged gradient touches exactly
/// the rows some rank touched (lazy Adam must not move rows nobody saw). Gathered rows are
/// merged in rank order, so every rank ends with identical sums. No allocation per step.
final class EmbeddingExchange {
    let communicator: any Communicator
    let embeddings: FieldEmbeddings
    let dim: Int
    let rowOffsets: [Int]
    let rowCounts: [Int]
    /// Fields whose tables are small enough to ever take the dense path, with the offset of
    /// their region (rows_f × (E+1) floats) in `denseBuffer`.
    let denseOffset: [Int]
    let denseBuffer: FloatBuffer
    let sendBuffer: FloatBuffer
    let receiveBuffer: FloatBuffer
    let counts: UnsafeMutablePointer<Int32>
    let fieldCounts: UnsafeMutablePointer<Double>
    let useDense: UnsafeMutablePointer<Bool>

    /// Prepares buffers for `globalBatch × F` touched rows per step.
    init(communicator: any Communicator, embeddings: FieldEmbeddings, globalBatch: Int) {
        self.communicator = communicator
        self.embeddings = embeddings
        dim = embeddings.dim
        rowOffsets = embeddings.rowOffsets
        rowCounts = embeddings.vocabularySizes.map { $0 + 1 }
        let f = rowCounts.count
        var offsets: [Int] = []
        var total = 0
        for rows in rowCounts {
            // Dense only ever wins when 2·rows < Σ touched ≤ global batch.
            if 2 * rows < globalBatch {
                offsets.append(total)
                total += rows * (dim + 1)
            } else {
                offsets.append(-1)
            }
        }
        denseOffset = offsets
        denseBuffer = FloatBuffer(count: total)
        let localRows = (globalBatch + communicator.size - 1) / communicator.size * f
        sendBuffer = FloatBuffer(count: localRows * (dim + 1))
        receiveBuffer = FloatBuffer(count: localRows * communicator.size * (dim + 1))
        counts = .allocate(capacity: communicator.size)
        fieldCounts = .allocate(capacity: f)
        useDense = .allocate(capacity: f)
        useDense.initialize(repeating: false, count: f)
    }

    deinit {
        counts.deallocate()
        fieldCounts.deallocate()
        useDense.deallocate()
    }

    /// The field of a global row.
    @inline(__always)
    func field(of row: Int) -> Int { embeddings.field(ofRow: row) }

    /// Replaces `grad` (this rank's rows) with the sum over all ranks.
    func exchange(_ grad: SparseRowGradient) throws {
        let f = rowCounts.count, e = dim, w = e + 1
        for i in 0..<f { fieldCounts[i] = 0 }
        for s in 0..<grad.count { fieldCounts[field(of: Int(grad.rows[s]))] += 1 }
        try communicator.allReduceSum(fieldCounts, count: f)
        var anyDense = false
        for i in 0..<f {
            useDense[i] = denseOffset[i] >= 0 && 2 * Double(rowCounts[i]) < fieldCounts[i]
            anyDense = anyDense || useDense[i]
        }
        // Pack: dense fields scatter into their regions, the others into the send buffer.
        if anyDense { denseBuffer.zero() }
        var sent = 0
        for s in 0..<grad.count {
            let row = Int(grad.rows[s])
            let fi = field(of: row)
            let src = grad.values.base + s * e
            if useDense[fi] {
                let dst = denseBuffer.base + denseOffset[fi] + (row - rowOffsets[fi]) * w
                dst.update(from: src, count: e)
                dst[e] = 1
            } else {
                let dst = sendBuffer.base + sent * w
                dst[0] = Float(bitPattern: UInt32(bitPattern: grad.rows[s]))
                (dst + 1).update(from: src, count: e)
                sent += 1
            }
        }
        if anyDense { try communicator.allReduceSum(denseBuffer.base, count: denseBuffer.count) }
        let total = try communicator.allGatherV(sendBuffer.base, count: sent * w, into: receiveBuffer.base,
                                                capacity: receiveBuffer.count, counts: counts)
        // Merge: dense fields row by row, then gathered rows in rank order.
        grad.reset()
        if anyDense {
            for fi in 0..<f where useDense[fi] {
                let region = denseBuffer.base + denseOffset[fi]
                for r in 0..<rowCounts[fi] where region[r * w + e] > 0 {
                    grad.add(row: Int32(rowOffsets[fi] + r), region + r * w)
                }
            }
        }
        var i = 0
        while i < total {
            grad.add(row: Int32(bitPattern: receiveBuffer.base[i].bitPattern), receiveBuffer.base + i + 1)
            i += w
        }
    }
}
