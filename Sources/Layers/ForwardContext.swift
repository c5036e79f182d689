import Kernels

/// What a forward pass needs besides parameters: training or inference mode, the model's
/// non-trainable state (batch-norm running statistics), and where in the run the batch is,
/// which seeds dropout.
///
/// Dropout masks are drawn from a generator seeded by (seed, step, global sample index, site),
/// so a sample gets the same mask whichever rank computes it and however the batch is split:
/// N ranks with local batch b equal one rank with N·b, dropout included.
public final class ForwardContext: @unchecked Sendable {
    /// Training (batch statistics, dropout) or inference (running statistics, no dropout).
    public var isTraining = false
    /// The optimizer step being computed (seeds dropout).
    public var step = 0
    /// The global index, within the step's batch, of this rank's first row (seeds dropout).
    public var firstSample = 0
    /// The dropout seed of the run.
    public var seed: UInt64 = 0
    /// Non-trainable state laid out by the model's `ParameterLayout` state declarations.
    public private(set) var state = FloatBuffer(count: 0)

    /// Creates an inference-mode context.
    public init() {}

    private var stateOffsets: [Int] = []

    /// The offset of a state buffer.
    @inline(__always)
    func stateOffset(_ id: StateID) -> Int { stateOffsets[id.index] }

    /// Finalises `layout`, binds this context to its state, and returns the zeroed parameter
    /// arena: the last step of every model's initialiser.
    public func finalize(_ layout: ParameterLayout) -> FloatBuffer {
        layout.finalize()
        bind(layout)
        return FloatBuffer(count: layout.count)
    }

    /// Allocates the state of `layout` with its declared initial values.
    public func bind(_ layout: ParameterLayout) {
        stateOffsets = layout.states.map(\.offset)
        state = FloatBuffer(count: layout.stateCount)
        for s in layout.states { state.base.advanced(by: s.offset).update(repeating: s.initial, count: s.count) }
    }

    /// The generator of row `row` (local index) at dropout site `site`.
    @inline(__always)
    func rowGenerator(row: Int, site: UInt64) -> SeededRandom {
        var x = seed ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15)
        x ^= UInt64(firstSample + row) &* 0xC2B2_AE3D_27D4_EB4F
        x ^= site &* 0x1656_67B1_9E37_79F9
        return SeededRandom(seed: x)
    }
}

/// A stable 64-bit id of a dropout site, from its layer's name (FNV-1a).
func siteID(_ name: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h
}

/// Batch normalisation over the columns of a (B, C) matrix, in place, as `torch.nn.BatchNorm1d`.
///
/// ```
/// training:  x̂ = (x − μ_B) / √(σ²_B + ε),  y = γ·x̂ + β     (σ²_B biased)
///            running_mean ← (1 − m)·running_mean + m·μ_B
///            running_var  ← (1 − m)·running_var + m·σ²_B·B/(B − 1)
/// inference: y = γ·(x − running_mean)/√(running_var + ε) + β
/// backward:  dγ = Σ dy·x̂,  dβ = Σ dy,  dx = γ/(B·√(σ²_B + ε))·(B·dy − Σdy − x̂·Σ(dy·x̂))
/// ```
/// Ioffe & Szegedy, "Batch Normalization", ICML 2015, Algorithm 1–2. ε = 1e-5, m = 0.1.
/// Under several ranks the statistics are each rank's local batch (no synchronisation).
public struct BatchNorm: Sendable {
    /// Number of columns C.
    public let width: Int
    let gamma: TensorID, beta: TensorID
    let runningMean: StateID, runningVar: StateID
    static let epsilon: Float = 1e-5
    static let momentum: Float = 0.1

    /// Declares `<name>.weight` (γ, ones), `<name>.bias` (β, zeros) and the running statistics.
    public init(_ name: String, width: Int, shape: [Int]? = nil, role: ParameterRole, layout: ParameterLayout) {
        self.width = width
        let s = shape ?? [width]
        gamma = layout.declare("\(name).weight", shape: s, role: role, initializer: .ones)
        beta = layout.declare("\(name).bias", shape: s, role: role, initializer: .zeros)
        runningMean = layout.declareState("\(name).running_mean", count: width, initial: 0)
        runningVar = layout.declareState("\(name).running_var", count: width, initial: 1)
    }

    /// Normalises `x` (B, C) in place; in training, saves x̂ into `xhat` and 1/√(σ² + ε) into `invStd`.
    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, xhat: UnsafeMutablePointer<Float>,
                        invStd: UnsafeMutablePointer<Float>, params: ArenaView, context: ForwardContext) {
        let c = width, g = params[gamma], bt = params[beta]
        let rm = context.state.base + context.stateOffset(runningMean)
        let rv = context.state.base + context.stateOffset(runningVar)
        if context.isTraining {
            for j in 0..<c {
                var mean = 0.0
                for i in 0..<batch { mean += Double(x[i * c + j]) }
                mean /= Double(batch)
                var v = 0.0
                for i in 0..<batch {
                    let d = Double(x[i * c + j]) - mean
                    v += d * d
                }
                let variance = v / Double(batch)
                let inv = Float(1 / (variance + Double(Self.epsilon)).squareRoot())
                invStd[j] = inv
                let m = Float(mean)
                for i in 0..<batch {
                    let h = (x[i * c + j] - m) * inv
                    xhat[i * c + j] = h
                    x[i * c + j] = g[j] * h + bt[j]
                }
                rm[j] = (1 - Self.momentum) * rm[j] + Self.momentum * m
                let unbiased = batch > 1 ? variance * Double(batch) / Double(batch - 1) : variance
                rv[j] = (1 - Self.momentum) * rv[j] + Self.momentum * Float(unbiased)
            }
        } else {
            for j in 0..<c {
                let inv = 1 / (rv[j] + Self.epsilon).squareRoot()
                for i in 0..<batch { x[i * c + j] = g[j] * (x[i * c + j] - rm[j]) * inv + bt[j] }
            }
        }
    }

    /// Turns `dy` (B, C) into dx in place; adds dγ and dβ.
    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, xhat: UnsafePointer<Float>,
                         invStd: UnsafePointer<Float>, params: ArenaView, grads: ArenaView) {
        let c = width, g = params[gamma], dg = grads[gamma], db = grads[beta]
        let n = Float(batch)
        for j in 0..<c {
            var sumDy: Float = 0, sumDyX: Float = 0
            for i in 0..<batch {
                sumDy += dy[i * c + j]
                sumDyX += dy[i * c + j] * xhat[i * c + j]
            }
            dg[j] += sumDyX
            db[j] += sumDy
            let k = g[j] * invStd[j] / n
            for i in 0..<batch { dy[i * c + j] = k * (n * dy[i * c + j] - sumDy - xhat[i * c + j] * sumDyX) }
        }
    }
}

/// Inverted dropout with probability p over a (B, C) matrix: kept values are scaled by 1/(1 − p).
public struct Dropout: Sendable {
    /// The drop probability.
    public let probability: Float
    let site: UInt64

    /// A dropout site named after its layer.
    public init(_ name: String, probability: Float) {
        precondition(probability >= 0 && probability < 1, "dropout must be in [0, 1), got \(probability)")
        self.probability = probability
        site = siteID(name)
    }

    /// Applies the mask in place and stores the per-element multipliers (0 or 1/(1 − p)) in `mask`.
    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, width c: Int, mask: UnsafeMutablePointer<Float>,
                        context: ForwardContext) {
        let keep = 1 / (1 - probability)
        for i in 0..<batch {
            var rng = context.rowGenerator(row: i, site: site)
            for j in 0..<c {
                let m: Float = rng.nextFloat() < probability ? 0 : keep
                mask[i * c + j] = m
                x[i * c + j] *= m
            }
        }
    }

    /// Multiplies `dy` by the stored mask.
    public func backward(_ dy: UnsafeMutablePointer<Float>, count: Int, mask: UnsafePointer<Float>) {
        for i in 0..<count { dy[i] *= mask[i] }
    }
}

/// Options of every MLP a model builds (towers, bottoms, experts).
public struct MLPOptions: Sendable, Equatable, Codable {
    /// Batch normalisation after each hidden linear layer, before the activation (as torch-rechub's MLP).
    public var batchNorm: Bool
    /// Dropout probability after each hidden activation, training only.
    public var dropout: Float

    /// No batch normalisation, no dropout (the default).
    public init(batchNorm: Bool = false, dropout: Float = 0) {
        self.batchNorm = batchNorm
        self.dropout = dropout
    }
}
