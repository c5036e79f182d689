import Foundation
import Kernels
import Layers
import TestSupport
import Testing

/// `MLP`'s forward pass against plain loops in Double, with and without batch normalisation and
/// dropout, in inference and training. (LayerGradientTests checks that backward agrees with
/// forward, which a wrong forward would pass too.)
struct MLPTests {
    /// y = act(W x + b) per hidden layer in Double, with batch norm on running statistics
    /// (inference) when `norm` gives (γ, β, running mean, running var) per layer; then the
    /// output layer without activation.
    static func reference(_ mlp: MLP, layout: ParameterLayout, params: FloatBuffer, x: FloatBuffer, batch: Int,
                          norm: ((Int) -> (gamma: [Float], beta: [Float], mean: [Float], variance: [Float]))? = nil) -> [Double] {
        let pv = layout.view(params)
        var input = (0..<(batch * mlp.inputSize)).map { Double(x[$0]) }
        var width = mlp.inputSize
        for (l, layer) in mlp.layers.enumerated() {
            let n = layer.outputSize, w = pv[layer.weight], b = pv[layer.bias!]
            var out = [Double](repeating: 0, count: batch * n)
            let hidden = l < mlp.units.count
            for r in 0..<batch {
                for j in 0..<n {
                    var z = Double(b[j])
                    for q in 0..<width { z += Double(w[j * width + q]) * input[r * width + q] }
                    if hidden, let s = norm?(l) {
                        z = Double(s.gamma[j]) * (z - Double(s.mean[j])) / (Double(s.variance[j]) + 1e-5).squareRoot()
                            + Double(s.beta[j])
                    }
                    if hidden {
                        switch mlp.activation {
                        case .relu: z = max(z, 0)
                        case .tanh: z = Foundation.tanh(z)
                        case .sigmoid: z = 1 / (1 + Foundation.exp(-z))
                        case .identity: break
                        }
                    }
                    out[r * n + j] = z
                }
            }
            input = out
            width = n
        }
        return input
    }

    /// Plain MLPs with and without an output layer: the forward pass is the textbook one.
    /// Tolerance 1e-5 (Float32 sums of at most 7 products, values of order 1).
    @Test(arguments: [Activation.relu, .tanh, .sigmoid], [nil, 2])
    func forwardEqualsLoops(activation: Activation, outputSize: Int?) {
        let b = 6, i = 7
        let layout = ParameterLayout(numTasks: 1)
        let mlp = MLP("m", inputSize: i, units: [5, 3], activation: activation, outputSize: outputSize, role: .shared,
                      layout: layout)
        layout.finalize()
        #expect(mlp.outputSize == (outputSize ?? 3) && mlp.hasOutputLayer == (outputSize != nil))
        #expect(mlp.layers.count == (outputSize == nil ? 2 : 3))
        var rng = SeededRandom(seed: 61)
        let params = FloatBuffer(count: layout.count)
        layout.initialize(params, rng: &rng)
        let x = randomBuffer(b * i, scale: 2, rng: &rng)
        let cache = mlp.makeCache(batch: b)
        mlp.forward(input: x.base, ldx: i, batch: b, params: layout.view(params), cache: cache)
        let want = Self.reference(mlp, layout: layout, params: params, x: x, batch: b)
        for k in 0..<want.count { #expect(abs(Double(cache.output[k]) - want[k]) < 1e-5, "output \(k)") }
    }

    /// In inference, batch norm uses the running statistics (set here away from 0 and 1) and
    /// dropout does nothing: the output equals the loops with BN on those statistics.
    @Test(arguments: [Float(0), 0.5])
    func inferenceUsesRunningStatisticsAndNoDropout(dropout: Float) {
        let b = 5, i = 4, units = [6, 3]
        let layout = ParameterLayout(numTasks: 1)
        let mlp = MLP("m", inputSize: i, units: units, activation: .relu, outputSize: 1,
                      options: MLPOptions(batchNorm: true, dropout: dropout), role: .task(0), layout: layout)
        let context = ForwardContext()
        let params = context.finalize(layout)
        var rng = SeededRandom(seed: 62)
        layout.initialize(params, rng: &rng)
        let pv = layout.view(params)
        var stats: [(gamma: [Float], beta: [Float], mean: [Float], variance: [Float])] = []
        for (l, h) in units.enumerated() {
            let g = pv[layout.id(named: "m.\(l).bn.weight")!], bt = pv[layout.id(named: "m.\(l).bn.bias")!]
            var s = (gamma: [Float](), beta: [Float](), mean: [Float](), variance: [Float]())
            for j in 0..<h {
                g[j] = 0.5 + rng.nextFloat(); bt[j] = rng.nextFloat() - 0.5
                s.gamma.append(g[j]); s.beta.append(bt[j])
                s.mean.append(rng.nextFloat() - 0.5); s.variance.append(0.25 + rng.nextFloat())
            }
            let m = layout.states.first { $0.name == "m.\(l).bn.running_mean" }!
            let v = layout.states.first { $0.name == "m.\(l).bn.running_var" }!
            for j in 0..<h { context.state.base[m.offset + j] = s.mean[j]; context.state.base[v.offset + j] = s.variance[j] }
            stats.append(s)
        }
        let stateBefore = context.state.toArray()
        let x = randomBuffer(b * i, scale: 2, rng: &rng)
        let cache = mlp.makeCache(batch: b, context: context)
        #expect(!context.isTraining, "a new context is in inference mode")
        mlp.forward(input: x.base, ldx: i, batch: b, params: pv, cache: cache)
        let want = Self.reference(mlp, layout: layout, params: params, x: x, batch: b, norm: { stats[$0] })
        for k in 0..<b { #expect(abs(Double(cache.output[k]) - want[k]) < 1e-5, "row \(k)") }
        #expect(context.state.toArray() == stateBefore, "inference leaves the running statistics alone")
    }

    /// Without batch norm, an MLP with dropout declares the same tensors as one without, and in
    /// inference computes exactly the same outputs (same bits).
    @Test func dropoutIsTheIdentityInInference() {
        func build(_ options: MLPOptions) -> (MLP, ParameterLayout, FloatBuffer) {
            let layout = ParameterLayout(numTasks: 1)
            let mlp = MLP("m", inputSize: 6, units: [8, 4], outputSize: 1, options: options, role: .shared, layout: layout)
            layout.finalize()
            var rng = SeededRandom(seed: 63)
            let params = FloatBuffer(count: layout.count)
            layout.initialize(params, rng: &rng)
            return (mlp, layout, params)
        }
        let (plain, l1, p1) = build(MLPOptions())
        let (dropped, l2, p2) = build(MLPOptions(dropout: 0.4))
        #expect(l1.tensors == l2.tensors && p1.toArray() == p2.toArray())
        var rng = SeededRandom(seed: 64)
        let x = randomBuffer(9 * 6, rng: &rng)
        let c1 = plain.makeCache(batch: 9), c2 = dropped.makeCache(batch: 9)
        plain.forward(input: x.base, ldx: 6, batch: 9, params: l1.view(p1), cache: c1)
        dropped.forward(input: x.base, ldx: 6, batch: 9, params: l2.view(p2), cache: c2)
        #expect((0..<9).allSatisfy { c1.output[$0] == c2.output[$0] })
    }

    /// In training, inverted dropout keeps each hidden value scaled by 1/(1 − p) or zeroes it;
    /// about p of them are zeroed; a row's mask depends on its global index, not on the batch it
    /// is computed in (rows 16..<32 alone, `firstSample` 16, equal the same rows of the whole
    /// batch: the N-ranks-equal-one-rank property), and changes with the step.
    @Test func trainingDropoutScalesKeepsAndSplitsLikeOneBatch() {
        let b = 32, i = 5, h = 16, p: Float = 0.5
        let layout = ParameterLayout(numTasks: 1)
        let mlp = MLP("m", inputSize: i, units: [h], activation: .tanh, options: MLPOptions(dropout: p), role: .shared,
                      layout: layout)
        let context = ForwardContext()
        let params = context.finalize(layout)
        var rng = SeededRandom(seed: 65)
        layout.initialize(params, rng: &rng)
        let pv = layout.view(params)
        let x = randomBuffer(b * i, rng: &rng)
        let cache = mlp.makeCache(batch: b, context: context)
        mlp.forward(input: x.base, ldx: i, batch: b, params: pv, cache: cache)
        let inference = Array(UnsafeBufferPointer(start: cache.output, count: b * h))
        context.isTraining = true
        context.seed = 99
        context.step = 7
        mlp.forward(input: x.base, ldx: i, batch: b, params: pv, cache: cache)
        let whole = Array(UnsafeBufferPointer(start: cache.output, count: b * h))
        var zeroed = 0
        for k in 0..<(b * h) {
            if whole[k] == 0 { zeroed += 1 } else { #expect(whole[k] == inference[k] * 2, "element \(k) kept and scaled by 1/(1 − p)") }
        }
        // 512 Bernoulli(0.5) draws: 6 standard deviations either side of 256.
        #expect(zeroed > 256 - 68 && zeroed < 256 + 68, "\(zeroed) of 512 dropped")
        let half = mlp.makeCache(batch: b / 2, context: context)
        context.firstSample = b / 2
        mlp.forward(input: x.base + (b / 2) * i, ldx: i, batch: b / 2, params: pv, cache: half)
        #expect(Array(UnsafeBufferPointer(start: half.output, count: b / 2 * h)) == Array(whole[(b / 2 * h)...]))
        context.firstSample = 0
        context.step = 8
        mlp.forward(input: x.base, ldx: i, batch: b, params: pv, cache: cache)
        #expect(Array(UnsafeBufferPointer(start: cache.output, count: b * h)) != whole, "another step, another mask")
    }

    /// Backward in training with batch norm and dropout (masks fixed by seed and step) against
    /// finite differences, through the shared `checkLayer` harness.
    @Test func backwardWithBatchNormAndDropoutMatchesFiniteDifferences() {
        let b = 8, i = 5
        let layout = ParameterLayout(numTasks: 1)
        let mlp = MLP("m", inputSize: i, units: [7, 4], activation: .tanh, outputSize: 2,
                      options: MLPOptions(batchNorm: true, dropout: 0.25), role: .shared, layout: layout)
        let context = ForwardContext()
        _ = context.finalize(layout)
        context.isTraining = true
        context.seed = 5
        let cache = mlp.makeCache(batch: b, context: context)
        checkLayer(layout: layout, inputCount: b * i, outputCount: b * 2, seed: 66,
                   forward: { p, x in
                       mlp.forward(input: x, ldx: i, batch: b, params: p, cache: cache)
                       return UnsafePointer(cache.output)
                   },
                   backward: { p, g, x, dy, dx in
                       mlp.backward(dOutput: dy, input: x, ldx: i, dInput: dx, lddx: i, batch: b, params: p, grads: g,
                                    cache: cache)
                   })
    }
}
