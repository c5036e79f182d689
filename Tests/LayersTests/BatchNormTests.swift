import Foundation
import Kernels
import Layers
import TestSupport
import Testing

/// `BatchNorm` against its documented formulas (torch.nn.BatchNorm1d, ε = 1e-5, momentum 0.1),
/// computed here in Double: training statistics, the running statistics' update, inference on
/// them, and the backward pass against finite differences. (BatchNormKernelTests only proves
/// the C passes equal the Swift loops they replaced, bit for bit, not that either is right.)
struct BatchNormTests {
    static let epsilon = 1e-5, momentum = 0.1

    /// A batch-norm layer of `width` columns with γ, β set, bound to a fresh context.
    final class Fixture {
        let layout = ParameterLayout(numTasks: 1)
        let bn: BatchNorm
        let context = ForwardContext()
        let params: FloatBuffer
        let scratch: BatchNormScratch
        let width: Int

        init(width: Int, gamma: [Float], beta: [Float]) {
            self.width = width
            bn = BatchNorm("bn", width: width, role: .shared, layout: layout)
            params = context.finalize(layout)
            scratch = BatchNormScratch(width: width)
            let pv = layout.view(params)
            let g = pv[layout.id(named: "bn.weight")!], b = pv[layout.id(named: "bn.bias")!]
            for j in 0..<width { g[j] = gamma[j]; b[j] = beta[j] }
        }

        func state(_ name: String) -> [Float] {
            let s = layout.states.first { $0.name == "bn.\(name)" }!
            return Array(UnsafeBufferPointer(start: context.state.base + s.offset, count: s.count))
        }

        func setState(_ name: String, _ values: [Float]) {
            let s = layout.states.first { $0.name == "bn.\(name)" }!
            for (j, v) in values.enumerated() { context.state.base[s.offset + j] = v }
        }

        /// Runs the forward pass on a copy of `x` (B, C); returns y, x̂ and 1/√(σ² + ε).
        func forward(_ x: [Float], training: Bool, activation: Activation = .identity) -> (y: [Float], xhat: [Float], invStd: [Float]) {
            context.isTraining = training
            let batch = x.count / width
            let y = FloatBuffer(x), xhat = FloatBuffer(count: x.count), invStd = FloatBuffer(count: width)
            bn.forward(y.base, batch: batch, xhat: xhat.base, invStd: invStd.base, params: layout.view(params),
                       context: context, scratch: scratch, activation: activation)
            return (y.toArray(), xhat.toArray(), invStd.toArray())
        }
    }

    /// Column mean and biased variance in Double.
    static func moments(_ x: [Float], width c: Int) -> (mean: [Double], variance: [Double]) {
        let b = x.count / c
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for j in 0..<c {
            for i in 0..<b { mean[j] += Double(x[i * c + j]) }
            mean[j] /= Double(b)
            for i in 0..<b { variance[j] += (Double(x[i * c + j]) - mean[j]) * (Double(x[i * c + j]) - mean[j]) }
            variance[j] /= Double(b)
        }
        return (mean, variance)
    }

    /// A hand example: columns [1, 2, 3, 4] (μ 2.5, σ² 1.25) and [−2, 0, 0, 2] (μ 0, σ² 2), with
    /// γ = [2, 0.5], β = [0.5, −1]. Training writes y = γ x̂ + β, x̂, 1/√(σ² + ε), and moves the
    /// running statistics 10 % of the way to μ and the unbiased σ²·B/(B − 1); a second batch
    /// moves them again from there. Tolerance 1e-6 (Float rounding of values of order 1).
    @Test func trainingNormalisesAndUpdatesRunningStatistics() {
        let f = Fixture(width: 2, gamma: [2, 0.5], beta: [0.5, -1])
        let x: [Float] = [1, -2, 2, 0, 3, 0, 4, 2]
        #expect(f.state("running_mean") == [0, 0] && f.state("running_var") == [1, 1], "initial running statistics")
        let out = f.forward(x, training: true)
        let inv = [1 / (1.25 + Self.epsilon).squareRoot(), 1 / (2 + Self.epsilon).squareRoot()]
        let mean = [2.5, 0.0], gamma = [2.0, 0.5], beta = [0.5, -1.0]
        for i in 0..<4 {
            for j in 0..<2 {
                let xhat = (Double(x[i * 2 + j]) - mean[j]) * inv[j]
                #expect(abs(Double(out.xhat[i * 2 + j]) - xhat) < 1e-6, "x̂[\(i), \(j)]")
                #expect(abs(Double(out.y[i * 2 + j]) - (gamma[j] * xhat + beta[j])) < 1e-6, "y[\(i), \(j)]")
            }
        }
        for j in 0..<2 { #expect(abs(Double(out.invStd[j]) - inv[j]) < 1e-6) }
        // running_mean = 0.9·0 + 0.1·μ;  running_var = 0.9·1 + 0.1·σ²·4/3.
        var rm = [0.1 * 2.5, 0.0], rv = [0.9 + 0.1 * 1.25 * 4 / 3, 0.9 + 0.1 * 2 * 4 / 3]
        for j in 0..<2 {
            #expect(abs(Double(f.state("running_mean")[j]) - rm[j]) < 1e-6)
            #expect(abs(Double(f.state("running_var")[j]) - rv[j]) < 1e-6)
        }
        // A second batch of 2 rows: [10, 1], [14, 1] (μ [12, 1], σ² [4, 0], unbiased [8, 0]).
        _ = f.forward([10, 1, 14, 1], training: true)
        rm = [0.9 * rm[0] + 0.1 * 12, 0.9 * rm[1] + 0.1 * 1]
        rv = [0.9 * rv[0] + 0.1 * 8, 0.9 * rv[1] + 0.1 * 0]
        for j in 0..<2 {
            #expect(abs(Double(f.state("running_mean")[j]) - rm[j]) < 1e-6)
            #expect(abs(Double(f.state("running_var")[j]) - rv[j]) < 1e-6)
        }
    }

    /// A constant column has σ² = 0: x̂ = 0 and y = β (1/√ε, no division by zero).
    @Test func constantColumnGivesBeta() {
        let f = Fixture(width: 1, gamma: [3], beta: [0.25])
        let out = f.forward([5, 5, 5], training: true)
        #expect(out.xhat == [0, 0, 0] && out.y == [0.25, 0.25, 0.25])
        #expect(abs(Double(out.invStd[0]) - 1 / Self.epsilon.squareRoot()) < 1e-2)
    }

    /// Inference uses the running statistics, not the batch's: y = γ (x − rm)/√(rv + ε) + β, the
    /// same for a row alone or in a batch, and the statistics do not move. Tolerance 1e-6.
    @Test func inferenceUsesRunningStatistics() {
        let f = Fixture(width: 3, gamma: [1.5, -1, 0.5], beta: [0, 2, -0.5])
        f.setState("running_mean", [1, -2, 0.5])
        f.setState("running_var", [4, 0.25, 9])
        let x: [Float] = [3, -2, 0.5, 1, 0, 3.5, -1, 1, 6.5]
        let out = f.forward(x, training: false)
        let gamma = [1.5, -1, 0.5], beta = [0, 2, -0.5], rm = [1, -2, 0.5], rv = [4, 0.25, 9]
        for i in 0..<3 {
            for j in 0..<3 {
                let want = gamma[j] * (Double(x[i * 3 + j]) - rm[j]) / (rv[j] + Self.epsilon).squareRoot() + beta[j]
                #expect(abs(Double(out.y[i * 3 + j]) - want) < 1e-6, "y[\(i), \(j)]")
            }
        }
        let alone = f.forward(Array(x[3..<6]), training: false)
        #expect(alone.y == Array(out.y[3..<6]), "a row's inference does not depend on its batch")
        #expect(f.state("running_mean") == [1, -2, 0.5] && f.state("running_var") == [4, 0.25, 9])
    }

    /// The fused activations equal normalising, then activating: ReLU (fused in the C pass) and
    /// tanh (applied after), in training and inference; bit for bit for ReLU (max(0, ·) of the
    /// same value), 1e-6 for tanh.
    @Test(arguments: [Activation.relu, .tanh], [true, false])
    func fusedActivationEqualsNormaliseThenActivate(activation: Activation, training: Bool) {
        var rng = SeededRandom(seed: 51)
        let c = 11, b = 9
        let gamma = (0..<c).map { _ in 2 * rng.nextFloat() - 0.5 }, beta = (0..<c).map { _ in rng.nextFloat() - 0.5 }
        let x = (0..<b * c).map { _ in 4 * rng.nextFloat() - 2 }
        let plain = Fixture(width: c, gamma: gamma, beta: beta), fused = Fixture(width: c, gamma: gamma, beta: beta)
        let y = plain.forward(x, training: training).y
        let z = fused.forward(x, training: training, activation: activation).y
        for k in 0..<y.count {
            if activation == .relu {
                #expect(z[k] == max(y[k], 0), "element \(k)")
            } else {
                #expect(abs(Double(z[k]) - Foundation.tanh(Double(y[k]))) < 1e-6, "element \(k)")
            }
        }
    }

    /// Backward against central differences of L = ⟨r, act(BN(x))⟩ in training (the statistics
    /// depend on x, so dx has the two extra terms), for every x, γ and β, with γ and β drawn away
    /// from their initial ones and zeros. Tolerance as `checkLayer`'s: relative error of the whole
    /// vector below 2e-3 (Float32 forward, h = 1e-2).
    @Test(arguments: [(3, 4), (7, 5), (32, 9)], [Activation.identity, .tanh])
    func backwardMatchesFiniteDifferences(shape: (Int, Int), activation: Activation) {
        let (b, c) = shape
        var rng = SeededRandom(seed: 52)
        let gamma = (0..<c).map { _ in 0.5 + rng.nextFloat() }, beta = (0..<c).map { _ in rng.nextFloat() - 0.5 }
        let f = Fixture(width: c, gamma: gamma, beta: beta)
        f.context.isTraining = true
        let x = randomBuffer(b * c, scale: 2, rng: &rng), r = randomBuffer(b * c, rng: &rng)
        let y = FloatBuffer(count: b * c), xhat = FloatBuffer(count: b * c), invStd = FloatBuffer(count: c)
        let pv = f.layout.view(f.params)
        func loss() -> Double {
            y.base.update(from: x.base, count: b * c)
            f.bn.forward(y.base, batch: b, xhat: xhat.base, invStd: invStd.base, params: pv, context: f.context,
                         scratch: f.scratch, activation: activation)
            return Ops.dot(b * c, y.base, r.base)
        }
        _ = loss()
        let grads = FloatBuffer(count: f.layout.count)
        let dx = FloatBuffer(count: b * c)
        dx.copy(from: r)
        f.bn.backward(dx.base, batch: b, xhat: xhat.base, invStd: invStd.base, params: pv, grads: f.layout.view(grads),
                      scratch: f.scratch, activation: activation, output: y.base)
        let pc = checkGradient(parameters: f.params.base, indices: Array(0..<f.layout.count), analytic: { grads[$0] },
                               label: "γβ", loss: loss)
        #expect(pc.relativeError < 2e-3, "γ, β: \(pc)")
        let xc = checkGradient(parameters: x.base, indices: Array(0..<(b * c)), analytic: { dx[$0] }, label: "x", loss: loss)
        #expect(xc.relativeError < 2e-3, "x: \(xc)")
    }
}
