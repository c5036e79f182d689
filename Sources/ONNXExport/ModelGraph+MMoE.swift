import Models

extension ModelGraph {
    /// MMoE (Ma et al., KDD 2018, §4.2, eq. 5–6): the K shared experts once, then per task
    /// `f_t = Σ_k softmax(x W_tᵀ)_k · E_k` and `logit_t = Tower_t(f_t)`.
    /// - x: (B, F·E + D);  result: each task's logit, (B, 1).
    func mmoe(_ m: MMoE, x: String) throws(ONNXExportError) -> [String] {
        let k = m.experts.numExperts, h = m.experts.outputSize
        let experts = try expertBank(m.experts, x)
        var logits: [String] = []
        for t in 0..<m.numTasks {
            let g = try gate(m.gates[t], x)
            let f = mixture(gate: g, experts: experts, count: k, width: h, name: "task\(t).mixed")
            logits.append(try mlp(m.towers.towers[t], f))
        }
        return logits
    }
}
