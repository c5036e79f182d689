import Kernels
import Layers
import TestSupport
import Testing

/// Checks a layer's backward pass against central finite differences of its forward pass,
/// for every parameter (a sample of 300) and the input (a sample of 200). The scalar is
/// L = ⟨r, y⟩ for a fixed random r, so dL/dy = r. Tolerance: relative error of the whole
/// checked vector below 2e-3 (Float32 forward, h = 1e-2: truncation ~h², rounding ~eps·|L|/h).
func checkLayer(
    layout: ParameterLayout, inputCount: Int, outputCount: Int, seed: UInt64, inputScale: Float = 1,
    kinkTolerance: Double? = nil,
    forward: (ArenaView, UnsafePointer<Float>) -> UnsafePointer<Float>,
    backward: (ArenaView, ArenaView, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
) {
    var rng = SeededRandom(seed: seed)
    let params = FloatBuffer(count: layout.count)
    layout.initialize(params, rng: &rng)
    let grads = FloatBuffer(count: layout.count)
    let x = randomBuffer(inputCount, scale: inputScale, rng: &rng)
    let r = randomBuffer(outputCount, rng: &rng)
    let pv = layout.view(params)
    func loss() -> Double { Ops.dot(outputCount, forward(pv, x.base), r.base) }
    _ = loss()
    let dy = FloatBuffer(count: outputCount)
    dy.copy(from: r)
    let dx = FloatBuffer(count: inputCount)
    backward(pv, layout.view(grads), x.base, dy.base, dx.base)
    let pIdx = sampleIndices(300, below: layout.count, rng: &rng)
    let pc = checkGradient(parameters: params.base, indices: pIdx, analytic: { grads[$0] }, kinkTolerance: kinkTolerance,
                           label: "θ", loss: loss)
    #expect(pc.relativeError < 2e-3, "parameters: \(pc)")
    let xIdx = sampleIndices(200, below: inputCount, rng: &rng)
    let xc = checkGradient(parameters: x.base, indices: xIdx, analytic: { dx[$0] }, kinkTolerance: kinkTolerance,
                           label: "x", loss: loss)
    #expect(xc.relativeError < 2e-3, "input: \(xc)")
}

struct LayerGradientTests {
    @Test(arguments: [(1, 3, 2), (7, 5, 4), (16, 33, 9)])
    func linear(shape: (Int, Int, Int)) {
        let (b, i, o) = shape
        let layout = ParameterLayout(numTasks: 1)
        let lin = Linear("l", inputSize: i, outputSize: o, role: .shared, layout: layout)
        layout.finalize()
        let y = FloatBuffer(count: b * o)
        checkLayer(layout: layout, inputCount: b * i, outputCount: b * o, seed: 21,
                   forward: { p, x in
                       lin.forward(output: y.base, ldy: o, input: x, ldx: i, batch: b, params: p)
                       return UnsafePointer(y.base)
                   },
                   backward: { p, g, x, dy, dx in
                       lin.backward(dInput: dx, lddx: i, dOutput: dy, lddy: o, input: x, ldx: i, batch: b,
                                    params: p, grads: g)
                   })
    }

    @Test(arguments: [Activation.tanh, .sigmoid, .relu])
    func mlpWithOutputLayer(activation: Activation) {
        let b = 6, i = 7
        let layout = ParameterLayout(numTasks: 1)
        let mlp = MLP("m", inputSize: i, units: [8, 5], activation: activation, outputSize: 1, role: .task(0),
                      layout: layout)
        layout.finalize()
        let cache = mlp.makeCache(batch: b)
        // ReLU makes the loss piecewise linear: where ±h straddles a kink (one-sided slopes
        // differ by more than Float32 noise, ~1e-5 here) the one-sided slope judges.
        checkLayer(layout: layout, inputCount: b * i, outputCount: b, seed: 22,
                   kinkTolerance: activation == .relu ? 2e-4 : nil,
                   forward: { p, x in
                       mlp.forward(input: x, ldx: i, batch: b, params: p, cache: cache)
                       return UnsafePointer(cache.output)
                   },
                   backward: { p, g, x, dy, dx in
                       mlp.backward(dOutput: dy, input: x, ldx: i, dInput: dx, lddx: i, batch: b, params: p,
                                    grads: g, cache: cache)
                   })
    }

    @Test(arguments: [[6], [6, 4], [5, 4, 3]])
    func expertBank(units: [Int]) {
        let b = 5, i = 9, k = 3
        let layout = ParameterLayout(numTasks: 1)
        let bank = ExpertBank("e", inputSize: i, numExperts: k, units: units, activation: .tanh, role: .shared,
                              layout: layout)
        layout.finalize()
        let cache = bank.makeCache(batch: b)
        let out = b * k * bank.outputSize
        checkLayer(layout: layout, inputCount: b * i, outputCount: out, seed: 23,
                   forward: { p, x in
                       bank.forward(input: x, ldx: i, batch: b, params: p, cache: cache)
                       return UnsafePointer(cache.output)
                   },
                   backward: { p, g, x, dy, dx in
                       bank.backward(dOutput: dy, input: x, ldx: i, dInput: dx, lddx: i, batch: b, params: p,
                                     grads: g, cache: cache)
                   })
    }

    @Test func expertBankMatchesSeparateMLPs() {
        // Expert k of the bank computes exactly an MLP with weight slices [k].
        let b = 4, i = 6, k = 3
        let layout = ParameterLayout(numTasks: 1)
        let bank = ExpertBank("e", inputSize: i, numExperts: k, units: [5, 2], activation: .relu, role: .shared,
                              layout: layout)
        layout.finalize()
        var rng = SeededRandom(seed: 4)
        let params = FloatBuffer(count: layout.count)
        layout.initialize(params, rng: &rng)
        let x = randomBuffer(b * i, rng: &rng)
        let cache = bank.makeCache(batch: b)
        bank.forward(input: x.base, ldx: i, batch: b, params: layout.view(params), cache: cache)
        let w0 = layout.tensor(named: "e.0.weight")!, b0 = layout.tensor(named: "e.0.bias")!
        let w1 = layout.tensor(named: "e.1.weight")!, b1 = layout.tensor(named: "e.1.bias")!
        for e in 0..<k {
            for s in 0..<b {
                var h = [Float](repeating: 0, count: 5)
                for j in 0..<5 {
                    var z = params[b0.offset + e * 5 + j]
                    for q in 0..<i { z += params[w0.offset + (e * 5 + j) * i + q] * x[s * i + q] }
                    h[j] = max(z, 0)
                }
                for j in 0..<2 {
                    var z = params[b1.offset + e * 2 + j]
                    for q in 0..<5 { z += params[w1.offset + (e * 2 + j) * 5 + q] * h[q] }
                    let at = s * cache.outputLayout.rowStride + e * cache.outputLayout.expertOffset + j
                    #expect(abs(max(z, 0) - cache.output[at]) < 1e-5)
                }
            }
        }
    }

    @Test func gateAndMixture() {
        // y = Σ_k softmax(x W)_k · E_k with both x and E inputs: pack [x | E] as one input.
        let b = 5, i = 4, k = 3, h = 6
        let layout = ParameterLayout(numTasks: 1)
        let gate = SoftmaxGate("g", inputSize: i, numExperts: k, role: .task(0), layout: layout)
        layout.finalize()
        let width = i + k * h
        let g = FloatBuffer(count: b * k)
        let y = FloatBuffer(count: b * h)
        let dg = FloatBuffer(count: b * k)
        checkLayer(layout: layout, inputCount: b * width, outputCount: b * h, seed: 24,
                   forward: { p, x in
                       gate.forward(output: g.base, input: x, ldx: width, batch: b, params: p)
                       ExpertMixture.forward(output: y.base, ldy: h, experts: x + i,
                                             layout: ExpertLayout(rowStride: width, expertOffset: h), gate: g.base,
                                             batch: b, numExperts: k, width: h)
                       return UnsafePointer(y.base)
                   },
                   backward: { p, grads, x, dy, dx in
                       ExpertMixture.backward(dExperts: dx + i, dGate: dg.base, dOutput: dy, lddy: h, experts: x + i,
                                              layout: ExpertLayout(rowStride: width, expertOffset: h), gate: g.base,
                                              batch: b, numExperts: k, width: h)
                       gate.backward(dGate: dg.base, gate: g.base, input: x, ldx: width, dInput: dx, lddx: width,
                                     batch: b, params: p, grads: grads)
                   })
    }
}
