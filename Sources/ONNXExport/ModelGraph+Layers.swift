import Kernels
import Layers
import Models
import RecHubProto

/// The layer emitters: each adds the nodes computing one RecHub layer in inference mode and
/// returns the name of its output value. Shapes use the house letters (B batch, F sparse
/// fields, E embedding width, D dense width, K experts, H width).
extension ModelGraph {
    /// The model input `x` from the graph inputs `sparse_ids` (B, F) int64 and, when the model
    /// has dense features, `dense` (B, D) float:
    ///
    /// ```
    /// id'  = vocab[f]   where id < 0 or id ≥ vocab[f]      (the OOV row; CSVReader's rule)
    ///        id         otherwise
    /// row  = rowOffsets[f] + id'                            (the embedding arena's global row)
    /// x    = [ Gather(embeddings, row) reshaped (B, F·E) | dense ]      (B, F·E + D)
    /// ```
    /// The CSV reader refuses a negative id (the load stops naming the line); a graph cannot
    /// refuse one row, so it sends negative ids to the OOV row too, never to ONNX Gather's
    /// count-from-the-end rows.
    func modelInput(sparse: String, dense: String?) -> String {
        let features = model.features
        let embeddings = model.embeddings
        let f = features.numSparse, e = features.embeddingDim
        let vocab = int64Constant(features.vocabularySizes.map(Int64.init), name: "vocabulary_sizes")
        let offsets = int64Constant(embeddings.rowOffsets.map(Int64.init), name: "embedding_row_offsets")
        let zero = int64Constant([0], name: "zero", scalar: true)
        let negative = builder.node("Less", [sparse, zero], name: "id_negative")
        let past = builder.node("GreaterOrEqual", [sparse, vocab], name: "id_past_vocabulary")
        let oov = builder.node("Or", [negative, past], name: "id_out_of_vocabulary")
        let ids = builder.node("Where", [oov, vocab, sparse], name: "ids")
        let rows = builder.node("Add", [ids, offsets], name: "embedding_rows")
        let table = builder.addInitializer(
            "embeddings", floats: UnsafeBufferPointer(start: embeddings.weights.base, count: embeddings.weights.count),
            shape: [embeddings.rowCount, e])
        let gathered = builder.node("Gather", [table, rows], name: "embedded", attributes: [.int("axis", 0)])
        let flat = builder.node("Reshape", [gathered, int64Constant([0, Int64(f * e)])], name: "embedded_flat")
        guard let dense else { return flat }
        return builder.node("Concat", [flat, dense], name: "x", attributes: [.int("axis", 1)])
    }

    /// `y = x Wᵀ + b` as Gemm (transB = 1). - x: (B, in);  y: (B, out).
    func linear(_ layer: Linear, _ x: String) throws(ONNXExportError) -> String {
        let p = try prefix(of: layer.weight)
        var inputs = [x, initializer(model.layout[layer.weight])]
        if let bias = layer.bias { inputs.append(initializer(model.layout[bias])) }
        return builder.node("Gemm", inputs, name: p, attributes: [.int("transB", 1)])
    }

    /// The activation's node (none for identity).
    func activation(_ a: Activation, _ x: String) -> String {
        switch a {
        case .relu: return builder.node("Relu", [x], name: "\(x).relu")
        case .sigmoid: return builder.node("Sigmoid", [x], name: "\(x).sigmoid")
        case .tanh: return builder.node("Tanh", [x], name: "\(x).tanh")
        case .identity: return x
        }
    }

    /// Inference batch normalisation over the C columns of `x` (B, C), as `BatchNorm` in
    /// inference mode: `γ·(x − running_mean)/√(running_var + ε) + β` with ε = `BatchNorm.epsilon`.
    /// `name` is the layer's tensor prefix (`bottom.0.bn`).
    /// - Throws: `ONNXExportError.missingTensor`, or `.unsupportedShape` when a tensor's size is not C.
    func batchNorm(_ name: String, _ x: String, width c: Int) throws(ONNXExportError) -> String {
        let gamma = try spec("\(name).weight"), beta = try spec("\(name).bias")
        let mean = try state("\(name).running_mean"), variance = try state("\(name).running_var")
        guard gamma.count == c, beta.count == c, mean.count == c, variance.count == c else {
            throw .unsupportedShape(model: model.kind, reason: "batch norm \(name) holds \(gamma.count) columns, its layer \(c)")
        }
        let inputs = [x, initializer(gamma, shape: [c]), initializer(beta, shape: [c]),
                      builder.addInitializer("\(name).running_mean", floats: mean, shape: [c]),
                      builder.addInitializer("\(name).running_var", floats: variance, shape: [c])]
        return builder.node("BatchNormalization", inputs, name: name,
                            attributes: [.float("epsilon", BatchNorm.epsilon)])
    }

    /// An `MLP` in inference mode: per hidden layer Gemm → [BatchNormalization] → activation
    /// (dropout is the identity at inference), then the output layer's Gemm if it has one.
    /// - x: (B, in);  result: (B, outputSize).
    func mlp(_ m: MLP, _ x: String) throws(ONNXExportError) -> String {
        var h = x
        for (l, layer) in m.layers.enumerated() {
            h = try linear(layer, h)
            if m.hasOutputLayer && l == m.layers.count - 1 { break }
            if m.options.batchNorm {
                let p = try prefix(of: layer.weight)
                h = try batchNorm("\(p).bn", h, width: layer.outputSize)
            }
            h = activation(m.activation, h)
        }
        return h
    }

    /// An `ExpertBank` in inference mode: layer 0 is one Gemm against the stacked weight
    /// (K·H₁, in); deeper layers split the (B, K·H) input into the K experts' slices, one Gemm
    /// each, concatenated; after every layer [BatchNormalization over K·H columns] → activation.
    /// - x: (B, in);  result: (B, K·H), expert k in columns k·H ..< (k+1)·H.
    func expertBank(_ bank: ExpertBank, _ x: String) throws(ONNXExportError) -> String {
        let k = bank.numExperts
        var h = x, width = bank.inputSize
        for (l, units) in bank.units.enumerated() {
            let w = model.layout[bank.weightTensors[l]]
            let p = try prefix(of: bank.weightTensors[l])
            let b = try spec("\(p).bias")
            guard w.count == k * units * width, b.count == k * units else {
                throw .unsupportedShape(model: model.kind, reason: "expert layer \(p) is \(w.shape), expected [\(k), \(units), \(width)]")
            }
            if l == 0 || k == 1 {
                h = builder.node("Gemm", [h, initializer(w, shape: [k * units, width]), initializer(b, shape: [k * units])],
                                 name: p, attributes: [.int("transB", 1)])
            } else {
                let slices = builder.node("Split", [h, int64Constant(Array(repeating: Int64(width), count: k), name: "split")],
                                          name: "\(p).input", outputs: k, attributes: [.int("axis", 1)])
                let all = values(w), biases = values(b)
                var outs: [String] = []
                for e in 0..<k {
                    let we = builder.addInitializer("\(w.name).\(e)", floats: UnsafeBufferPointer(rebasing:
                        all[(e * units * width)..<((e + 1) * units * width)]), shape: [units, width])
                    let be = builder.addInitializer("\(b.name).\(e)", floats: UnsafeBufferPointer(rebasing:
                        biases[(e * units)..<((e + 1) * units)]), shape: [units])
                    outs.append(builder.node("Gemm", [slices[e], we, be], name: "\(p).\(e)", attributes: [.int("transB", 1)]))
                }
                h = builder.node("Concat", outs, name: p, attributes: [.int("axis", 1)])
            }
            if bank.options.batchNorm { h = try batchNorm("\(p).bn", h, width: k * units) }
            h = activation(bank.activation, h)
            width = units
        }
        return h
    }

    /// A `SoftmaxGate`: Gemm without bias, then Softmax over the K experts.
    /// - x: (B, in);  result: (B, K).
    func gate(_ g: SoftmaxGate, _ x: String) throws(ONNXExportError) -> String {
        let z = try linear(g.linear, x)
        return builder.node("Softmax", [z], name: "\(z).softmax", attributes: [.int("axis", 1)])
    }

    /// `ExpertMixture`: y[b] = Σ_k g[b,k]·E[b,k], as (B, 1, K) × (B, K, H) MatMul.
    /// - gate: (B, K);  experts: (B, K·H);  result: (B, H).
    func mixture(gate g: String, experts: String, count k: Int, width h: Int, name: String) -> String {
        let g3 = builder.node("Reshape", [g, int64Constant([0, 1, Int64(k)])], name: "\(name).gate")
        let e3 = builder.node("Reshape", [experts, int64Constant([0, Int64(k), Int64(h)])], name: "\(name).experts")
        let m = builder.node("MatMul", [g3, e3], name: "\(name).mixed")
        return builder.node("Reshape", [m, int64Constant([0, Int64(h)])], name: name)
    }

    /// Task t's prediction (B, 1) from its logit: σ for classification, the value itself for
    /// regression (what `predictions(batch:into:)` reports).
    func prediction(logit: String, task t: Int) -> String {
        switch model.taskTypes[t] {
        case .classification: return builder.node("Sigmoid", [logit], name: "task\(t).probability")
        case .regression: return logit
        }
    }
}
