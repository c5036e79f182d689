import Foundation
import Kernels
import Layers
import Models
import Testing
import Training

/// Each strategy on a two-task problem small enough to compute by hand.
struct TaskWeightingTests {
    /// A SharedBottom whose shared part is `bottom.0.weight` (3×2) and `bottom.0.bias` (3).
    static func model() -> SharedBottom {
        let f = Features(sparseNames: ["a"], vocabularySizes: [2], embeddingDim: 1, denseNames: ["d"])
        return SharedBottom(features: f, hiddenUnits: [3], taskHiddenUnits: [], numTasks: 2)
    }

    /// Per-task shared gradients (2, S) whose `bottom.0.weight` parts have norms `n0`, `n1`.
    static func perTask(_ m: SharedBottom, _ n0: Float, _ n1: Float) -> FloatBuffer {
        let s = m.layout.sharedCount
        let w = m.layout.tensor(named: "bottom.0.weight")!
        let g = FloatBuffer(count: 2 * s)
        g[w.offset] = n0            // one non-zero entry: the norm is its magnitude
        g[s + w.offset + 1] = n1
        return g
    }

    @Test func gradNormWeightsAfterOneAndTwoUpdates() {
        let m = Self.model()
        #expect(TaskWeighting.defaultGradNormTensors(m) == ["bottom.0.weight"])
        let gn = TaskWeighting(.gradNorm(alpha: 1, learningRate: 0.1, tensors: nil), model: m)
        #expect(gn.needsPerTaskGradients && gn.lossWeights == [1, 1])
        let g = Self.perTask(m, 3, 1)
        let s = m.layout.sharedCount
        // Step 1 (L(0) = its own losses, ratios 1): G = [3, 1], target Ḡ = 2 for both;
        // d|G_i − 2|/dw_i = sign · ‖∇_W L_i‖ = [+3, −1]; w = [0.7, 1.1]; renormalised ×2/1.8.
        gn.afterStep(losses: [1, 1], perTask: g.base, sharedCount: s, lr: 0)
        #expect(abs(gn.lossWeights[0] - 0.7 * 2 / 1.8) < 1e-6 && abs(gn.lossWeights[1] - 1.1 * 2 / 1.8) < 1e-6)
        #expect(gn.state.initialLosses == [1, 1])
        // Step 2, losses [0.5, 1]: L̃ = [0.5, 1], r = [2/3, 4/3]; G = [2.333, 1.222], Ḡ = 1.778;
        // targets [1.185, 2.370]: signs +, − again, so w = [0.7778 − 0.3, 1.2222 + 0.1] renormalised.
        gn.afterStep(losses: [0.5, 1], perTask: g.base, sharedCount: s, lr: 0)
        let w0 = Float(0.7 * 2 / 1.8) - 0.3, w1 = Float(1.1 * 2 / 1.8) + 0.1
        #expect(abs(gn.lossWeights[0] - w0 * 2 / (w0 + w1)) < 1e-5, "\(gn.lossWeights)")
        #expect(abs(gn.lossWeights[0] + gn.lossWeights[1] - 2) < 1e-5)
        // The combined shared gradient is Σ w_i g_i.
        let out = FloatBuffer(count: s)
        gn.combineShared(perTask: g.base, sharedCount: s, into: out.base)
        let w = m.layout.tensor(named: "bottom.0.weight")!
        #expect(abs(out[w.offset] - 3 * gn.lossWeights[0]) < 1e-6 && abs(out[w.offset + 1] - gn.lossWeights[1]) < 1e-6)
    }

    /// The floor (Chen et al. renormalise but do not keep weights positive): with learning rate
    /// 100 the first update is [1 − 300, 1 + 100] = [−299, 101]; floored at 0.01 and
    /// renormalised to Σ = 2 that is [0.02/101.01, 202/101.01].
    @Test func gradNormWeightFloor() {
        let m = Self.model()
        let s = m.layout.sharedCount
        let gn = TaskWeighting(.gradNorm(alpha: 1, learningRate: 100, tensors: nil), model: m)
        let first = Self.perTask(m, 3, 1)
        gn.afterStep(losses: [1, 1], perTask: first.base, sharedCount: s, lr: 0)
        #expect(abs(gn.lossWeights[0] - Float(0.02 / 101.01)) < 1e-7 && abs(gn.lossWeights[1] - Float(202 / 101.01)) < 1e-5,
                "\(gn.lossWeights)")
        #expect(gn.gradNormFloorHits == 1)
        // Any learning rate and α, norms from 0 to 1e30, losses from 0 up: positive, finite, Σ = T.
        var rng = SeededRandom(seed: 4)
        for lr: Float in [100, 1e30, Float.greatestFiniteMagnitude] {
            for alpha: Float in [0, 1.5, 100] {
                let g = TaskWeighting(.gradNorm(alpha: alpha, learningRate: lr, tensors: nil), model: m)
                for _ in 0..<20 {
                    let n0 = rng.nextFloat() < 0.2 ? 0 : pow(10, 30 * rng.nextFloat() - 10)
                    let n1 = rng.nextFloat() < 0.2 ? 0 : pow(10, 30 * rng.nextFloat() - 10)
                    let losses = [Double(rng.nextFloat()) * 3, rng.nextFloat() < 0.1 ? 0 : Double(rng.nextFloat())]
                    let grads = Self.perTask(m, n0, n1)
                    g.afterStep(losses: losses, perTask: grads.base, sharedCount: s, lr: 0)
                    let w = g.lossWeights
                    #expect(w.allSatisfy { $0.isFinite && $0 > 0 }, "lr \(lr) α \(alpha): \(w)")
                    #expect(abs(w[0] + w[1] - 2) < 1e-5, "lr \(lr) α \(alpha): \(w)")
                }
            }
        }
    }

    @Test(arguments: MetaBalanceStrategy.allCases)
    func metaBalanceScalesAuxiliaryGradients(strategy: MetaBalanceStrategy) {
        let m = Self.model()
        let s = m.layout.sharedCount
        let w = m.layout.tensor(named: "bottom.0.weight")!
        // β = 0: the averages are the current norms. Target ‖g_0‖ = 2; auxiliary ‖g_1‖ = 8, then 0.5.
        for (aux, expectedC, applies) in [(Float(8), Float(2) / 8 * 0.5 + 0.5, strategy != .B),
                                          (Float(0.5), Float(2) / 0.5 * 0.5 + 0.5, strategy != .A)] {
            let mb = TaskWeighting(.metaBalance(MetaBalance(relaxFactor: 0.5, beta: 0, target: 0, strategy: strategy)), model: m)
            let g = FloatBuffer(count: 2 * s)
            g[w.offset] = 2
            g[s + w.offset + 1] = aux
            let out = FloatBuffer(count: s)
            mb.combineShared(perTask: g.base, sharedCount: s, into: out.base)
            #expect(out[w.offset] == 2, "the target's gradient is kept")
            let scaled = applies ? aux * expectedC : aux
            #expect(abs(out[w.offset + 1] - scaled) < 1e-5, "\(strategy) aux \(aux): \(out[w.offset + 1]) vs \(scaled)")
        }
    }

    @Test func metaBalanceMovingAverages() {
        let m = Self.model()
        let s = m.layout.sharedCount
        let w = m.layout.tensor(named: "bottom.0.weight")!
        let mb = TaskWeighting(.metaBalance(MetaBalance(relaxFactor: 1, beta: 0.9)), model: m)
        let g = FloatBuffer(count: 2 * s)
        let out = FloatBuffer(count: s)
        // Step 1: norms 1 (target) and 4: m = [0.1, 0.4]; r = 1 → aux scaled by 0.1/0.4.
        g[w.offset] = 1
        g[s + w.offset] = 4
        mb.combineShared(perTask: g.base, sharedCount: s, into: out.base)
        #expect(abs(out[w.offset] - (1 + 4 * 0.25)) < 1e-6)
        // Step 2: norms 3 and 2: m = [0.09 + 0.3, 0.36 + 0.2] = [0.39, 0.56].
        g[w.offset] = 3
        g[s + w.offset] = 2
        mb.combineShared(perTask: g.base, sharedCount: s, into: out.base)
        #expect(abs(out[w.offset] - (3 + 2 * 0.39 / 0.56)) < 1e-5, "\(out[w.offset])")
        let n = mb.state.normAverages
        #expect(abs(n[0] - 0.39) < 1e-6 && abs(n[n.count / 2] - 0.56) < 1e-6)
    }

    @Test func uncertaintyWeightedLossAndItsGradient() {
        let f = Features(sparseNames: ["a"], vocabularySizes: [2], embeddingDim: 1, denseNames: [])
        let m = SharedBottom(features: f, hiddenUnits: [2], taskHiddenUnits: [], numTasks: 2,
                             taskTypes: [.classification, .regression])
        let u = TaskWeighting(.uncertainty, model: m)
        // s = 0: classification weight e^0 = 1, regression ½e^0 = ½; L = 1·1 + ½·0.2 + 0.
        #expect(u.lossWeights == [1, 0.5])
        #expect(abs(u.totalLoss([1, 0.2]) - 1.1) < 1e-12)
        // ∂/∂s = −w·L + ½ = [−0.5, 0.4]; Adam's first step moves by −lr·sign: s = [+0.1, −0.1].
        u.afterStep(losses: [1, 0.2], perTask: nil, sharedCount: m.layout.sharedCount, lr: 0.1)
        #expect(abs(u.state.logVariances[0] - 0.1) < 1e-6 && abs(u.state.logVariances[1] + 0.1) < 1e-6)
        #expect(abs(u.lossWeights[0] - Float(exp(-0.1))) < 1e-6 && abs(u.lossWeights[1] - Float(0.5 * exp(0.1))) < 1e-6)
        #expect(abs(u.totalLoss([1, 0.2]) - (exp(-0.1) + 0.5 * exp(0.1) * 0.2 + 0.5 * 0.1 - 0.5 * 0.1)) < 1e-6)
    }

    /// The log-variances take the optimizer's Adam (β₁, β₂, ε), as the trainer sets them, not
    /// fixed ones: two steps by hand with β₁ = 0.5, β₂ = 0.9, ε = 0.01 on one classification task.
    @Test func uncertaintyUsesTheOptimizersAdamHyperparameters() {
        let f = Features(sparseNames: ["a"], vocabularySizes: [2], embeddingDim: 1, denseNames: [])
        let m = SharedBottom(features: f, hiddenUnits: [2], taskHiddenUnits: [], numTasks: 2)
        let trainer = MTLTrainer(model: m, optimizer: Adam(beta1: 0.5, beta2: 0.9, epsilon: 0.01), epochs: 1,
                                 batchSize: 4, taskWeighting: .uncertainty)
        let u = trainer.taskWeighting
        #expect(u.adamHyperparameters.beta1 == 0.5 && u.adamHyperparameters.beta2 == 0.9 && u.adamHyperparameters.epsilon == 0.01)
        var s = 0.0, mm = 0.0, vv = 0.0
        for (step, loss) in [(1, 1.0), (2, 0.4)] {
            let g = -exp(-s) * loss + 0.5
            mm = 0.5 * mm + 0.5 * g
            vv = 0.9 * vv + 0.1 * g * g
            let bc1 = 1 - pow(0.5, Double(step)), bc2 = 1 - pow(0.9, Double(step))
            s -= 0.1 / bc1 * mm / (vv.squareRoot() / bc2.squareRoot() + 0.01)
            u.afterStep(losses: [loss, loss], perTask: nil, sharedCount: m.layout.sharedCount, lr: 0.1)
            #expect(abs(Double(u.state.logVariances[0]) - s) < 1e-6, "step \(step): \(u.state.logVariances[0]) vs \(s)")
        }
        // With Adam's default betas the second step would differ: the test can tell them apart.
        let d = TaskWeighting(.uncertainty, model: m)
        for loss in [1.0, 0.4] { d.afterStep(losses: [loss, loss], perTask: nil, sharedCount: m.layout.sharedCount, lr: 0.1) }
        #expect(abs(Double(d.state.logVariances[0]) - s) > 1e-3)
    }

    /// A loss that nears zero drives log σ² down without end (its optimum log(2cL) → −∞): the
    /// log-variances stay in [−10, 10] and the weights finite and at most e^10.
    @Test func uncertaintyLogVariancesAreBounded() {
        let f = Features(sparseNames: ["a"], vocabularySizes: [2], embeddingDim: 1, denseNames: [])
        let m = SharedBottom(features: f, hiddenUnits: [2], taskHiddenUnits: [], numTasks: 2)
        let u = TaskWeighting(.uncertainty, model: m)
        for _ in 0..<3000 { u.afterStep(losses: [1e-9, 1e9], perTask: nil, sharedCount: m.layout.sharedCount, lr: 0.1) }
        #expect(u.state.logVariances[0] == -10, "held at the lower bound")
        #expect(u.state.logVariances.allSatisfy { TaskWeighting.uncertaintyLogVarianceRange.contains($0) })
        #expect(abs(u.lossWeights[0] - Float(exp(10.0))) < 1)
        #expect(u.lossWeights.allSatisfy { $0.isFinite && $0 > 0 })
    }

    @Test func fixedWeightsScaleTheLossGradients() {
        let m = Self.model()
        let f = TaskWeighting(.fixed([1, 0.5]), model: m)
        #expect(!f.needsPerTaskGradients && f.lossWeights == [1, 0.5])
        #expect(abs(f.totalLoss([2, 4]) - 4) < 1e-12)
    }
}

/// The strategies inside the trainer: per-task passes equal the combined pass, masks, pos weights.
struct TrainerWeightingTests {
    func train(_ method: TaskWeightingMethod?, monitor: Int = 0, steps: Int = 6, kind: String = "mmoe",
               configure: (MTLTrainer) -> Void = { _ in }) throws -> (MTLTrainer, [Float]) {
        let data = TrainerFixtures.data(rows: 256 * steps)
        let model: any MultiTaskModel
        switch kind {
        case "esmm": model = ESMM(features: TrainerFixtures.features(data), towerUnits: [16, 8], embeddingInitStd: 0.01)
        case "aitm": model = AITM(features: TrainerFixtures.features(data), towerUnits: [16, 8], embeddingInitStd: 0.01)
        default: model = TrainerFixtures.mmoe(data)
        }
        model.initialize(seed: 1)
        let trainer = MTLTrainer(model: model, optimizer: Adam(), epochs: 1, batchSize: 256, taskWeighting: method)
        trainer.progressLine = nil
        trainer.log = { _ in }
        trainer.monitorEvery = monitor
        configure(trainer)
        _ = try trainer.fit(train: data)
        return (trainer, model.parameters.toArray() + model.embeddings.weights.toArray())
    }

    /// Per-task backward passes summed with the weights give the combined pass's gradient (up
    /// to summation order: the per-task sums differ by rounding only). ESMM's CTCVR loss and
    /// AITM's calibrator reach the other task's logit, so a task's own parameters get both
    /// losses' gradients, each with its own weight (w_0 ∇L_0 + w_1 ∇L_1, not w_0 (∇L_0 + ∇L_1)).
    @Test(arguments: ["mmoe", "esmm", "aitm"])
    func perTaskPassesEqualTheCombinedPass(kind: String) throws {
        let (_, combined) = try train(.fixed([1, 0.5]), kind: kind)
        let (t, monitored) = try train(.fixed([1, 0.5]), monitor: 1, kind: kind)
        var worst: Float = 0
        for i in combined.indices { worst = max(worst, abs(combined[i] - monitored[i])) }
        #expect(worst < 1e-5, "\(kind): max difference \(worst)")
        #expect(t.lastCosines.count == 1 && abs(t.lastCosines[0]) <= 1)
    }

    /// GradNorm's learning rate 100 took a weight below zero in one step ([5.70, −3.70]); the
    /// floor keeps every weight positive, the trainer says so once, and training goes on.
    @Test func gradNormWithLearningRate100StaysPositiveAndWarnsOnce() throws {
        var lines: [String] = []
        let (t, p) = try train(.gradNorm(alpha: 1.5, learningRate: 100, tensors: nil), steps: 6) { trainer in
            trainer.log = { lines.append($0) }
        }
        let w = t.taskWeighting.lossWeights
        #expect(w.allSatisfy { $0.isFinite && $0 > 0 }, "\(w)")
        #expect(abs(w.reduce(0, +) - 2) < 1e-4)
        #expect(t.taskWeighting.gradNormFloorHits > 0)
        #expect(lines.filter { $0.contains("GradNorm") && $0.contains("floor") }.count == 1, "\(lines)")
        #expect(p.allSatisfy { $0.isFinite })
    }

    @Test func everyStrategyTrainsAndKeepsItsWeightsValid() throws {
        for method: TaskWeightingMethod in [.uncertainty, .gradNorm(alpha: 1.5, learningRate: 0.01, tensors: nil),
                                            .metaBalance(MetaBalance())] {
            let (t, p) = try train(method)
            #expect(p.allSatisfy { $0.isFinite }, "\(method.name)")
            #expect(t.taskWeighting.lossWeights.allSatisfy { $0.isFinite && $0 > 0 }, "\(method.name)")
            if case .gradNorm = method {
                #expect(abs(t.taskWeighting.lossWeights.reduce(0, +) - 2) < 1e-4)
                #expect(t.taskWeighting.lossWeights != [1, 1], "GradNorm moved the weights")
            }
        }
    }

    /// A task restricted to the rows where another task's label is 1 (CVR on clicks): its loss
    /// is the mean over those rows only, and rows outside give no gradient.
    @Test func sampleSpaceMaskAndPositiveWeight() throws {
        let data = TrainerFixtures.data(rows: 512)
        let model = TrainerFixtures.sharedBottom(data)
        model.prepare(batch: 512)
        let trainer = MTLTrainer(model: model, optimizer: Adam(learningRate: 0), epochs: 1, batchSize: 512)
        trainer.sampleSpaces = [nil, 0]
        trainer.positiveWeights = [1, 3]
        let rows = Array(0..<512)
        var losses = [0.0, 0.0]
        try rows.withUnsafeBufferPointer { try trainer.trainStep(data, globalRows: $0, losses: &losses) }
        // Recompute by hand from the model's predictions (lr 0: the parameters did not move).
        let p = try predictMultiTask(model, data, batchSize: 512)
        let click = data.labels(task: 0), buy = data.labels(task: 1)
        var sum = 0.0, n = 0.0
        for i in 0..<512 where click[i] == 1 {
            let q = Double(p[i * 2 + 1])
            sum += buy[i] == 1 ? -3 * log(q) : -log(1 - q)
            n += 1
        }
        #expect(n > 0 && abs(losses[1] - sum / n) < 1e-4 * max(1, sum / n), "\(losses[1]) vs \(sum / n)")
    }
}
