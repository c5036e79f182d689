import Kernels
import Layers
import TestSupport
import Testing

/// Embedding lookup and its sparse row gradient.
struct FieldEmbeddingsTests {
    @Test func lookupAndSparseGradient() {
        let emb = FieldEmbeddings(vocabularySizes: [3, 2], dim: 2)
        #expect(emb.rowOffsets == [0, 4] && emb.rowCount == 7)
        for i in 0..<emb.weights.count { emb.weights[i] = Float(i) }
        // Two samples; sample 1 uses field 0's OOV row (id 3) and repeats field 1's id 1.
        let ids: [Int32] = [1, 1, 3, 1]
        let rows = Int32Buffer(count: 4)
        ids.withUnsafeBufferPointer { emb.globalRows(ids: $0.baseAddress!, batch: 2, into: rows.base) }
        #expect((0..<4).map { rows[$0] } == [1, 5, 3, 5])
        let x = FloatBuffer(count: 2 * 4)
        emb.forward(output: x.base, ldx: 4, rows: rows.base, batch: 2)
        #expect(x.toArray() == [2, 3, 10, 11, 6, 7, 10, 11])
        let grad = SparseRowGradient(rowCount: emb.rowCount, dim: 2, capacity: 8)
        let dx = FloatBuffer([1, 2, 3, 4, 5, 6, 7, 8])
        emb.backward(dOutput: dx.base, lddx: 4, rows: rows.base, batch: 2, into: grad)
        #expect(grad.count == 3)
        #expect((0..<3).map { grad.rows[$0] } == [1, 5, 3])
        #expect(grad.values.toArray()[0..<6] == [1, 2, 10, 12, 5, 6], "row 5 sums both samples")
        grad.reset()
        #expect(grad.count == 0 && grad.slot(of: 5) == nil)
        emb.backward(dOutput: dx.base, lddx: 4, rows: rows.base, batch: 1, into: grad)
        #expect(grad.count == 2 && grad.values.toArray()[0..<4] == [1, 2, 3, 4], "rows are zeroed when reused")
    }
}
