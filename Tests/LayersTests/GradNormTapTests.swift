import Kernels
import Layers
import TestSupport
import Testing

/// `GradNormTap` in the two containers that hold a W (MLP, ExpertBank), with batch norm and
/// dropout on: a `.perTask` pass writes exactly the full pass's dW and nothing else, and a
/// `.combined` pass writes every gradient of the full pass but W's. The same products run on
/// the same operands in the same order, so the comparisons are exact (bit for bit).
struct GradNormTapTests {
    /// One container's backward under a tap mode: (gradients, dInput, tap buffer).
    typealias Pass = (grads: [Float], dInput: [Float], dWeight: [Float])

    static func compare(full: Pass, combined: Pass, perTask: Pass, w: TensorSpec) {
        let wRange = w.offset..<(w.offset + w.count)
        #expect(Array(full.grads[wRange]) == perTask.dWeight, "per-task dW equals the full pass's")
        #expect(full.grads[wRange].contains { $0 != 0 })
        #expect(perTask.grads.allSatisfy { $0 == 0 }, "a per-task pass writes no other gradient")
        #expect(perTask.dInput.allSatisfy { $0 == -7 }, "a per-task pass leaves dInput alone")
        #expect(combined.grads[wRange].allSatisfy { $0 == 0 }, "the combined pass skips W's product")
        for i in full.grads.indices where !wRange.contains(i) {
            #expect(combined.grads[i] == full.grads[i], "gradient \(i)")
        }
        #expect(combined.dInput == full.dInput)
        #expect(combined.dWeight.allSatisfy { $0 == 0 })
    }

    @Test(arguments: [0, 1, 2])
    func mlpTap(layer: Int) {
        let b = 9, i = 6
        let layout = ParameterLayout(numTasks: 1)
        let mlp = MLP("m", inputSize: i, units: [7, 5], activation: .relu, outputSize: 3,
                      options: MLPOptions(batchNorm: true, dropout: 0.25), role: .shared, layout: layout)
        layout.finalize()
        var rng = SeededRandom(seed: 5)
        let params = FloatBuffer(count: layout.count)
        layout.initialize(params, rng: &rng)
        let x = randomBuffer(b * i, rng: &rng), dy = randomBuffer(b * 3, rng: &rng)
        let context = ForwardContext()
        context.bind(layout)
        context.isTraining = true
        context.seed = 11
        let cache = mlp.makeCache(batch: b, context: context)
        mlp.forward(input: x.base, ldx: i, batch: b, params: layout.view(params), cache: cache)
        let w = layout[mlp.layers[layer].weight]
        func pass(_ mode: GradNormTap.Mode) -> Pass {
            let grads = FloatBuffer(count: layout.count), dx = FloatBuffer(count: b * i), dw = FloatBuffer(count: w.count)
            for j in 0..<dx.count { dx[j] = -7 }
            let d = FloatBuffer(dy.toArray())
            context.gradNormTap = GradNormTap(weight: mlp.layers[layer].weight, mode: mode, dWeight: dw.base)
            defer { context.gradNormTap = GradNormTap() }
            mlp.backward(dOutput: d.base, input: x.base, ldx: i, dInput: dx.base, lddx: i, batch: b,
                         params: layout.view(params), grads: layout.view(grads), cache: cache)
            return (grads.toArray(), dx.toArray(), dw.toArray())
        }
        Self.compare(full: pass(.full), combined: pass(.combined), perTask: pass(.perTask), w: w)
    }

    @Test(arguments: [0, 1])
    func expertBankTap(layer: Int) {
        let b = 10, i = 8, k = 3
        let layout = ParameterLayout(numTasks: 1)
        let bank = ExpertBank("e", inputSize: i, numExperts: k, units: [8, 8], activation: .relu,
                              options: MLPOptions(batchNorm: true, dropout: 0.25), role: .shared, layout: layout)
        layout.finalize()
        var rng = SeededRandom(seed: 6)
        let params = FloatBuffer(count: layout.count)
        layout.initialize(params, rng: &rng)
        let x = randomBuffer(b * i, rng: &rng), dy = randomBuffer(b * k * 8, rng: &rng)
        let context = ForwardContext()
        context.bind(layout)
        context.isTraining = true
        context.seed = 12
        let cache = bank.makeCache(batch: b, context: context)
        bank.forward(input: x.base, ldx: i, batch: b, params: layout.view(params), cache: cache)
        let id = bank.weightTensors[layer], w = layout[id]
        func pass(_ mode: GradNormTap.Mode) -> Pass {
            let grads = FloatBuffer(count: layout.count), dx = FloatBuffer(count: b * i), dw = FloatBuffer(count: w.count)
            for j in 0..<dx.count { dx[j] = -7 }
            let d = FloatBuffer(dy.toArray())
            context.gradNormTap = GradNormTap(weight: id, mode: mode, dWeight: dw.base)
            defer { context.gradNormTap = GradNormTap() }
            bank.backward(dOutput: d.base, input: x.base, ldx: i, dInput: dx.base, lddx: i, batch: b,
                          params: layout.view(params), grads: layout.view(grads), cache: cache)
            return (grads.toArray(), dx.toArray(), dw.toArray())
        }
        Self.compare(full: pass(.full), combined: pass(.combined), perTask: pass(.perTask), w: w)
    }
}
