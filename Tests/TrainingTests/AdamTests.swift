import Kernels
import Layers
import Testing
import Training

/// Adam against torch.optim.Adam, and the lazy versus dense embedding updates.
struct AdamTests {
    /// From Tools/adam_fixture.py (torch 2.15.0, float32): parameters after each of 3 steps,
    /// lr 0.01, betas (0.9, 0.999), eps 1e-8, weight_decay 0.1.
    static let torchSteps: [[Float]] = [
        [0.49000000953674316, -0.9900000095367432, 1.9900000095367432, 0.0, -0.008999999612569809],
        [0.4833492040634155, -0.9905429482460022, 1.9800004959106445, -0.007440316490828991, -0.008472884073853493],
        [0.4752235412597656, -0.9895005226135254, 1.9764450788497925, -0.0018750270828604698, -0.010218706913292408],
    ]
    static let grads: [[Float]] = [
        [0.1, -0.2, 0.3, 0.0, 5.0],
        [-0.05, 0.4, 0.3, 1e-4, -5.0],
        [0.2, 0.0, -0.6, 0.0, 2.5],
    ]

    @Test func matchesTorchAdam() {
        let adam = Adam(learningRate: 0.01, weightDecay: 0.1)
        adam.bind(parameterCount: 5, embeddingCount: 0)
        let p = FloatBuffer([0.5, -1.0, 2.0, 0.0, 1e-3])
        for (step, g) in Self.grads.enumerated() {
            adam.beginStep()
            adam.update(params: p, grads: FloatBuffer(g), range: 0..<5, lr: 0.01)
            for i in 0..<5 {
                // Same float32 operations in the same order as torch's single-tensor Adam,
                // except pow/sqrt of the bias corrections (done in Double here): ≤ 2 ulp.
                #expect(abs(p[i] - Self.torchSteps[step][i]) <= 4 * Self.torchSteps[step][i].ulp + 1e-9,
                        "step \(step + 1) param \(i): \(p[i]) vs torch \(Self.torchSteps[step][i])")
            }
        }
    }

    @Test func lazyRowsMoveOnlyWhenTouchedAndDenseMatchesDenseAdam() {
        let emb = FieldEmbeddings(vocabularySizes: [3], dim: 2)  // 4 rows
        for i in 0..<8 { emb.weights[i] = Float(i) / 10 }
        let grad = SparseRowGradient(rowCount: 4, dim: 2, capacity: 4)
        for mode in EmbeddingUpdate.allCases {
            let e = FieldEmbeddings(vocabularySizes: [3], dim: 2)
            e.weights.copy(from: emb.weights)
            let adam = Adam(learningRate: 0.1, embeddingUpdate: mode)
            adam.bind(parameterCount: 0, embeddingCount: 8)
            // Step 1 touches row 1; step 2 touches row 2.
            let dense = FloatBuffer(count: 8)
            dense.copy(from: emb.weights)
            let reference = Adam(learningRate: 0.1)
            reference.bind(parameterCount: 8, embeddingCount: 0)
            for (row, g) in [(Int32(1), [Float(1), -1]), (2, [0.5, 0.5])] {
                grad.reset()
                g.withUnsafeBufferPointer { grad.add(row: row, $0.baseAddress!) }
                adam.beginStep()
                adam.updateEmbeddings(e, gradient: grad, lr: 0.1)
                let full = FloatBuffer(count: 8)
                full[Int(row) * 2] = g[0]
                full[Int(row) * 2 + 1] = g[1]
                reference.beginStep()
                reference.update(params: dense, grads: full, range: 0..<8, lr: 0.1)
            }
            switch mode {
            case .lazy:
                #expect(e.weights[0] == emb.weights[0] && e.weights[7] == emb.weights[7], "untouched rows stay")
                #expect(e.weights[2] != emb.weights[2] && e.weights[4] != emb.weights[4])
                // Row 1 was touched at step 1 only: after step 2 it keeps its step-1 value (its
                // moments did not decay), unlike dense Adam where momentum moves it again.
                #expect(e.weights[2] != dense[2])
            case .dense:
                for i in 0..<8 { #expect(e.weights[i] == dense[i], "row \(i / 2)") }
            }
        }
    }
}
