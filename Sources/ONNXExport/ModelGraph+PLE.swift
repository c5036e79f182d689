import Models

extension ModelGraph {
    /// PLE (Tang et al., RecSys 2020, §4.2–4.3, eq. 2–6); one level is CGC. At level j task k's
    /// gate mixes [task k's experts ; the shared experts] of its own input; below the last level
    /// the shared gate mixes [every task's experts ; the shared experts] of the shared input.
    /// The gates' columns follow that order (as `PLE.forward`).
    /// - x: (B, F·E + D);  result: each task's logit, (B, 1).
    func ple(_ m: PLE, x: String) throws(ONNXExportError) -> [String] {
        let t = m.numTasks, levels = m.sharedExperts.count
        guard levels >= 1, m.taskExperts.count == levels, m.gates.count == levels, m.sharedGates.count == levels - 1 else {
            throw .unsupportedShape(model: "ple", reason: "\(levels) levels with \(m.taskExperts.count) task-expert "
                                    + "levels, \(m.gates.count) gate levels and \(m.sharedGates.count) shared gates")
        }
        let h = m.sharedExperts[0].outputSize
        var taskInputs = Array(repeating: x, count: t), sharedInput = x
        for j in 0..<levels {
            let nS = m.sharedExperts[j].numExperts
            let shared = try expertBank(m.sharedExperts[j], sharedInput)
            var own: [String] = [], outputs: [String] = []
            for k in 0..<t {
                let bank = m.taskExperts[j][k]
                let experts = try expertBank(bank, taskInputs[k])
                own.append(experts)
                let g = try gate(m.gates[j][k], taskInputs[k])
                let both = builder.node("Concat", [experts, shared], name: "levels.\(j).tasks.\(k).candidates",
                                        attributes: [.int("axis", 1)])
                outputs.append(mixture(gate: g, experts: both, count: bank.numExperts + nS, width: h,
                                       name: "levels.\(j).tasks.\(k).out"))
            }
            if j < levels - 1 {
                let g = try gate(m.sharedGates[j], sharedInput)
                let all = builder.node("Concat", own + [shared], name: "levels.\(j).shared.candidates",
                                       attributes: [.int("axis", 1)])
                let count = m.taskExperts[j].reduce(0) { $0 + $1.numExperts } + nS
                sharedInput = mixture(gate: g, experts: all, count: count, width: h, name: "levels.\(j).shared.out")
            }
            taskInputs = outputs
        }
        var logits: [String] = []
        for k in 0..<t { logits.append(try mlp(m.towers.towers[k], taskInputs[k])) }
        return logits
    }
}
