import Foundation
import Kernels
import Layers
import Models
import Testing

/// Every model against an independent PyTorch implementation of the same math (fixtures from
/// Tools/reference/make_fixtures.py, torch 2.15, pasted as JSON files; no Python at test time):
/// the same weights and batch must give the same logits, per-task losses and every gradient.
///
/// Tolerance: |ours − torch's float64 result| ≤ 1e-5 + 1e-4·|value|. Both sides run in
/// Float32; through at most four layers of sums of ≤ 30 terms the rounding error is ~1e-6
/// relative, and the two libraries sum in different orders, so 1e-4 relative (1e-5 absolute
/// for values near 0) leaves margin while any wrong term (a missing path, a transposed weight,
/// a wrong softmax or calibrator gradient) is off by O(|value|).
struct ReferenceParityTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Fixture {
        let json: [String: Any]
        var config: [String: Any] { json["config"] as! [String: Any] }
        func ints(_ k: String) -> [Int] { (config[k] as? [Any] ?? []).map { ($0 as! NSNumber).intValue } }
        func int(_ k: String) -> Int { (config[k] as! NSNumber).intValue }
        func floats(_ v: Any?) -> [Float] { (v as! [Any]).map { ($0 as! NSNumber).floatValue } }
        func doubles(_ v: Any?) -> [Double] { (v as! [Any]).map { ($0 as! NSNumber).doubleValue } }
    }

    static func load(_ name: String) throws -> Fixture {
        let data = try Data(contentsOf: directory.appendingPathComponent("\(name).json"))
        return Fixture(json: try JSONSerialization.jsonObject(with: data) as! [String: Any])
    }

    static func model(_ f: Fixture) -> any MultiTaskModel {
        let vocab = f.ints("vocabulary_sizes")
        let features = Features(sparseNames: vocab.indices.map { "f\($0)" }, vocabularySizes: vocab,
                                embeddingDim: f.int("embedding_dim"),
                                denseNames: (0..<f.int("dense_count")).map { "d\($0)" })
        let act = Activation(rawValue: f.config["activation"] as! String)!
        let t = f.int("num_tasks")
        let options = MLPOptions(batchNorm: f.config["batchnorm"] as? Bool ?? false)
        switch f.json["model"] as! String {
        case "shared_bottom":
            return SharedBottom(features: features, hiddenUnits: f.ints("hidden_units"), taskHiddenUnits: f.ints("tower_units"),
                                numTasks: t, activation: act, options: options)
        case "mmoe":
            return MMoE(features: features, expertUnits: f.ints("expert_units"), numExperts: f.int("num_experts"),
                        numTasks: t, towerUnits: f.ints("tower_units"), expertActivation: act, towerActivation: act)
        case "esmm":
            return ESMM(features: features, towerUnits: f.ints("tower_units"), activation: act)
        case "ple":
            return PLE(features: features, expertUnits: f.ints("expert_units"), numExperts: f.int("num_experts"),
                       numLayers: f.int("num_layers"), numSharedExperts: f.int("num_shared_experts"),
                       taskTypes: Array(repeating: .classification, count: t), towerUnits: f.ints("tower_units"),
                       activation: act)
        case "aitm":
            return AITM(features: features, towerUnits: f.ints("tower_units"), numTasks: t,
                        alpha: (f.config["alpha"] as! NSNumber).floatValue, activation: act)
        default:
            fatalError("unknown fixture model")
        }
    }

    static func close(_ a: Float, _ b: Double) -> Bool { abs(Double(a) - b) <= 1e-5 + 1e-4 * abs(b) }

    @Test(arguments: ["shared_bottom", "shared_bottom_bn", "mmoe", "mmoe_tanh", "esmm", "ple", "cgc", "ple_3tasks", "aitm", "aitm_3tasks"])
    func matchesPyTorch(name: String) throws {
        let f = try Self.load(name)
        let model = Self.model(f)
        let weights = f.json["weights"] as! [String: Any]
        // Every parameter of ours is in the fixture under the same name, with the same size.
        for spec in model.layout.tensors {
            let w = f.floats(weights[spec.name])
            #expect(w.count == spec.count, "\(name): \(spec.name) has \(spec.count) values, fixture \(w.count)")
            for i in 0..<min(w.count, spec.count) { model.parameters[spec.offset + i] = w[i] }
        }
        let emb = model.embeddings
        for field in 0..<emb.numFields {
            let w = f.floats(weights["embeddings.\(field)"])
            #expect(w.count == (emb.vocabularySizes[field] + 1) * emb.dim)
            for i in 0..<w.count { emb.weights[emb.rowOffsets[field] * emb.dim + i] = w[i] }
        }
        #expect(weights.count == model.layout.tensors.count + emb.numFields, "\(name): fixture has other tensors")
        let b = f.json["batch_size"] as! Int, t = model.numTasks
        let ids = (f.json["sparse"] as! [Any]).map { Int32(($0 as! NSNumber).intValue) }
        let dense = FloatBuffer(f.floats(f.json["dense"]))
        let labels = FloatBuffer(f.floats(f.json["labels"]))
        model.prepare(batch: b)
        model.context.isTraining = true  // batch statistics, as torch in training mode
        ids.withUnsafeBufferPointer { model.forward(sparse: $0.baseAddress!, dense: dense.base, batch: b, params: model.parameterView) }
        let logits = f.doubles(f.json["logits_f64"])
        for i in 0..<(b * t) { #expect(Self.close(model.logits[i], logits[i]), "\(name) logit \(i): \(model.logits[i]) vs \(logits[i])") }
        let dLogits = FloatBuffer(count: b * t)
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: t)
        defer { sums.deallocate() }
        model.loss(labels: labels.base, batch: b, scale: 1 / Float(b), dLogits: dLogits.base, lossSums: sums)
        var expected = f.doubles(f.json["losses_f64"])
        if expected.count > t {  // AITM: the calibrator term belongs to the later task's loss
            for k in t..<expected.count { expected[k - t + 1] += expected[k] }
        }
        for k in 0..<t {
            #expect(abs(sums[k] / Double(b) - expected[k]) <= 1e-5 + 1e-4 * abs(expected[k]),
                    "\(name) loss \(k): \(sums[k] / Double(b)) vs \(expected[k])")
        }
        let grads = FloatBuffer(count: model.layout.count)
        let embGrad = SparseRowGradient(rowCount: emb.rowCount, dim: emb.dim, capacity: emb.rowCount)
        model.backward(dLogits: dLogits.base, batch: b, params: model.parameterView, grads: model.layout.view(grads),
                       embeddingGrad: embGrad)
        let reference = f.json["grads_f64"] as! [String: Any]
        var checked = 0
        for spec in model.layout.tensors {
            let g = f.doubles(reference[spec.name])
            for i in 0..<spec.count where !Self.close(grads[spec.offset + i], g[i]) {
                Issue.record("\(name) ∂\(spec.name)[\(i)]: \(grads[spec.offset + i]) vs \(g[i])")
            }
            checked += spec.count
        }
        for field in 0..<emb.numFields {
            let g = f.doubles(reference["embeddings.\(field)"])
            for r in 0...emb.vocabularySizes[field] {
                let row = Int32(emb.rowOffsets[field] + r)
                for j in 0..<emb.dim {
                    let ours = embGrad.slot(of: row).map { embGrad.values[$0 * emb.dim + j] } ?? 0
                    if !Self.close(ours, g[r * emb.dim + j]) {
                        Issue.record("\(name) ∂embeddings.\(field)[\(r), \(j)]: \(ours) vs \(g[r * emb.dim + j])")
                    }
                }
            }
        }
        #expect(checked == model.layout.count)
        // Batch-norm running statistics after one training forward.
        if let running = f.json["bn_running_f64"] as? [String: Any] {
            #expect(running.count == model.layout.states.count && !running.isEmpty)
            for state in model.layout.states {
                let r = f.doubles(running[state.name])
                for i in 0..<state.count where !Self.close(model.context.state[state.offset + i], r[i]) {
                    Issue.record("\(name) \(state.name)[\(i)]: \(model.context.state[state.offset + i]) vs \(r[i])")
                }
            }
        }
    }
}
