import Foundation
import Kernels
import Layers
import TestSupport
import Testing

/// `SoftmaxGate` and `ExpertMixture` (SoftmaxGate.swift) on their own, against plain loops in
/// Double. LayerGradientTests checks gate and mixture only together, at one width (H = 6, the
/// scalar loops); here the gate alone, and the mixture's 8-lane path (H % 8 == 0), PLE's
/// `gateStride` and `accumulate`.
struct SoftmaxGateTests {
    /// x W_gᵀ in Double, then softmax per row.
    static func referenceGate(x: FloatBuffer, w: UnsafePointer<Float>, batch: Int, input: Int, experts k: Int) -> [Double] {
        var out = [Double](repeating: 0, count: batch * k)
        for b in 0..<batch {
            var z = [Double](repeating: 0, count: k)
            for e in 0..<k { for q in 0..<input { z[e] += Double(w[e * input + q]) * Double(x[b * input + q]) } }
            let m = z.max()!
            let s = z.reduce(0) { $0 + exp($1 - m) }
            for e in 0..<k { out[b * k + e] = exp(z[e] - m) / s }
        }
        return out
    }

    /// Rows sum to 1 and equal softmax(x W_gᵀ); logits of ±60 (exp overflows Float past 88)
    /// stay finite. Tolerance 1e-6: one Float rounding of values in (0, 1].
    @Test(arguments: [Float(1), 30])
    func outputsAreTheSoftmaxOfTheLogits(scale: Float) {
        let b = 7, i = 5, k = 4
        let layout = ParameterLayout(numTasks: 1)
        let gate = SoftmaxGate("g", inputSize: i, numExperts: k, role: .shared, layout: layout)
        layout.finalize()
        #expect(gate.numExperts == k)
        #expect(layout.tensor(named: "g.weight")?.shape == [k, i])
        #expect(layout.tensor(named: "g.bias") == nil, "the gate has no bias")
        var rng = SeededRandom(seed: 31)
        let params = FloatBuffer(count: layout.count)
        layout.initialize(params, rng: &rng)
        let x = randomBuffer(b * i, scale: scale, rng: &rng)
        let g = FloatBuffer(count: b * k)
        let pv = layout.view(params)
        gate.forward(output: g.base, input: x.base, ldx: i, batch: b, params: pv)
        let expected = Self.referenceGate(x: x, w: pv[gate.linear.weight], batch: b, input: i, experts: k)
        for r in 0..<b {
            var sum = 0.0
            for e in 0..<k {
                #expect(g[r * k + e].isFinite && g[r * k + e] >= 0)
                #expect(abs(Double(g[r * k + e]) - expected[r * k + e]) < 1e-6, "row \(r) expert \(e)")
                sum += Double(g[r * k + e])
            }
            #expect(abs(sum - 1) < 1e-6, "row \(r) sums to \(sum)")
        }
    }

    /// The gate's backward alone against central differences of L = ⟨r, g⟩ (the shared
    /// `checkLayer` harness and tolerance), with x read at a row stride wider than the input.
    @Test(arguments: [(1, 3, 2), (6, 5, 4), (9, 8, 8)])
    func backwardMatchesFiniteDifferences(shape: (Int, Int, Int)) {
        let (b, i, k) = shape
        let ldx = i + 2
        let layout = ParameterLayout(numTasks: 1)
        let gate = SoftmaxGate("g", inputSize: i, numExperts: k, role: .task(0), layout: layout)
        layout.finalize()
        let g = FloatBuffer(count: b * k)
        checkLayer(layout: layout, inputCount: b * ldx, outputCount: b * k, seed: 32,
                   forward: { p, x in
                       gate.forward(output: g.base, input: x, ldx: ldx, batch: b, params: p)
                       return UnsafePointer(g.base)
                   },
                   backward: { p, grads, x, dy, dx in
                       // Backward adds into dInput; the padding columns must stay zero.
                       dx.update(repeating: 0, count: b * ldx)
                       gate.backward(dGate: dy, gate: g.base, input: x, ldx: ldx, dInput: dx, lddx: ldx, batch: b,
                                     params: p, grads: grads)
                       for r in 0..<b { for c in i..<ldx { #expect(dx[r * ldx + c] == 0) } }
                   })
    }

    /// The mixture y = Σ_k g_k E_k and its backward dE = g·dy, dg = ⟨E_k, dy⟩, against loops,
    /// for the scalar (H = 6) and 8-lane (H = 8, 16) paths, with and without `accumulate` and
    /// with a gate read from a column slice (`gateStride`, as PLE mixes bank by bank).
    /// Tolerance 1e-5 on values of order 1 (Float sums of at most 3 products in another order).
    @Test(arguments: [6, 8, 16], [false, true])
    func mixtureMatchesLoops(width h: Int, accumulate: Bool) {
        let b = 5, k = 3, gateStride = 5, gateColumn = 1
        var rng = SeededRandom(seed: UInt64(40 + h))
        let expertStride = k * h + 3
        let experts = randomBuffer(b * expertStride, rng: &rng)
        let gates = randomBuffer(b * gateStride, rng: &rng)
        let start = randomBuffer(b * h, rng: &rng)
        let dy = randomBuffer(b * h, rng: &rng)
        let dStart = randomBuffer(b * expertStride, rng: &rng)
        let y = FloatBuffer(count: b * h)
        y.copy(from: start)
        ExpertMixture.forward(output: y.base, ldy: h, experts: experts.base,
                              layout: ExpertLayout(rowStride: expertStride, expertOffset: h),
                              gate: gates.base + gateColumn, gateStride: gateStride, batch: b, numExperts: k, width: h,
                              accumulate: accumulate)
        let dE = FloatBuffer(count: b * expertStride)
        dE.copy(from: dStart)
        let dG = FloatBuffer(count: b * gateStride)
        ExpertMixture.backward(dExperts: dE.base, dGate: dG.base + gateColumn, dOutput: dy.base, lddy: h,
                               experts: experts.base, layout: ExpertLayout(rowStride: expertStride, expertOffset: h),
                               gate: gates.base + gateColumn, gateStride: gateStride, batch: b, numExperts: k, width: h, accumulate: accumulate)
        for r in 0..<b {
            for j in 0..<h {
                var want = accumulate ? Double(start[r * h + j]) : 0
                for e in 0..<k { want += Double(gates[r * gateStride + gateColumn + e]) * Double(experts[r * expertStride + e * h + j]) }
                #expect(abs(Double(y[r * h + j]) - want) < 1e-5, "y[\(r), \(j)]")
            }
            for e in 0..<k {
                var dot = 0.0
                for j in 0..<h {
                    let at = r * expertStride + e * h + j
                    dot += Double(experts[at]) * Double(dy[r * h + j])
                    let added = Double(gates[r * gateStride + gateColumn + e]) * Double(dy[r * h + j])
                    let want = (accumulate ? Double(dStart[at]) : 0) + added
                    #expect(abs(Double(dE[at]) - want) < 1e-5, "dE[\(r), \(e), \(j)]")
                }
                #expect(abs(Double(dG[r * gateStride + gateColumn + e]) - dot) < 1e-5, "dG[\(r), \(e)]")
            }
            // Outside the slice: dG's other columns and E's padding are not written.
            #expect(dG[r * gateStride] == 0 && dG[r * gateStride + gateColumn + k] == 0)
            for c in (k * h)..<expertStride { #expect(dE[r * expertStride + c] == dStart[r * expertStride + c]) }
        }
    }
}
