import Datasets
import Kernels
import Layers
import Models
import Testing
@testable import Training

/// GradNorm's fast path (one combined backward pass, and per task only the heads down to W
/// and W's weight product) against the full path (one whole backward pass per task), which
/// `forceFullPerTaskPasses` keeps.
///
/// The two differ only in the order of Float32 sums: the fast path forms ∇(Σ_i w_i L_i) in one
/// pass where the full path forms Σ_i w_i ∇L_i after T passes, a relative 1e-7 per gradient
/// entry (W itself is Σ_i w_i ∇_W L_i in both). Adam divides each gradient by its own running
/// scale, so such a difference moves a parameter by about lr · 1e-7 per step; feedback
/// through the next steps' gradients and entries whose gradient is a cancelling sum (a small
/// result of large terms) raise that by a few orders. 8 steps at lr 1e-3: 2e-6 absolute on
/// parameters of magnitude ≤ 1 bounds it with margin (measured: below 3e-7), while one gradient
/// missing or counted twice moves a parameter by ~lr = 1e-3 in the first step. Embedding
/// entries get 1e-5 (measured: below 1.2e-6): with batch norm their gradient comes through
/// its centring backward, B·dy − Σdy − x̂·Σ(dy·x̂), a cancelling sum that keeps fewer digits.
///
/// Biases of linear layers followed by batch normalisation are the exception: batch norm
/// subtracts the batch mean, so their true gradient is zero and the computed one is rounding
/// noise (~1e-10), which Adam scales up to steps of about lr in a direction each path draws
/// differently. They cannot change any output (the batch mean removes them) and are held only
/// to Adam's step bound, 8 steps × 3·lr.
///
/// GradNorm's weights move by lr_w·‖∇_W L_i‖ per step in the direction of sign(G_i − target_i):
/// the norms differ by a relative 1e-6 at most (the norm's own Float blocks included), so the
/// weights agree to 1e-5 unless a G_i sat within rounding of its target (it does not here).
struct GradNormFastPathTests {
    static let steps = 8

    enum Kind: String, CaseIterable { case mmoe, sharedBottom = "shared_bottom", ple }

    static func model(_ kind: Kind, _ data: TabularDataset, options: MLPOptions) -> any MultiTaskModel {
        let f = TrainerFixtures.features(data)
        let m: any MultiTaskModel
        switch kind {
        case .mmoe:
            m = MMoE(features: f, expertUnits: [16, 8], numExperts: 3, numTasks: 2, towerUnits: [8], options: options,
                     embeddingInitStd: 0.01)
        case .sharedBottom:
            m = SharedBottom(features: f, hiddenUnits: [16, 8], taskHiddenUnits: [8], numTasks: 2, options: options,
                             embeddingInitStd: 0.01)
        case .ple:
            m = PLE(features: f, expertUnits: [16, 8], numExperts: 2, numLayers: 2, numSharedExperts: 2,
                    taskTypes: [.classification, .classification], towerUnits: [8], options: options,
                    embeddingInitStd: 0.01)
        }
        m.initialize(seed: 1)
        return m
    }

    /// Trains `steps` GradNorm steps; returns the trainer, parameters and embeddings.
    static func train(_ kind: Kind, options: MLPOptions, full: Bool, monitorEvery: Int = 0, tensors: [String]? = nil)
        throws -> (MTLTrainer, [Float], [Float]) {
        let data = TrainerFixtures.data(rows: 128 * steps)
        let m = model(kind, data, options: options)
        let trainer = MTLTrainer(model: m, optimizer: Adam(learningRate: 1e-3), epochs: 1, batchSize: 128,
                                 taskWeighting: .gradNorm(alpha: 1.5, learningRate: 0.05, tensors: tensors), seed: 7)
        trainer.progressLine = nil
        trainer.log = { _ in }
        trainer.monitorEvery = monitorEvery
        trainer.forceFullPerTaskPasses = full
        _ = try trainer.fit(train: data)
        return (trainer, m.parameters.toArray(), m.embeddings.weights.toArray())
    }

    /// Offsets of biases whose layer is followed by batch normalisation (true gradient zero).
    static func biasesBeforeBatchNorm(_ layout: ParameterLayout) -> Set<Int> {
        var out = Set<Int>()
        for spec in layout.tensors where spec.name.hasSuffix(".bias") && !spec.name.hasSuffix(".bn.bias") {
            let layer = spec.name.dropLast(".bias".count)
            if layout.tensor(named: layer + ".bn.weight") != nil { out.formUnion(spec.offset..<(spec.offset + spec.count)) }
        }
        return out
    }

    static let optionSets: [MLPOptions] = [MLPOptions(), MLPOptions(batchNorm: true),
                                           MLPOptions(dropout: 0.2), MLPOptions(batchNorm: true, dropout: 0.2)]

    @Test(arguments: Kind.allCases, optionSets)
    func fastPathEqualsFullPerTaskPasses(kind: Kind, options: MLPOptions) throws {
        let (fast, pFast, eFast) = try Self.train(kind, options: options, full: false)
        let (full, pFull, eFull) = try Self.train(kind, options: options, full: true)
        #expect(fast.usesGradNormFastPath && !full.usesGradNormFastPath)
        let layout = fast.model.layout
        let noise = Self.biasesBeforeBatchNorm(layout)
        #expect(options.batchNorm == !noise.isEmpty)
        var worst: Float = 0, worstAt = "", worstNoise: Float = 0
        for i in pFast.indices {
            let d = abs(pFast[i] - pFull[i])
            if noise.contains(i) {
                worstNoise = max(worstNoise, d)
            } else if d > worst {
                worst = d
                worstAt = layout.tensors.first { $0.offset <= i && i < $0.offset + $0.count }!.name
            }
        }
        var worstEmbedding: Float = 0
        for i in eFast.indices { worstEmbedding = max(worstEmbedding, abs(eFast[i] - eFull[i])) }
        #expect(worst < 2e-6, "\(kind) \(options): max |fast − full| = \(worst) at \(worstAt)")
        #expect(worstEmbedding < 1e-5, "\(kind) \(options): embeddings differ by \(worstEmbedding)")
        #expect(worstNoise <= Float(Self.steps) * 3e-3, "\(kind) \(options): biases before batch norm \(worstNoise)")
        let wFast = fast.taskWeighting.lossWeights, wFull = full.taskWeighting.lossWeights
        #expect(wFast != [1, 1], "GradNorm moved the weights")
        for i in wFast.indices {
            #expect(abs(wFast[i] - wFull[i]) < 1e-5, "\(kind) \(options): weights \(wFast) vs \(wFull)")
        }
        print("\(kind.rawValue) bn \(options.batchNorm) dropout \(options.dropout): params \(worst) (\(worstAt)), "
              + "embeddings \(worstEmbedding), BN-cancelled biases \(worstNoise), weights \(wFast) vs \(wFull)")
    }

    /// Monitored steps take the full path (cosines need every shared tensor per task), the
    /// others the fast path: the mix still equals the full path throughout.
    @Test func monitoredStepsMixWithTheFastPath() throws {
        let (fast, pFast, _) = try Self.train(.mmoe, options: MLPOptions(), full: false, monitorEvery: 3)
        let (_, pFull, _) = try Self.train(.mmoe, options: MLPOptions(), full: true, monitorEvery: 3)
        var worst: Float = 0
        for i in pFast.indices { worst = max(worst, abs(pFast[i] - pFull[i])) }
        #expect(worst < 2e-6, "max |fast − full| = \(worst)")
        #expect(fast.lastCosines.count == 1 && abs(fast.lastCosines[0]) <= 1)
        #expect(fast.progress.history.last?.gradientCosines.count == 1, "monitored steps recorded cosines")
    }

    /// W in a lower expert layer (`gradnorm_layers`): the pass runs down to that layer.
    @Test func aLowerLayerAsW() throws {
        let (fast, pFast, _) = try Self.train(.mmoe, options: MLPOptions(batchNorm: true), full: false,
                                              tensors: ["experts.0.weight"])
        let (_, pFull, _) = try Self.train(.mmoe, options: MLPOptions(batchNorm: true), full: true,
                                           tensors: ["experts.0.weight"])
        #expect(fast.usesGradNormFastPath)
        let noise = Self.biasesBeforeBatchNorm(fast.model.layout)
        var worst: Float = 0
        for i in pFast.indices where !noise.contains(i) { worst = max(worst, abs(pFast[i] - pFull[i])) }
        #expect(worst < 2e-6, "max |fast − full| = \(worst)")
    }

    /// ESMM and AITM share only embeddings (W = their touched rows): no layer below W to skip,
    /// so they keep the per-task path; so do W tensors no model can tap (batch norm's γ).
    @Test func whereTheFastPathDoesNotApply() {
        let data = TrainerFixtures.data(rows: 256)
        let f = TrainerFixtures.features(data)
        let gn = TaskWeightingMethod.gradNorm(alpha: 1.5, learningRate: 0.01, tensors: nil)
        for m in [ESMM(features: f, towerUnits: [8]) as any MultiTaskModel, AITM(features: f, towerUnits: [8])] {
            #expect(!MTLTrainer(model: m, optimizer: Adam(), epochs: 1, batchSize: 64, taskWeighting: gn).usesGradNormFastPath)
        }
        let bn = MMoE(features: f, expertUnits: [8, 4], numExperts: 2, numTasks: 2, options: MLPOptions(batchNorm: true))
        #expect(TaskWeighting.defaultGradNormTensors(bn) == ["experts.1.weight"], "W is the linear weight, not γ")
        #expect(MTLTrainer(model: bn, optimizer: Adam(), epochs: 1, batchSize: 64, taskWeighting: gn).usesGradNormFastPath)
        let gamma = TaskWeightingMethod.gradNorm(alpha: 1.5, learningRate: 0.01, tensors: ["experts.1.bn.weight"])
        #expect(!MTLTrainer(model: bn, optimizer: Adam(), epochs: 1, batchSize: 64, taskWeighting: gamma).usesGradNormFastPath)
    }
}
