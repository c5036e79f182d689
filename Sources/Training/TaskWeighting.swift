import Kernels
import Layers
import Models

/// Combines per-task losses and gradients into one update (DESIGN.md §4, step 6), after the
/// per-task all-reduce, so the result is the same on 1 rank or N.
///
/// Fixed weights, uncertainty weighting and GradNorm's current weights are linear and known
/// before the step: the trainer scales each task's loss gradient by `lossWeights` and needs
/// one backward pass. GradNorm's norms need each task's gradient of W (the trainer's fast
/// path computes only that, see `MTLTrainer`), MetaBalance's rescaling each task's gradient of
/// every shared tensor: `needsPerTaskGradients`.
public final class TaskWeighting: @unchecked Sendable {
    /// The method.
    public let method: TaskWeightingMethod
    /// Number of tasks T.
    public let numTasks: Int
    /// Learned state (weights, log-variances, initial losses, norm averages).
    public private(set) var state: TaskWeightingState
    let taskTypes: [TaskType]
    let sharedTensors: [TensorSpec]
    let gradNormRanges: [Range<Int>]
    /// GradNorm's W: the names of its tensors (empty for other methods, and for ESMM and AITM,
    /// whose W is the touched embedding rows).
    public let gradNormTensorNames: [String]
    let numFields: Int
    private var lossWeightBuffer: [Float]
    private var norms: [Double]
    private var scales: [Float]
    private var gradNorms: [Double], gradNormG: [Double], gradNormRatios: [Double], gradNormNext: [Double]
    /// How many GradNorm updates the weight floor acted on (`gradNormWeightFloor`); the
    /// trainer warns once on rank 0 when it first does.
    public private(set) var gradNormFloorHits = 0

    /// The smallest GradNorm weight before renormalisation, a fraction of the mean weight 1
    /// (Σ_i w_i = T). Chen et al. (ICML 2018, §3.2) renormalise to Σ w = T but do not keep
    /// the weights positive: a large learning rate takes one below zero in a step, turning its
    /// task's descent into ascent. With the floor the weights stay positive and finite for any
    /// learning rate and α; `gradNormFloorHits` counts the updates it acted on.
    public static let gradNormWeightFloor = 0.01
    /// Adam's β₁, β₂ and ε for uncertainty weighting's log-variances: the optimizer's own
    /// (the trainer sets them from its `Adam`; these defaults are Adam's).
    public var adamHyperparameters = (beta1: Float(0.9), beta2: Float(0.999), epsilon: Float(1e-8))
    private var uncertaintyGradient: [Float]

    /// The weights multiplying each task's loss this step.
    public var lossWeights: [Float] { lossWeightBuffer }

    /// Whether each task's gradient of the shared parameters is needed separately.
    public var needsPerTaskGradients: Bool {
        switch method {
        case .gradNorm, .metaBalance: return true
        case .fixed, .uncertainty: return false
        }
    }

    /// Prepares the strategy for `model`.
    public init(_ method: TaskWeightingMethod, model: any MultiTaskModel) {
        self.method = method
        let t = model.numTasks
        numTasks = t
        taskTypes = model.taskTypes
        sharedTensors = model.layout.tensors.filter { $0.role == .shared }.sorted { $0.offset < $1.offset }
        numFields = model.embeddings.numFields
        var ranges: [Range<Int>] = []
        var gradNormNames: [String] = []
        var weights = [Float](repeating: 1, count: t)
        switch method {
        case .fixed(let w?):
            precondition(w.count == t, "\(w.count) task weights for \(t) tasks")
            weights = w
        case .gradNorm(_, _, let names):
            let chosen = names ?? Self.defaultGradNormTensors(model)
            gradNormNames = chosen
            for name in chosen {
                guard let spec = model.layout.tensor(named: name) else {
                    preconditionFailure("GradNorm tensor \(name) is not a parameter of \(model.kind)")
                }
                precondition(spec.role == .shared, "GradNorm tensor \(name) is not shared")
                ranges.append(spec.offset..<(spec.offset + spec.count))
            }
        case .metaBalance(let mb):
            precondition(mb.target >= 0 && mb.target < t, "MetaBalance target \(mb.target) of \(t) tasks")
        default:
            break
        }
        gradNormRanges = ranges
        gradNormTensorNames = gradNormNames
        gradNorms = Array(repeating: 0, count: t)
        gradNormG = gradNorms
        gradNormRatios = gradNorms
        gradNormNext = gradNorms
        let tensors = sharedTensors.count + numFields
        state = TaskWeightingState(weights: weights, logVariances: Array(repeating: 0, count: t),
                                   logVarianceM: Array(repeating: 0, count: t), logVarianceV: Array(repeating: 0, count: t),
                                   logVarianceStep: 0, initialLosses: [], normAverages: Array(repeating: 0, count: t * tensors))
        lossWeightBuffer = weights
        uncertaintyGradient = Array(repeating: 0, count: t)
        norms = Array(repeating: 0, count: t * tensors)
        scales = Array(repeating: 1, count: t * tensors)
        refreshLossWeights()
    }

    /// The range uncertainty weighting keeps each log-variance s_t = log σ_t² in: [−10, 10], so
    /// a task's weight e^(−s_t) stays within [4.5e-5, 2.2e4] (Kendall et al. leave s unbounded;
    /// a loss near zero then drives s_t to −∞ and its weight past 1e12, swamping the others).
    public static let uncertaintyLogVarianceRange: ClosedRange<Float> = -10...10

    /// The last shared layer of each architecture, GradNorm's W (its weight tensors): the
    /// bottom's last layer, all experts' last layer, PLE's last level of shared experts; none
    /// for ESMM and AITM, whose only shared parameters are the embeddings (their touched rows
    /// are W then). The linear weights: with batch normalisation, not its γ (`<layer>.bn.weight`),
    /// which sits between W's product and the activation.
    public static func defaultGradNormTensors(_ model: any MultiTaskModel) -> [String] {
        let shared = model.layout.tensors.filter {
            $0.role == .shared && $0.name.hasSuffix(".weight") && !$0.name.hasSuffix(".bn.weight")
        }
        guard let last = shared.last else { return [] }
        // The deepest shared layer: the last shared weight declared (bottom.L-1, experts.L-1, …).
        let prefix = last.name.split(separator: ".").dropLast(2).joined(separator: ".")
        let level = last.name.split(separator: ".").dropLast().joined(separator: ".")
        return shared.filter { $0.name.hasPrefix(prefix) && $0.name.split(separator: ".").dropLast().joined(separator: ".") == level }
            .map(\.name)
    }

    /// Restores learned state (from a checkpoint).
    public func restore(_ s: TaskWeightingState) {
        precondition(s.weights.count == numTasks && s.normAverages.count == state.normAverages.count,
                     "task-weighting state of another shape")
        state = s
        refreshLossWeights()
    }

    private func refreshLossWeights() {
        for t in 0..<numTasks {
            switch method {
            case .uncertainty:
                // Kendall et al. eq. 7 (regression: 1/(2σ²)) and eq. 10 (classification: 1/σ²), s = log σ².
                let e = ScalarMath.exp(-state.logVariances[t])
                lossWeightBuffer[t] = taskTypes[t] == .regression ? 0.5 * e : e
            case .metaBalance:
                lossWeightBuffer[t] = 1
            case .fixed, .gradNorm:
                lossWeightBuffer[t] = state.weights[t]
            }
        }
    }

    /// The weighted total loss from the per-task global mean losses (for reports and tests).
    ///
    /// ```
    /// uncertainty: Σ_t c_t·e^(−s_t)·L_t + ½·s_t     (c_t = ½ regression, 1 classification)
    /// otherwise:   Σ_t w_t·L_t
    /// ```
    public func totalLoss(_ losses: [Double]) -> Double {
        var total = 0.0
        for t in 0..<numTasks {
            total += Double(lossWeightBuffer[t]) * losses[t]
            if case .uncertainty = method { total += 0.5 * Double(state.logVariances[t]) }
        }
        return total
    }

    /// Writes the shared gradient into `shared` (`sharedCount` floats) from the T per-task
    /// shared gradients `perTask` ((T, sharedCount), already reduced over ranks).
    public func combineShared(perTask: UnsafePointer<Float>, sharedCount: Int, into shared: UnsafeMutablePointer<Float>) {
        let t = numTasks
        if case .metaBalance(let mb) = method {
            // Norms per (task, shared tensor), moving averages, then the rescaled sum.
            for k in 0..<sharedTensors.count {
                let spec = sharedTensors[k]
                for i in 0..<t {
                    norms[i * tensorCount + k] = Self.norm(spec.count, perTask + i * sharedCount + spec.offset)
                }
            }
            updateMetaBalanceScales(mb, tensors: 0..<sharedTensors.count)
            // The shared tensors tile 0..<sharedCount: each is written by its first task's term.
            for k in 0..<sharedTensors.count {
                let spec = sharedTensors[k]
                Self.scaledCopy(spec.count, scales[k], perTask + spec.offset, shared + spec.offset)
                for i in 1..<max(t, 1) {
                    Ops.axpy(spec.count, scales[i * tensorCount + k], perTask + i * sharedCount + spec.offset,
                             shared + spec.offset)
                }
            }
            return
        }
        weightedSum(perTask, count: sharedCount, into: shared)
    }

    /// GradNorm's W gradient Σ_i w_i ∇_W L_i into `into` (`count` floats) from the per-task W
    /// gradients `perTaskW` ((T, count), already reduced over ranks), with the weights the step
    /// was taken with: the same sum `combineShared` forms on W.
    public func combineGradNorm(perTaskW: UnsafePointer<Float>, count: Int, into: UnsafeMutablePointer<Float>) {
        weightedSum(perTaskW, count: count, into: into)
    }

    /// Σ_t w_t x_t into `into` (`count` floats) from T blocks x_t at `blocks + t·count`, with
    /// this step's weights: the combined pass's dLogits from the tasks' (B, T) blocks, and the
    /// shared and GradNorm W gradients from the per-task ones.
    public func weightedSum(_ blocks: UnsafePointer<Float>, count: Int, into: UnsafeMutablePointer<Float>) {
        Self.scaledCopy(count, lossWeightBuffer[0], blocks, into)
        for i in 1..<max(numTasks, 1) { Ops.axpy(count, lossWeightBuffer[i], blocks + i * count, into) }
    }

    /// Whether every task has the same loss weight this step. The per-task passes then add
    /// their task-parameter gradients unweighted and `combineTaskParameters` scales the sum once.
    public var weightsAreEqual: Bool { lossWeightBuffer.allSatisfy { $0 == lossWeightBuffer[0] } }

    /// y += w_task · x over `n` values: one per-task pass's task-parameter gradients (written
    /// into a scratch when the weights differ), added with its task's weight.
    public func addWeighted(task: Int, _ n: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        Ops.axpy(n, lossWeightBuffer[task], x, y)
    }

    /// The task parameters' gradient Σ_i w_i ∇L_i into `into` from `sum`, the per-task passes'
    /// reduced sum: w · Σ_i ∇L_i when the weights are equal (the passes added unweighted), else
    /// the sum as it is (each pass was added with its weight by `addWeighted`).
    public func combineTaskParameters(_ sum: UnsafePointer<Float>, count: Int, into: UnsafeMutablePointer<Float>) {
        Self.scaledCopy(count, weightsAreEqual ? lossWeightBuffer[0] : 1, sum, into)
    }

    /// y = a · x over `n` values.
    @inline(__always)
    static func scaledCopy(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<n { y[i] = a * x[i] }
    }

    /// ‖x‖ over `n` values: squares summed in Float over blocks of 64 in eight lanes, the
    /// blocks in Double (`Ops.sumOfSquares`' serial Double sum ran at a quarter of the speed
    /// over MetaBalance's T × (shared parameters)). Relative error below 1e-6.
    static func norm(_ n: Int, _ x: UnsafePointer<Float>) -> Double {
        typealias V = SIMD8<Float>
        var total = 0.0
        var i = 0
        while i + 64 <= n {
            var a = V(repeating: 0), b = V(repeating: 0)
            var j = i
            while j < i + 64 {
                let u = V.load(x + j), w = V.load(x + j + 8)
                a += u * u
                b += w * w
                j += 16
            }
            total += Double((a + b).sum())
            i += 64
        }
        while i < n {
            total += Double(x[i]) * Double(x[i])
            i += 1
        }
        return total.squareRoot()
    }

    var tensorCount: Int { sharedTensors.count + numFields }

    private func updateMetaBalanceScales(_ mb: MetaBalance, tensors: Range<Int>) {
        let t = numTasks, n = tensorCount
        for k in tensors {
            for i in 0..<t {
                let idx = i * n + k
                state.normAverages[idx] = mb.beta * state.normAverages[idx] + (1 - mb.beta) * Float(norms[idx])
            }
            let target = state.normAverages[mb.target * n + k]
            for i in 0..<t {
                let idx = i * n + k
                guard i != mb.target else { scales[idx] = 1; continue }
                let m = state.normAverages[idx]
                let applies: Bool
                switch mb.strategy {
                case .A: applies = m > target
                case .B: applies = m < target
                case .C: applies = true
                }
                scales[idx] = applies && m > 0 ? (target / m) * mb.relaxFactor + (1 - mb.relaxFactor) : 1
            }
        }
    }

    /// Sums the per-task embedding gradients into `into` (weighted, or MetaBalance-rescaled per
    /// table).
    public func combineEmbeddings(perTask: [SparseRowGradient], embeddings: FieldEmbeddings, into: SparseRowGradient) {
        let t = numTasks, e = into.dim
        into.reset()
        if case .metaBalance(let mb) = method {
            let base = sharedTensors.count
            for i in 0..<t { for f in 0..<numFields { norms[i * tensorCount + base + f] = 0 } }
            for i in 0..<t {
                let g = perTask[i]
                for s in 0..<g.count {
                    let f = embeddings.field(ofRow: Int(g.rows[s]))
                    norms[i * tensorCount + base + f] += Ops.sumOfSquares(e, g.values.base + s * e)
                }
            }
            for i in 0..<t { for f in 0..<numFields { norms[i * tensorCount + base + f].formSquareRoot() } }
            updateMetaBalanceScales(mb, tensors: base..<(base + numFields))
            for i in 0..<t {
                let g = perTask[i]
                for s in 0..<g.count {
                    let row = g.rows[s]
                    let scale = scales[i * tensorCount + base + embeddings.field(ofRow: Int(row))]
                    into.add(row: row, scaled: scale, g.values.base + s * e)
                }
            }
            return
        }
        for i in 0..<t {
            let g = perTask[i]
            for s in 0..<g.count { into.add(row: g.rows[s], scaled: lossWeightBuffer[i], g.values.base + s * e) }
        }
    }

    /// Learns from the step that just happened: uncertainty's log-variances (one Adam step
    /// with learning rate `lr`), GradNorm's weights (from `perTask`, the reduced per-task shared
    /// gradients, or for a model whose only shared parameters are embeddings, ESMM, from the
    /// touched embedding rows in `perTaskEmbeddings`). `losses` are the global mean losses.
    public func afterStep(losses: [Double], perTask: UnsafePointer<Float>?, perTaskEmbeddings: [SparseRowGradient] = [],
                          sharedCount: Int, lr: Float) {
        switch method {
        case .uncertainty:
            // ∂/∂s_t [c_t e^(−s_t) L_t + ½ s_t] = −w_t L_t + ½; Adam as for every parameter, then
            // s_t held in `uncertaintyLogVarianceRange` (the optimum s = log(2 c L) runs to −∞
            // as a loss nears zero: weights near 3e12 were seen without a bound).
            state.logVarianceStep += 1
            for t in 0..<numTasks { uncertaintyGradient[t] = Float(-Double(lossWeightBuffer[t]) * losses[t] + 0.5) }
            let (b1, b2, eps) = adamHyperparameters
            let (stepSize, bc2Sqrt) = Adam.corrections(step: state.logVarianceStep, lr: lr, beta1: b1, beta2: b2)
            // The state's arrays are moved out for the kernel (no copy, no allocation) and back.
            var s = [Float](), m = [Float](), v = [Float]()
            swap(&s, &state.logVariances)
            swap(&m, &state.logVarianceM)
            swap(&v, &state.logVarianceV)
            s.withUnsafeMutableBufferPointer { s in
                m.withUnsafeMutableBufferPointer { m in
                    v.withUnsafeMutableBufferPointer { v in
                        uncertaintyGradient.withUnsafeBufferPointer { g in
                            Adam.kernel(p: s.baseAddress!, g: g.baseAddress!, m: m.baseAddress!, v: v.baseAddress!,
                                        count: numTasks, beta1: b1, beta2: b2, epsilon: eps, weightDecay: 0,
                                        stepSize: stepSize, bc2Sqrt: bc2Sqrt)
                        }
                    }
                }
            }
            let r = Self.uncertaintyLogVarianceRange
            for t in 0..<numTasks { s[t] = min(max(s[t], r.lowerBound), r.upperBound) }
            swap(&s, &state.logVariances)
            swap(&m, &state.logVarianceM)
            swap(&v, &state.logVarianceV)
        case .gradNorm(let alpha, let gnLR, _):
            guard let perTask else { return }
            // ‖∇_W L_i‖ from the globally reduced per-task gradients.
            for i in 0..<numTasks {
                if gradNormRanges.isEmpty {
                    let g = i < perTaskEmbeddings.count ? perTaskEmbeddings[i] : nil
                    gradNorms[i] = g.map { Self.norm($0.count * $0.dim, $0.values.base) } ?? 0
                } else if gradNormRanges.count == 1 {
                    gradNorms[i] = Self.norm(gradNormRanges[0].count, perTask + i * sharedCount + gradNormRanges[0].lowerBound)
                } else {
                    var ss = 0.0
                    for r in gradNormRanges {
                        let n = Self.norm(r.count, perTask + i * sharedCount + r.lowerBound)
                        ss += n * n
                    }
                    gradNorms[i] = ss.squareRoot()
                }
            }
            updateGradNormWeights(alpha: alpha, lr: gnLR, losses: losses)
        case .fixed, .metaBalance:
            break
        }
        refreshLossWeights()
    }

    /// GradNorm's update from per-task gradients of W packed as (T, `count`) in `perTaskW`
    /// (the trainer's fast path: W is one tensor and only its gradient is computed per task),
    /// already reduced over ranks; the same update as `afterStep(losses:perTask:…)`.
    public func afterGradNormStep(losses: [Double], perTaskW: UnsafePointer<Float>, count: Int) {
        guard case .gradNorm(let alpha, let gnLR, _) = method else {
            preconditionFailure("afterGradNormStep called for \(method.name)")
        }
        for i in 0..<numTasks { gradNorms[i] = Self.norm(count, perTaskW + i * count) }
        updateGradNormWeights(alpha: alpha, lr: gnLR, losses: losses)
        refreshLossWeights()
    }

    /// GradNorm's weight update (Chen et al., "GradNorm: Gradient Normalization for Adaptive
    /// Loss Balancing in Deep Multitask Networks", ICML 2018, §3.2, eq. 1–2 and Algorithm 1),
    /// from ‖∇_W L_i‖ in `gradNorms` and the global mean losses:
    ///
    /// ```
    /// G_i = w_i ‖∇_W L_i‖,  Ḡ = mean_i G_i,  r_i = L̃_i / mean_j L̃_j,  L̃_i = L_i / L_i(0)
    /// L_grad = Σ_i |G_i − Ḡ·r_i^α|   (target held constant)
    /// w_i ← max(w_i − lr · sign(G_i − Ḡ·r_i^α) · ‖∇_W L_i‖,  0.01)
    /// w_i ← w_i · T / Σ_j w_j
    /// ```
    /// The floor is ours: the paper renormalises to Σ w = T but does not keep the weights
    /// positive, and a large learning rate takes one below zero in a step (lr 100 gave
    /// [5.70, −3.70]), which turns its task's descent into ascent. Each weight is held at
    /// `gradNormWeightFloor` (1 % of the mean weight) before the renormalisation, in Double,
    /// so the weights stay positive and finite for any learning rate and α;
    /// `gradNormFloorHits` counts the updates where the floor acted.
    private func updateGradNormWeights(alpha: Float, lr gnLR: Float, losses: [Double]) {
        // A copy of its own: sharing the caller's buffer would make the caller's next write copy it.
        if state.initialLosses.isEmpty { state.initialLosses = losses.map { $0 } }
        let t = numTasks
        var meanG = 0.0, meanRatio = 0.0
        for i in 0..<t {
            gradNormG[i] = Double(state.weights[i]) * gradNorms[i]
            meanG += gradNormG[i]
            gradNormRatios[i] = state.initialLosses[i] > 0 ? losses[i] / state.initialLosses[i] : 1
            meanRatio += gradNormRatios[i]
        }
        meanG /= Double(t)
        meanRatio /= Double(t)
        var sum = 0.0
        var floored = false
        for i in 0..<t {
            // Target Ḡ·r_i^α held constant; d|G_i − target_i|/dw_i = sign(·)·‖∇_W L_i‖.
            let g = gradNormG[i]
            let target = meanG * pow(gradNormRatios[i] / meanRatio, Double(alpha))
            let grad = (g > target ? 1.0 : g < target ? -1.0 : 0.0) * gradNorms[i]
            var w = Double(state.weights[i]) - Double(gnLR) * grad
            // `!(w >= floor)` also catches NaN (a non-finite gradient norm).
            if !(w >= Self.gradNormWeightFloor) {
                w = Self.gradNormWeightFloor
                floored = true
            }
            if w > Double(Float.greatestFiniteMagnitude) { w = Double(Float.greatestFiniteMagnitude) }
            gradNormNext[i] = w
            sum += w
        }
        // Renormalise so that Σ_i w_i = T.
        for i in 0..<t { state.weights[i] = Float(gradNormNext[i] * (Double(t) / sum)) }
        if floored { gradNormFloorHits += 1 }
    }
}

#if canImport(Glibc)
import Glibc
#endif
