import Kernels
import Layers
import Models
import TestSupport
import Testing

/// The gradient of each whole model (loss → logits → towers → gates/experts → embeddings)
/// against central finite differences of the model's own loss.
///
/// Tolerance per entry: |analytic − numeric| ≤ 2e-5 + 1e-2·|numeric|. The loss is a Float32
/// forward pass accumulated in Double; with h = 1e-2 the truncation error is ~h²·|f'''| and
/// rounding ~eps·|L|/h ≈ 1e-5, below the bound; a wrong gradient term is off by O(|g|).
struct ModelGradientTests {
    static let features = Features(sparseNames: ["u", "i", "c"], vocabularySizes: [5, 7, 3], embeddingDim: 4,
                                   denseNames: ["d0", "d1"])

    static func makeModel(_ kind: String, activation: Activation) -> any MultiTaskModel {
        switch kind {
        case "shared_bottom":
            return SharedBottom(features: features, hiddenUnits: [8, 6], taskHiddenUnits: [5], numTasks: 2,
                                taskTypes: [.classification, .regression], activation: activation,
                                embeddingInitStd: 0.5)
        default:
            return MMoE(features: features, expertUnits: [8, 6], numExperts: 3, numTasks: 2, towerUnits: [5],
                        taskTypes: [.classification, .classification], expertActivation: activation,
                        towerActivation: activation, embeddingInitStd: 0.5)
        }
    }

    // Smooth activations make the whole-model loss smooth, so central differences are exact
    // to O(h²). ReLU's backward is checked per layer (LayersTests), where kinks can be told
    // apart from errors; through BCE and softmax curvature they cannot at Float32 precision.
    @Test(arguments: ["shared_bottom", "mmoe"], [Activation.tanh, .sigmoid])
    func wholeModelGradient(kind: String, activation: Activation) {
        let model = Self.makeModel(kind, activation: activation)
        var rng = SeededRandom(seed: 99)
        model.initialize(rng: &rng)
        let b = 6, t = model.numTasks, f = Self.features.numSparse, d = Self.features.numDense
        var ids = [Int32](repeating: 0, count: b * f)
        for s in 0..<b {
            for j in 0..<f { ids[s * f + j] = Int32(rng.nextInt(below: Self.features.vocabularySizes[j] + 1)) }
        }
        let dense = randomBuffer(b * d, rng: &rng)
        let labels = FloatBuffer((0..<(b * t)).map { i in
            model.taskTypes[i % t] == .classification ? (rng.nextFloat() < 0.4 ? 1 : 0) : rng.nextFloat() * 2 - 1
        })
        model.prepare(batch: b)
        let dLogits = FloatBuffer(count: b * t)
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: t)
        defer { sums.deallocate() }
        let scale = 1 / Float(b)
        func loss() -> Double {
            ids.withUnsafeBufferPointer {
                model.forward(sparse: $0.baseAddress!, dense: dense.base, batch: b, params: model.parameterView)
            }
            model.loss(labels: labels.base, batch: b, scale: scale, dLogits: dLogits.base, lossSums: sums)
            return (0..<t).reduce(0) { $0 + sums[$1] } * Double(scale)
        }
        _ = loss()
        let grads = FloatBuffer(count: model.layout.count)
        let embGrad = SparseRowGradient(rowCount: model.embeddings.rowCount, dim: 4, capacity: b * f)
        model.backward(dLogits: dLogits.base, batch: b, params: model.parameterView, grads: model.layout.view(grads),
                       embeddingGrad: embGrad)
        // ReLU: where ±h straddles a kink (one-sided slopes differing by more than the smooth
        // parts bend over h), judge by the one-sided slope on the analytic side.
        // A smaller h for ReLU makes kinks inside ±h rarer and the one-sided slopes' curvature
        // error (~h·f''/2) smaller; rounding noise grows to ~eps·|L|/h ≈ 5e-5, still far below.
        let kink: Double? = activation == .relu ? 2e-5 : nil
        let h: Float = activation == .relu ? 2e-3 : 1e-2
        // Every tensor, up to 40 entries each, so no tensor's gradient goes unchecked.
        for spec in model.layout.tensors {
            let idx = sampleIndices(40, below: spec.count, rng: &rng).map { $0 + spec.offset }
            let c = checkGradient(parameters: model.parameters.base, indices: idx, analytic: { grads[$0] }, h: h,
                                  kinkTolerance: kink, label: spec.name, loss: loss)
            #expect(c.failures == 0, "\(kind) \(activation) \(spec.name): \(c)")
        }
        // Embedding entries: touched rows get their sparse gradient, untouched rows zero.
        let e = model.embeddings.dim
        let embIdx = sampleIndices(120, below: model.embeddings.weights.count, rng: &rng)
        let c = checkGradient(parameters: model.embeddings.weights.base, indices: embIdx, analytic: { i in
            guard let s = embGrad.slot(of: Int32(i / e)) else { return 0 }
            return embGrad.values[s * e + i % e]
        }, h: h, kinkTolerance: kink, label: "embeddings", loss: loss)
        #expect(c.failures == 0, "\(kind) \(activation) embeddings: \(c)")
    }

    @Test func sharedTaskLayersFollowRoles() {
        let mmoe = Self.makeModel("mmoe", activation: .relu)
        let (shared, task) = mmoe.sharedTaskLayers()
        #expect(shared.allSatisfy { $0.name.hasPrefix("experts.") })
        #expect(task[0].contains { $0.name == "gates.0.weight" } && task[1].contains { $0.name == "towers.1.1.bias" })
        let sb = Self.makeModel("shared_bottom", activation: .relu)
        #expect(sb.sharedTaskLayers().shared.allSatisfy { $0.name.hasPrefix("bottom.") })
        // ESMM and AITM share only the embeddings; a PLE task-specific expert is a task parameter.
        let f = Self.features
        #expect(ESMM(features: f, towerUnits: [4]).sharedTaskLayers().shared.isEmpty)
        let aitm = AITM(features: f, towerUnits: [4]).sharedTaskLayers()
        #expect(aitm.shared.isEmpty && aitm.task[1].contains { $0.name == "ait.1.query.weight" }
                && aitm.task[1].contains { $0.name == "towers.1.0.weight" })
        let ple = PLE(features: f, expertUnits: [4], numExperts: 1, numLayers: 2, numSharedExperts: 1,
                      taskTypes: [.classification, .classification]).sharedTaskLayers()
        #expect(ple.shared.allSatisfy { $0.name.contains(".shared") })
        #expect(ple.task[0].contains { $0.name == "levels.1.tasks.0.experts.0.weight" }
                && ple.task[1].contains { $0.name == "levels.0.gates.1.weight" })
    }

    @Test func mmoeGatesSumToOneAndMixExperts() {
        // With all experts made identical, every gate mixture equals that one expert, so the
        // two tasks' towers see the same input whatever the gates say.
        let model = MMoE(features: Self.features, expertUnits: [4], numExperts: 3, numTasks: 2, towerUnits: [3])
        model.initialize(seed: 5)
        let w = model.layout.tensor(named: "experts.0.weight")!
        let bias = model.layout.tensor(named: "experts.0.bias")!
        let per = w.count / 3
        for k in 1..<3 {
            for i in 0..<per { model.parameters[w.offset + k * per + i] = model.parameters[w.offset + i] }
            for i in 0..<4 { model.parameters[bias.offset + k * 4 + i] = model.parameters[bias.offset + i] }
        }
        // Give both towers the same weights too.
        for (a, b) in zip(model.sharedTaskLayers().task[0], model.sharedTaskLayers().task[1]) where a.name.hasPrefix("towers") {
            for i in 0..<a.count { model.parameters[b.offset + i] = model.parameters[a.offset + i] }
        }
        model.prepare(batch: 2)
        let ids: [Int32] = [0, 1, 2, 4, 6, 3]
        let dense = FloatBuffer([0.1, 0.2, 0.3, 0.4])
        ids.withUnsafeBufferPointer {
            model.forward(sparse: $0.baseAddress!, dense: dense.base, batch: 2, params: model.parameterView)
        }
        #expect(abs(model.logits[0] - model.logits[1]) < 1e-5 && abs(model.logits[2] - model.logits[3]) < 1e-5)
    }

    /// Batch normalisation (batch statistics) and dropout (a fixed seeded mask) in every MLP
    /// and expert layer: the whole model's gradient still matches finite differences.
    @Test(arguments: ["shared_bottom", "mmoe"])
    func gradientWithBatchNormAndDropout(kind: String) {
        let options = MLPOptions(batchNorm: true, dropout: 0.3)
        let f = Self.features
        let model: any MultiTaskModel = kind == "mmoe"
            ? MMoE(features: f, expertUnits: [8, 6], numExperts: 3, numTasks: 2, towerUnits: [5], expertActivation: .tanh,
                   towerActivation: .tanh, options: options, embeddingInitStd: 0.5)
            : SharedBottom(features: f, hiddenUnits: [8, 6], taskHiddenUnits: [5], numTasks: 2, activation: .tanh,
                           options: options, embeddingInitStd: 0.5)
        var rng = SeededRandom(seed: 7)
        model.initialize(rng: &rng)
        // Move γ, β away from 1, 0 so their gradients are generic.
        for spec in model.layout.tensors where spec.name.contains(".bn.") {
            for i in 0..<spec.count { model.parameters[spec.offset + i] += (rng.nextFloat() - 0.5) * 0.4 }
        }
        model.context.isTraining = true
        model.context.seed = 3
        let b = 6, t = 2
        let batch = RandomBatch(rows: b, vocabularySizes: f.vocabularySizes, numDense: f.numDense, tasks: t, positiveRate: 0.4,
                                outOfVocabulary: true, rng: &rng)
        let (ids, dense, labels) = (batch.ids, batch.dense, batch.labels)
        model.prepare(batch: b)
        let dLogits = FloatBuffer(count: b * t)
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: t)
        defer { sums.deallocate() }
        func loss() -> Double {
            ids.withUnsafeBufferPointer { model.forward(sparse: $0.baseAddress!, dense: dense.base, batch: b, params: model.parameterView) }
            model.loss(labels: labels.base, batch: b, scale: 1 / Float(b), dLogits: dLogits.base, lossSums: sums)
            return (sums[0] + sums[1]) / Double(b)
        }
        _ = loss()
        let grads = FloatBuffer(count: model.layout.count)
        let embGrad = SparseRowGradient(rowCount: model.embeddings.rowCount, dim: f.embeddingDim, capacity: b * f.numSparse)
        model.backward(dLogits: dLogits.base, batch: b, params: model.parameterView, grads: model.layout.view(grads),
                       embeddingGrad: embGrad)
        for spec in model.layout.tensors {
            let idx = sampleIndices(30, below: spec.count, rng: &rng).map { $0 + spec.offset }
            // Batch statistics over 6 rows bend the loss strongly (h = 1e-2 truncates ~1e-4), so a
            // smaller h; its rounding noise, eps·|L|/h ≈ 4e-5, sets atol.
            let c = checkGradient(parameters: model.parameters.base, indices: idx, analytic: { grads[$0] },
                                  h: 3e-3, atol: 8e-5, label: spec.name, loss: loss)
            #expect(c.failures == 0, "\(kind) \(spec.name): \(c)")
        }
        #expect(model.layout.tensors.contains { $0.name.hasSuffix(".bn.weight") })
    }
}
