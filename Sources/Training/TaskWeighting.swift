import Kernels
import Layers
import Models

/// MetaBalance's choice of which auxiliary gradients to rescale (He et al., WWW 2022, §4.3).
public enum MetaBalanceStrategy: String, Sendable, Codable, CaseIterable {
    /// Shrink only auxiliary gradients larger than the target's.
    case A
    /// Enlarge only auxiliary gradients smaller than the target's.
    case B
    /// Rescale both (the paper's default).
    case C
}

/// MetaBalance settings: relax factor r, moving-average factor β, the target task, the strategy.
///
/// ```
/// He et al., "MetaBalance: Improving Multi-Task Recommendations via Adapting Gradient
/// Magnitudes of Auxiliary Tasks", WWW 2022, Algorithm 1.
/// for every shared tensor θ and task i:  m_i ← β·m_i + (1 − β)·‖∇_θ L_i‖
/// for every auxiliary task i (if the strategy applies):
///     ∇_θ L_i ← ∇_θ L_i · (m_target / m_i)·r + ∇_θ L_i · (1 − r)
/// ∇_θ L = ∇_θ L_target + Σ_aux ∇_θ L_i;   task-specific parameters keep their own gradients
/// ```
public struct MetaBalance: Sendable, Equatable, Codable {
    /// r in [0, 1]: 1 matches the auxiliary norms to the target's, 0 leaves them.
    public var relaxFactor: Float
    /// β in [0, 1): moving-average factor of the gradient norms.
    public var beta: Float
    /// The target task (the others are auxiliary).
    public var target: Int
    /// Which auxiliary gradients are rescaled.
    public var strategy: MetaBalanceStrategy

    /// The tutorial's `MetaBalance(relaxFactor:beta:)`, target the first task, strategy C.
    public init(relaxFactor: Float = 0.7, beta: Float = 0.9, target: Int = 0, strategy: MetaBalanceStrategy = .C) {
        precondition(relaxFactor >= 0 && relaxFactor <= 1, "relax factor must be in [0, 1], got \(relaxFactor)")
        precondition(beta >= 0 && beta < 1, "beta must be in [0, 1), got \(beta)")
        self.relaxFactor = relaxFactor
        self.beta = beta
        self.target = target
        self.strategy = strategy
    }
}

/// How the tasks' losses and gradients are combined into one update.
public enum TaskWeightingMethod: Sendable, Equatable {
    /// Fixed weights w_t (equal when nil).
    case fixed([Float]?)
    /// Learned homoscedastic uncertainty per task (Kendall, Gal & Cipolla, CVPR 2018).
    case uncertainty
    /// GradNorm (Chen et al., ICML 2018) with asymmetry α, the weights' learning rate, and
    /// the names of the tensors W whose gradient norms are balanced (nil = the model's default).
    case gradNorm(alpha: Float, learningRate: Float, tensors: [String]?)
    /// MetaBalance (He et al., WWW 2022).
    case metaBalance(MetaBalance)

    /// The config name (`task_weights_strategy`).
    public var name: String {
        switch self {
        case .fixed: return "fixed"
        case .uncertainty: return "uncertainty"
        case .gradNorm: return "gradnorm"
        case .metaBalance: return "metabalance"
        }
    }
}

/// The state a strategy learns, saved in checkpoints.
public struct TaskWeightingState: Codable, Sendable, Equatable {
    /// Current loss weights w_t (fixed, GradNorm).
    public var weights: [Float]
    /// Uncertainty: log-variances s_t and their Adam moments and step.
    public var logVariances: [Float]
    /// Adam first moments of `logVariances`.
    public var logVarianceM: [Float]
    /// Adam second moments of `logVariances`.
    public var logVarianceV: [Float]
    /// Adam steps taken on `logVariances`.
    public var logVarianceStep: Int
    /// GradNorm: each task's loss at the first step, L_i(0) (empty before it).
    public var initialLosses: [Double]
    /// MetaBalance: moving averages of gradient norms, (tasks × shared tensors) row-major.
    public var normAverages: [Float]
}

/// Combines per-task losses and gradients into one update (DESIGN.md §4, step 6), after the
/// per-task all-reduce, so the result is the same on 1 rank or N.
///
/// Fixed weights, uncertainty weighting and GradNorm's current weights are linear and known
/// before the step: the trainer scales each task's loss gradient by `lossWeights` and needs
/// one backward pass. GradNorm's norms and MetaBalance's rescaling need each task's gradient
/// of the shared parameters: `needsPerTaskGradients`.
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
    let numFields: Int
    private var lossWeightBuffer: [Float]
    private var norms: [Double]
    private var scales: [Float]
    private let uncertaintyAdam = (beta1: Float(0.9), beta2: Float(0.999), epsilon: Float(1e-8))

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
        var weights = [Float](repeating: 1, count: t)
        switch method {
        case .fixed(let w?):
            precondition(w.count == t, "\(w.count) task weights for \(t) tasks")
            weights = w
        case .gradNorm(_, _, let names):
            let chosen = names ?? Self.defaultGradNormTensors(model)
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
        let tensors = sharedTensors.count + numFields
        state = TaskWeightingState(weights: weights, logVariances: Array(repeating: 0, count: t),
                                   logVarianceM: Array(repeating: 0, count: t), logVarianceV: Array(repeating: 0, count: t),
                                   logVarianceStep: 0, initialLosses: [], normAverages: Array(repeating: 0, count: t * tensors))
        lossWeightBuffer = weights
        norms = Array(repeating: 0, count: t * tensors)
        scales = Array(repeating: 1, count: t * tensors)
        refreshLossWeights()
    }

    /// The last shared layer of each architecture, GradNorm's W (its weight tensors): the
    /// bottom's last layer, all experts' last layer, PLE's last level of shared experts; none
    /// for ESMM and AITM, whose only shared parameters are the embeddings (their touched rows
    /// are W then).
    public static func defaultGradNormTensors(_ model: any MultiTaskModel) -> [String] {
        let shared = model.layout.tensors.filter { $0.role == .shared && $0.name.hasSuffix(".weight") }
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
            for (k, spec) in sharedTensors.enumerated() {
                for i in 0..<t {
                    norms[i * tensorCount + k] = Ops.sumOfSquares(spec.count, perTask + i * sharedCount + spec.offset).squareRoot()
                }
            }
            updateMetaBalanceScales(mb, tensors: 0..<sharedTensors.count)
            shared.update(repeating: 0, count: sharedCount)
            for (k, spec) in sharedTensors.enumerated() {
                for i in 0..<t {
                    Ops.axpy(spec.count, scales[i * tensorCount + k], perTask + i * sharedCount + spec.offset, shared + spec.offset)
                }
            }
            return
        }
        shared.update(repeating: 0, count: sharedCount)
        for i in 0..<t { Ops.axpy(sharedCount, lossWeightBuffer[i], perTask + i * sharedCount, shared) }
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
            // ∂/∂s_t [c_t e^(−s_t) L_t + ½ s_t] = −w_t L_t + ½; Adam as for every parameter, no clamping.
            state.logVarianceStep += 1
            let (b1, b2, eps) = uncertaintyAdam
            let step = Double(state.logVarianceStep)
            let bc1 = 1 - pow(Double(b1), step), bc2 = 1 - pow(Double(b2), step)
            for t in 0..<numTasks {
                let g = Float(-Double(lossWeightBuffer[t]) * losses[t] + 0.5)
                state.logVarianceM[t] += (1 - b1) * (g - state.logVarianceM[t])
                state.logVarianceV[t] = state.logVarianceV[t] * b2 + (1 - b2) * g * g
                state.logVariances[t] -= Float(Double(lr) / bc1) * state.logVarianceM[t]
                    / (state.logVarianceV[t].squareRoot() / Float(bc2.squareRoot()) + eps)
            }
        case .gradNorm(let alpha, let gnLR, _):
            guard let perTask else { return }
            if state.initialLosses.isEmpty { state.initialLosses = losses }
            let t = numTasks
            // ‖∇_W L_i‖ from the globally reduced per-task gradients; G_i = w_i ‖∇_W L_i‖.
            var gradNorms = [Double](repeating: 0, count: t)
            for i in 0..<t {
                var ss = 0.0
                for r in gradNormRanges { ss += Ops.sumOfSquares(r.count, perTask + i * sharedCount + r.lowerBound) }
                if gradNormRanges.isEmpty && i < perTaskEmbeddings.count {
                    let g = perTaskEmbeddings[i]
                    ss = Ops.sumOfSquares(g.count * g.dim, g.values.base)
                }
                gradNorms[i] = ss.squareRoot()
            }
            let g = (0..<t).map { Double(state.weights[$0]) * gradNorms[$0] }
            let meanG = g.reduce(0, +) / Double(t)
            let ratios = (0..<t).map { state.initialLosses[$0] > 0 ? losses[$0] / state.initialLosses[$0] : 1 }
            let meanRatio = ratios.reduce(0, +) / Double(t)
            for i in 0..<t {
                // Target Ḡ·r_i^α held constant; d|G_i − target_i|/dw_i = sign(·)·‖∇_W L_i‖.
                let target = meanG * pow(ratios[i] / meanRatio, Double(alpha))
                let grad = (g[i] > target ? 1.0 : g[i] < target ? -1.0 : 0.0) * gradNorms[i]
                state.weights[i] -= Float(Double(gnLR) * grad)
            }
            // Renormalise so that Σ_i w_i = T.
            let sum = state.weights.reduce(0, +)
            if sum != 0 { for i in 0..<t { state.weights[i] *= Float(t) / sum } }
        case .fixed, .metaBalance:
            break
        }
        refreshLossWeights()
    }
}

#if canImport(Glibc)
import Glibc
#endif
