import Kernels
import Models

extension ModelGraph {
    /// AITM (Xi et al., KDD 2021, §3.2–3.4, eq. 1–6): `q_t = Tower_t(x)`, `z_0 = q_0`; for t ≥ 1
    /// `p_t = ReLU(Transfer_t(z_{t−1}))`, attention over u ∈ {p_t, q_t} with
    /// `w_u = softmax_u(⟨Query(u), Key(u)⟩ / √d)` and `z_t = Σ_u w_u · Value(u)`;
    /// `logit_t = Head_t(z_t)`. The calibrator acts on the loss only.
    /// - x: (B, F·E + D);  result: each task's logit, (B, 1).
    func aitm(_ m: AITM, x: String) throws(ONNXExportError) -> [String] {
        let t = m.numTasks
        guard m.towers.count == t, m.heads.count == t, m.transfers.count == t - 1, m.query.count == t - 1,
              m.key.count == t - 1, m.value.count == t - 1 else {
            throw .unsupportedShape(model: "aitm", reason: "\(t) tasks with \(m.towers.count) towers, \(m.heads.count) heads "
                                    + "and \(m.transfers.count) transfers")
        }
        let d = m.towers[0].outputSize
        let scale = builder.addInitializer("attention_scale", floats: [1 / Float(d).squareRoot()], shape: [])
        let axis1 = int64Constant([1], name: "axes")
        var z: [String] = [], logits: [String] = []
        for k in 0..<t {
            let q = try mlp(m.towers[k], x)
            if k == 0 {
                z.append(q)
            } else {
                let i = k - 1
                let p = builder.node("Relu", [try linear(m.transfers[i], z[k - 1])], name: "transfer.\(k).relu")
                func score(_ u: String, _ label: String) throws(ONNXExportError) -> (score: String, value: String) {
                    let qu = try linear(m.query[i], u), ku = try linear(m.key[i], u), vu = try linear(m.value[i], u)
                    let dot = builder.node("ReduceSum", [builder.node("Mul", [qu, ku], name: "ait.\(k).\(label).qk"), axis1],
                                           name: "ait.\(k).\(label).dot", attributes: [.int("keepdims", 1)])
                    return (builder.node("Mul", [dot, scale], name: "ait.\(k).\(label).score"), vu)
                }
                let sp = try score(p, "p"), sq = try score(q, "q")
                let scores = builder.node("Concat", [sp.score, sq.score], name: "ait.\(k).scores", attributes: [.int("axis", 1)])
                let w = builder.node("Softmax", [scores], name: "ait.\(k).weights", attributes: [.int("axis", 1)])
                let parts = builder.node("Split", [w, int64Constant([1, 1], name: "split")], name: "ait.\(k).weight",
                                         outputs: 2, attributes: [.int("axis", 1)])
                let wp = builder.node("Mul", [parts[0], sp.value], name: "ait.\(k).p.weighted")
                let wq = builder.node("Mul", [parts[1], sq.value], name: "ait.\(k).q.weighted")
                z.append(builder.node("Add", [wp, wq], name: "ait.\(k).z"))
            }
            logits.append(try linear(m.heads[k], z[k]))
        }
        return logits
    }
}
