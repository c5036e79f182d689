import Kernels
import Layers

/// Adam as PyTorch's `torch.optim.Adam` defines it (L2 weight decay added to the gradient,
/// bias-corrected moments), with per-segment learning rates and lazy embedding rows.
///
/// ```
/// g ← g + λ·θ
/// m ← m + (1 − β₁)(g − m)             v ← β₂·v + (1 − β₂)·g²
/// θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
/// Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1.
public final class Adam: @unchecked Sendable {
    /// The base learning rate (shared parameters and embeddings, and tasks without their own).
    public var learningRate: Float
    /// First-moment decay β₁.
    public let beta1: Float
    /// Second-moment decay β₂.
    public let beta2: Float
    /// ε added to the denominator.
    public let epsilon: Float
    /// L2 weight decay λ (added to the gradient, as in `torch.optim.Adam`).
    public let weightDecay: Float
    /// How embedding rows are updated.
    public let embeddingUpdate: EmbeddingUpdate
    /// Steps taken so far, t.
    public var step = 0
    /// First moments of the dense parameters (empty until `bind`).
    public private(set) var m = FloatBuffer(count: 0)
    /// Second moments of the dense parameters.
    public private(set) var v = FloatBuffer(count: 0)
    /// First moments of the embedding rows.
    public private(set) var embeddingM = FloatBuffer(count: 0)
    /// Second moments of the embedding rows.
    public private(set) var embeddingV = FloatBuffer(count: 0)
    /// The dense parameters' groups and their learning rates, as torch's `param_groups`: the
    /// trainer makes one for the shared parameters and one per task (`step` updates them in
    /// this order). Empty until set: `step` then updates nothing.
    public private(set) var parameterGroups: [ParameterGroup] = []

    /// A range of the dense parameter arena and its learning rate.
    public struct ParameterGroup: Sendable, Equatable {
        /// What the group holds, e.g. "shared" or a task's name.
        public var name: String
        /// Its floats in the arena.
        public var range: Range<Int>
        /// Its learning rate.
        public var learningRate: Float

        /// A group of `range` at `learningRate`.
        public init(name: String, range: Range<Int>, learningRate: Float) {
            self.name = name
            self.range = range
            self.learningRate = learningRate
        }
    }

    /// Creates the optimizer; state is allocated when the trainer binds it to a model.
    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, embeddingUpdate: EmbeddingUpdate = .lazy) {
        precondition(learningRate >= 0 && weightDecay >= 0, "Adam needs lr ≥ 0 and weight decay ≥ 0")
        precondition(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "Adam betas must lie in [0, 1)")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.embeddingUpdate = embeddingUpdate
    }

    /// Allocates zeroed moments for `parameterCount` dense floats and `embeddingCount` embedding floats.
    public func bind(parameterCount: Int, embeddingCount: Int) {
        m = FloatBuffer(count: parameterCount)
        v = FloatBuffer(count: parameterCount)
        embeddingM = FloatBuffer(count: embeddingCount)
        embeddingV = FloatBuffer(count: embeddingCount)
        step = 0
    }

    /// A row of zeros, the gradient of an untouched row under dense embedding updates.
    private var zeros = FloatBuffer(count: 0)
    private func zeroRow(_ e: Int) -> UnsafePointer<Float> {
        if zeros.count < e { zeros = FloatBuffer(count: e) }  // FloatBuffer starts zeroed
        return UnsafePointer(zeros.base)
    }

    /// Advances t by one; call once per optimizer step, before the updates.
    public func beginStep() { step += 1 }

    /// Sets the parameter groups (disjoint ranges within the bound arena).
    public func setParameterGroups(_ groups: [ParameterGroup]) {
        let sorted = groups.map(\.range).sorted { $0.lowerBound < $1.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) { precondition(a.upperBound <= b.lowerBound, "overlapping groups \(a), \(b)") }
        precondition(groups.allSatisfy { $0.range.upperBound <= m.count && $0.learningRate >= 0 },
                     "a parameter group outside the \(m.count) bound floats, or with a negative learning rate")
        parameterGroups = groups
    }

    /// One optimizer step: t advances, each parameter group is updated at its learning rate,
    /// and the embedding rows of `embeddingGradient` at the base rate.
    public func step(params: FloatBuffer, grads: FloatBuffer, embeddings: FieldEmbeddings,
                     embeddingGradient: SparseRowGradient) {
        beginStep()
        for group in parameterGroups { update(params: params, grads: grads, range: group.range, lr: group.learningRate) }
        updateEmbeddings(embeddings, gradient: embeddingGradient, lr: learningRate)
    }

    @inline(__always)
    private func corrections(lr: Float) -> (stepSize: Float, bc2Sqrt: Float) {
        Self.corrections(step: step, lr: lr, beta1: beta1, beta2: beta2)
    }

    /// Adam's bias corrections at step `step` (from 1): the step size lr / (1 − β₁ᵗ) and
    /// √(1 − β₂ᵗ), as `kernel` takes them (Kingma & Ba, ICLR 2015, Algorithm 1).
    @inline(__always)
    static func corrections(step: Int, lr: Float, beta1: Float, beta2: Float) -> (stepSize: Float, bc2Sqrt: Float) {
        let t = Double(step)
        let bc1 = 1 - _pow(Double(beta1), t)
        let bc2 = 1 - _pow(Double(beta2), t)
        return (Float(Double(lr) / bc1), Float(bc2.squareRoot()))
    }

    /// Updates `params[range]` from `grads[range]` with learning rate `lr`.
    public func update(params: FloatBuffer, grads: FloatBuffer, range: Range<Int>, lr: Float) {
        guard !range.isEmpty else { return }
        precondition(step > 0, "call beginStep() before update")
        precondition(range.upperBound <= m.count, "range \(range) outside \(m.count) bound floats")
        let (stepSize, bc2Sqrt) = corrections(lr: lr)
        let o = range.lowerBound
        Adam.kernel(p: params.base + o, g: grads.base + o, m: m.base + o, v: v.base + o, count: range.count,
                    beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay,
                    stepSize: stepSize, bc2Sqrt: bc2Sqrt)
    }

    /// One Adam step over `n` contiguous floats: `Ops.adamStep`, the C kernel compiled for the
    /// CPU's widest vector level (3.4× the Swift SIMD8 loop on AVX-512, which Swift compiles for
    /// baseline SSE2). Every level performs the same IEEE operations in the same order as the
    /// scalar definition, so the result is bit for bit the same everywhere (tested).
    @inline(__always)
    static func kernel(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                       v: UnsafeMutablePointer<Float>, count n: Int, beta1 b1: Float, beta2 b2: Float,
                       epsilon eps: Float, weightDecay wd: Float, stepSize: Float, bc2Sqrt: Float) {
        Ops.adamStep(p: p, g: g, m: m, v: v, count: n, beta1: b1, beta2: b2, epsilon: eps, weightDecay: wd,
                     stepSize: stepSize, bc2Sqrt: bc2Sqrt)
    }

    /// The scalar definition `kernel` must equal bit for bit (for tests).
    static func scalarKernel(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                             v: UnsafeMutablePointer<Float>, count n: Int, beta1 b1: Float, beta2 b2: Float,
                             epsilon eps: Float, weightDecay wd: Float, stepSize: Float, bc2Sqrt: Float) {
        for i in 0..<n {
            var gi = g[i]
            if wd != 0 { gi += wd * p[i] }
            m[i] += (1 - b1) * (gi - m[i])
            v[i] = v[i] * b2 + (1 - b2) * gi * gi
            p[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2Sqrt + eps)
        }
    }

    /// Updates the embedding rows from the sparse gradient: the touched rows (lazy) or all rows (dense).
    public func updateEmbeddings(_ embeddings: FieldEmbeddings, gradient: SparseRowGradient, lr: Float) {
        precondition(step > 0, "call beginStep() before updateEmbeddings")
        let (stepSize, bc2Sqrt) = corrections(lr: lr)
        let b1 = beta1, b2 = beta2, eps = epsilon, wd = weightDecay
        let e = embeddings.dim
        let w = embeddings.weights.base, mm = embeddingM.base, vv = embeddingV.base
        let zeros = zeroRow(e)
        @inline(__always) func updateRow(_ row: Int, _ g: UnsafePointer<Float>?) {
            let base = row * e
            Adam.kernel(p: w + base, g: g ?? zeros, m: mm + base, v: vv + base, count: e, beta1: b1, beta2: b2,
                        epsilon: eps, weightDecay: wd, stepSize: stepSize, bc2Sqrt: bc2Sqrt)
        }
        switch embeddingUpdate {
        case .lazy:
            Ops.adamRows(w: w, m: mm, v: vv, rows: gradient.rows, g: gradient.values.base, count: gradient.count, dim: e,
                         beta1: b1, beta2: b2, epsilon: eps, weightDecay: wd, stepSize: stepSize, bc2Sqrt: bc2Sqrt)
        case .dense:
            for row in 0..<embeddings.rowCount {
                if let s = gradient.slot(of: Int32(row)) {
                    updateRow(row, gradient.values.base + s * e)
                } else {
                    updateRow(row, nil)
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _pow(_ a: Double, _ b: Double) -> Double { Glibc.pow(a, b) }
#else
import Foundation
@inline(__always) private func _pow(_ a: Double, _ b: Double) -> Double { Foundation.pow(a, b) }
#endif
