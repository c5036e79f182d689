import Foundation
import Kernels
import Layers
import Models
import TestSupport
import Testing

/// bf16 products against fp32 on one fixed batch: every gradient tensor of whole models
/// (MMoE with batch norm, PLE, SharedBottom; ReLU, realistic widths), as the trainer computes
/// them, with each optional backend's bf16 product (`precision: bf16`; oneDNN, MKL) and its fp32 product.
///
/// The bound, per tensor: the relative error e = ‖g_bf16 − g_fp32‖₂ / ‖g_fp32‖₂ is at most
/// 4·e_w + 10⁻³, where e_w is the relative error that merely storing the parameters in bf16
/// (fp32 products) causes. Why relative to e_w and not a constant: a bf16 input is off by at
/// most u = 2^-8 relative, but a gradient that is a sum of many terms of both signs (deep
/// layers and embeddings, far from the loss) can be much smaller than the terms, so its relative
/// error is u times that cancellation, which only the model can say; e_w measures it on the
/// same batch. bf16 products round the weights (what e_w sees) and, independently, each
/// product's other input: the activations forward, the output gradients and activations
/// backward. Independent roundings of comparable size add in norm, so e ≈ √(1 + 3)·e_w = 2·e_w
/// where every product of a gradient's path is rounded; 4 leaves 2× margin (measured worst
/// ratio: 2.9, PLE's tower weights; printed). 10⁻³ covers tensors whose e_w is near zero. A
/// transposed operand, a wrong stride or a product on the wrong matrix gives e = O(1), and the
/// test also requires the bf16 gradients to differ from fp32 (the bf16 routine ran).
@Suite(.enabled(if: GEMMLibrariesForTests.cpuRunsBF16, "no bf16 on this CPU: bf16 gradient tests skipped"))
struct BF16GradientTests {
    static let features = Features(sparseNames: (0..<6).map { "s\($0)" }, vocabularySizes: [50, 80, 20, 30, 60, 10],
                                   embeddingDim: 8, denseNames: ["d0", "d1", "d2"])

    static func makeModel(_ kind: String) -> any MultiTaskModel {
        switch kind {
        case "ple":
            return PLE(features: features, expertUnits: [64, 32], numExperts: 2, numLayers: 2, numSharedExperts: 1,
                       taskTypes: [.classification, .classification], towerUnits: [16], embeddingInitStd: 0.3)
        case "shared_bottom":
            return SharedBottom(features: features, hiddenUnits: [128, 64], taskHiddenUnits: [16], numTasks: 2,
                                taskTypes: nil, activation: .relu, embeddingInitStd: 0.3)
        default:
            return MMoE(features: features, expertUnits: [128, 64], numExperts: 4, numTasks: 2, towerUnits: [32, 16],
                        options: MLPOptions(batchNorm: true), embeddingInitStd: 0.3)
        }
    }

    /// The dense and embedding gradients of one batch of 256 rows, under `settings`.
    static func gradients(_ kind: String, _ settings: GEMMSelection, roundParameters: Bool = false)
        -> (model: any MultiTaskModel, dense: [Float], embedding: [Float])
    {
        let model = makeModel(kind)
        var rng = SeededRandom(seed: 5)
        model.initialize(rng: &rng)
        if roundParameters {
            GEMMEngine.roundToBF16(model.parameters.base, model.parameters.base, count: model.parameters.count)
            let e = model.embeddings.weights
            GEMMEngine.roundToBF16(e.base, e.base, count: e.count)
        }
        let b = 256, t = model.numTasks, f = features.numSparse
        let batch = RandomBatch(rows: b, vocabularySizes: features.vocabularySizes, numDense: features.numDense, tasks: t,
                                positiveRate: 0.3, outOfVocabulary: false, rng: &rng)
        let (ids, dense, labels) = (batch.ids, batch.dense, batch.labels)
        model.prepare(batch: b)
        let dLogits = FloatBuffer(count: b * t)
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: t)
        defer { sums.deallocate() }
        let grads = FloatBuffer(count: model.layout.count)
        let embGrad = SparseRowGradient(rowCount: model.embeddings.rowCount, dim: features.embeddingDim, capacity: b * f)
        GEMMEngine.withSettings(settings) {
            ids.withUnsafeBufferPointer {
                model.forward(sparse: $0.baseAddress!, dense: dense.base, batch: b, params: model.parameterView)
            }
            model.loss(labels: labels.base, batch: b, scale: 1 / Float(b), dLogits: dLogits.base, lossSums: sums)
            model.backward(dLogits: dLogits.base, batch: b, params: model.parameterView, grads: model.layout.view(grads),
                           embeddingGrad: embGrad)
        }
        return (model, grads.toArray(), Array(embGrad.values.toArray().prefix(embGrad.count * features.embeddingDim)))
    }

    @Test(arguments: ["mmoe", "ple", "shared_bottom"], GEMMLibrariesForTests.backends)
    func eachGradientTensorIsWithinTheBF16Bound(kind: String, backend: GEMMBackend) throws {
        guard GEMMLibrariesForTests.enabled(backend) else { return }
        let fp32 = Self.gradients(kind, try GEMMLibrariesForTests.settings(backend, .fp32))
        let bf16 = Self.gradients(kind, try GEMMLibrariesForTests.settings(backend, .bf16))
        let rounded = Self.gradients(kind, try GEMMLibrariesForTests.settings(backend, .fp32), roundParameters: true)
        func relative(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> (error: Double, norm: Double) {
            var d = 0.0, n = 0.0
            for (x, y) in zip(a, b) { d += Double(x - y) * Double(x - y); n += Double(y) * Double(y) }
            return (d.squareRoot() / max(n.squareRoot(), 1e-30), n.squareRoot())
        }
        var worst = (name: "", ratio: 0.0, error: 0.0), anyDifference = false
        var tensors = fp32.model.layout.tensors.map { ($0.name, $0.offset..<($0.offset + $0.count)) }
        tensors.append(("embeddings", 0..<fp32.embedding.count))
        for (name, range) in tensors {
            let (a, b) = name == "embeddings" ? (bf16.embedding[range], fp32.embedding[range]) : (bf16.dense[range], fp32.dense[range])
            let c = name == "embeddings" ? rounded.embedding[range] : rounded.dense[range]
            let r = relative(a, b)
            let q = relative(c, b)
            // Biases before batch norm have a gradient that is zero in theory: rounding noise only.
            if r.norm < 1e-6 { continue }
            if r.error / q.error > worst.ratio { worst = (name, r.error / q.error, r.error) }
            if r.error > 1e-5 { anyDifference = true }
            #expect(r.error <= 4 * q.error + 1e-3,
                    "\(backend) \(kind) \(name): relative error \(r.error) with bf16 products, \(q.error) with bf16 parameters")
        }
        #expect(anyDifference, "\(backend) \(kind): bf16 gradients equal fp32 ones: the bf16 product did not run")
        print("bf16 gradients, \(backend) \(kind): worst ratio \(worst.ratio) to bf16-stored parameters' error, in \(worst.name) "
              + "(relative error \(worst.error))")
    }
}
