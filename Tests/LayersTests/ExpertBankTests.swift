import Kernels
import Layers
import TestSupport
import Testing

/// `ExpertBank` against K separate `MLP`s holding its weight slices: expert k of the bank is
/// exactly MLP k, with batch normalisation per expert column, forward and backward, in
/// training and inference. (LayerGradientTests checks a plain bank's gradients and a plain
/// two-layer forward against loops; not batch norm, dropout or `dInputColumns`.)
struct ExpertBankTests {
    /// A bank and K MLPs of the same shape with the bank's parameters copied into each.
    final class Pair {
        let b: Int, i: Int, k: Int, units: [Int]
        let bankLayout = ParameterLayout(numTasks: 1)
        let bank: ExpertBank
        let bankContext = ForwardContext()
        let bankParams: FloatBuffer
        let layouts: [ParameterLayout]
        let mlps: [MLP]
        let contexts: [ForwardContext]
        let params: [FloatBuffer]

        init(batch: Int, input: Int, experts: Int, units: [Int], options: MLPOptions, seed: UInt64) {
            b = batch; i = input; k = experts; self.units = units
            bank = ExpertBank("e", inputSize: input, numExperts: experts, units: units, activation: .relu, options: options,
                              role: .shared, layout: bankLayout)
            bankParams = bankContext.finalize(bankLayout)
            var rng = SeededRandom(seed: seed)
            bankLayout.initialize(bankParams, rng: &rng)
            // γ and β away from ones and zeros, so that a slice taken from the wrong expert shows.
            for t in bankLayout.tensors where t.name.contains(".bn.") {
                let p = bankLayout.view(bankParams)[bankLayout.id(named: t.name)!]
                for j in 0..<t.count { p[j] = t.name.hasSuffix("weight") ? 0.5 + rng.nextFloat() : rng.nextFloat() - 0.5 }
            }
            var layouts: [ParameterLayout] = [], mlps: [MLP] = [], contexts: [ForwardContext] = [], params: [FloatBuffer] = []
            for e in 0..<experts {
                let layout = ParameterLayout(numTasks: 1)
                let mlp = MLP("m", inputSize: input, units: units, activation: .relu, options: options, role: .shared,
                              layout: layout)
                let context = ForwardContext()
                let p = context.finalize(layout)
                // Bank tensor `e.<l>.<kind>` (K, …) → MLP tensor `m.<l>.<kind>`: expert e's slice.
                for t in layout.tensors {
                    let source = bankLayout.tensor(named: "e" + t.name.dropFirst())!
                    #expect(source.count == experts * t.count, "\(source.name) stacks \(t.name)")
                    for j in 0..<t.count { p[t.offset + j] = bankParams[source.offset + e * t.count + j] }
                }
                layouts.append(layout); mlps.append(mlp); contexts.append(context); params.append(p)
            }
            self.layouts = layouts; self.mlps = mlps; self.contexts = contexts; self.params = params
        }

        /// The running statistic `name` of expert e in the bank (its columns of the (K·H) state).
        func bankState(_ name: String, expert e: Int, layer l: Int) -> [Float] {
            let s = bankLayout.states.first { $0.name == "e.\(l).bn.\(name)" }!
            let h = units[l]
            return Array(UnsafeBufferPointer(start: bankContext.state.base + s.offset + e * h, count: h))
        }

        func mlpState(_ name: String, expert e: Int, layer l: Int) -> [Float] {
            let s = layouts[e].states.first { $0.name == "m.\(l).bn.\(name)" }!
            return Array(UnsafeBufferPointer(start: contexts[e].state.base + s.offset, count: s.count))
        }
    }

    /// A bank's output as a (B, K·H) row-major array.
    static func rowMajor(_ output: UnsafePointer<Float>, _ layout: ExpertLayout, batch b: Int, experts k: Int,
                         width h: Int) -> [Float] {
        var a: [Float] = []
        for r in 0..<b {
            for e in 0..<k { for j in 0..<h { a.append(output[r * layout.rowStride + e * layout.expertOffset + j]) } }
        }
        return a
    }

    static func close(_ a: [Float], _ b: [Float], _ tolerance: Float) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    /// Training with batch norm: the bank's output columns, running statistics, input gradient
    /// (the sum of the experts') and every parameter gradient slice equal the K MLPs'.
    /// Tolerance 1e-4 relative: the bank's stacked GEMM sums in another order than the MLPs',
    /// and batch norm divides by σ of a 16-row batch.
    @Test(arguments: [[6], [8, 4], [5, 4, 3]])
    func trainingWithBatchNormEqualsTheExpertsOneByOne(units: [Int]) {
        let pair = Pair(batch: 16, input: 7, experts: 3, units: units, options: MLPOptions(batchNorm: true), seed: 71)
        let (b, i, k, h) = (pair.b, pair.i, pair.k, units.last!)
        var rng = SeededRandom(seed: 72)
        let x = randomBuffer(b * i, scale: 2, rng: &rng)
        let dOut = randomBuffer(b * k * h, rng: &rng)
        pair.bankContext.isTraining = true
        let bankCache = pair.bank.makeCache(batch: b, context: pair.bankContext)
        pair.bank.forward(input: x.base, ldx: i, batch: b, params: pair.bankLayout.view(pair.bankParams), cache: bankCache)
        let bankOutput = Self.rowMajor(bankCache.output, bankCache.outputLayout, batch: b, experts: k, width: h)
        let bankGrads = FloatBuffer(count: pair.bankLayout.count)
        let bankDx = FloatBuffer(count: b * i)
        // The bank takes its output's gradient in its own (expert-major) layout.
        let dy = FloatBuffer(count: bankCache.outputCount)
        let layout = bankCache.outputLayout
        for r in 0..<b {
            for e in 0..<k {
                for j in 0..<h { dy[r * layout.rowStride + e * layout.expertOffset + j] = dOut[r * k * h + e * h + j] }
            }
        }
        pair.bank.backward(dOutput: dy.base, input: x.base, ldx: i, dInput: bankDx.base, lddx: i, batch: b,
                           params: pair.bankLayout.view(pair.bankParams), grads: pair.bankLayout.view(bankGrads),
                           cache: bankCache)
        var sumDx = [Float](repeating: 0, count: b * i)
        for e in 0..<k {
            let mlp = pair.mlps[e], layout = pair.layouts[e]
            pair.contexts[e].isTraining = true
            let cache = mlp.makeCache(batch: b, context: pair.contexts[e])
            mlp.forward(input: x.base, ldx: i, batch: b, params: layout.view(pair.params[e]), cache: cache)
            var column: [Float] = [], expected: [Float] = []
            for r in 0..<b {
                for j in 0..<h {
                    column.append(bankOutput[r * k * h + e * h + j])
                    expected.append(cache.output[r * h + j])
                }
            }
            #expect(Self.close(column, expected, 1e-4), "expert \(e)'s output")
            for l in 0..<units.count {
                #expect(Self.close(pair.bankState("running_mean", expert: e, layer: l),
                                   pair.mlpState("running_mean", expert: e, layer: l), 1e-4), "expert \(e) layer \(l) mean")
                #expect(Self.close(pair.bankState("running_var", expert: e, layer: l),
                                   pair.mlpState("running_var", expert: e, layer: l), 1e-4), "expert \(e) layer \(l) var")
            }
            let d = FloatBuffer(count: b * h)
            for r in 0..<b { for j in 0..<h { d[r * h + j] = dOut[r * k * h + e * h + j] } }
            let grads = FloatBuffer(count: layout.count)
            let dx = FloatBuffer(count: b * i)
            mlp.backward(dOutput: d.base, input: x.base, ldx: i, dInput: dx.base, lddx: i, batch: b,
                         params: layout.view(pair.params[e]), grads: layout.view(grads), cache: cache)
            for q in 0..<(b * i) { sumDx[q] += dx[q] }
            for t in layout.tensors {
                let source = pair.bankLayout.tensor(named: "e" + t.name.dropFirst())!
                let slice = (0..<t.count).map { bankGrads[source.offset + e * t.count + $0] }
                let mine = (0..<t.count).map { grads[t.offset + $0] }
                #expect(Self.close(slice, mine, 1e-4), "expert \(e): gradient of \(t.name)")
            }
        }
        #expect(Self.close(bankDx.toArray(), sumDx, 1e-4), "dInput is the sum of the experts' input gradients")
    }

    /// In bf16 each matrix a bank's backward pass multiplies is rounded once: the input (pinned
    /// for every expert's weight gradient), each layer's output gradient (it feeds both the
    /// weight and the input gradient's products), each layer's input and weight.
    @Test(arguments: GEMMLibrariesForTests.backends)
    func backwardInBF16RoundsEachMatrixOnce(backend: GEMMBackend) throws {
        guard let settings = try GEMMLibrariesForTests.bf16Settings(backend) else { return }
        let units = [16, 8]
        let pair = Pair(batch: 32, input: 12, experts: 3, units: units, options: MLPOptions(batchNorm: true), seed: 76)
        let (b, i, k) = (pair.b, pair.i, pair.k)
        var rng = SeededRandom(seed: 77)
        let x = randomBuffer(b * i, rng: &rng)
        pair.bankContext.isTraining = true
        let cache = pair.bank.makeCache(batch: b, context: pair.bankContext)
        let params = pair.bankLayout.view(pair.bankParams)
        let dy = randomBuffer(cache.outputCount, rng: &rng), dx = FloatBuffer(count: b * i)
        let grads = FloatBuffer(count: pair.bankLayout.count)
        let count = GEMMEngine.withSettings(settings) {
            pair.bank.forward(input: x.base, ldx: i, batch: b, params: params, cache: cache)
            let before = GEMMEngine.convertedToBF16
            pair.bank.backward(dOutput: dy.base, input: x.base, ldx: i, dInput: dx.base, lddx: i, batch: b, params: params,
                               grads: pair.bankLayout.view(grads), cache: cache)
            return GEMMEngine.convertedToBF16 - before
        }
        // x once; per expert, layer 1: dy (B, 8), its input (B, 16), W (8, 16); layer 0: dy (B, 16), W (16, 12).
        let perExpert = b * 8 + b * 16 + 8 * 16 + b * 16 + 16 * 12
        #expect(count == UInt64(b * i + k * perExpert), "\(count) values rounded to bf16")
    }

    /// Inference with batch norm and dropout: after a training pass has moved the bank's running
    /// statistics (each MLP is given its expert's columns of them: the training passes' dropout
    /// masks differ, bank and MLPs being other dropout sites), the bank in inference mode equals
    /// the K MLPs in inference mode (dropout off, statistics per expert column), and two
    /// inference passes give the same bits.
    @Test func inferenceWithBatchNormAndDropoutEqualsTheExpertsOneByOne() {
        let units = [6, 4]
        let options = MLPOptions(batchNorm: true, dropout: 0.3)
        let pair = Pair(batch: 12, input: 5, experts: 4, units: units, options: options, seed: 73)
        let (b, i, k, h) = (pair.b, pair.i, pair.k, units.last!)
        var rng = SeededRandom(seed: 74)
        let warm = randomBuffer(b * i, scale: 3, rng: &rng), x = randomBuffer(b * i, rng: &rng)
        pair.bankContext.isTraining = true
        let bankCache = pair.bank.makeCache(batch: b, context: pair.bankContext)
        pair.bank.forward(input: warm.base, ldx: i, batch: b, params: pair.bankLayout.view(pair.bankParams), cache: bankCache)
        pair.bankContext.isTraining = false
        pair.bank.forward(input: x.base, ldx: i, batch: b, params: pair.bankLayout.view(pair.bankParams), cache: bankCache)
        let first = Self.rowMajor(bankCache.output, bankCache.outputLayout, batch: b, experts: k, width: h)
        pair.bank.forward(input: x.base, ldx: i, batch: b, params: pair.bankLayout.view(pair.bankParams), cache: bankCache)
        #expect(Self.rowMajor(bankCache.output, bankCache.outputLayout, batch: b, experts: k, width: h) == first)
        for e in 0..<k {
            let cache = pair.mlps[e].makeCache(batch: b, context: pair.contexts[e])
            for l in 0..<units.count {
                for name in ["running_mean", "running_var"] {
                    let s = pair.layouts[e].states.first { $0.name == "m.\(l).bn.\(name)" }!
                    let moved = pair.bankState(name, expert: e, layer: l)
                    #expect(moved != pair.mlpState(name, expert: e, layer: l), "the training pass moved \(name)")
                    for j in 0..<s.count { pair.contexts[e].state.base[s.offset + j] = moved[j] }
                }
            }
            pair.mlps[e].forward(input: x.base, ldx: i, batch: b, params: pair.layouts[e].view(pair.params[e]), cache: cache)
            var column: [Float] = [], expected: [Float] = []
            for r in 0..<b {
                for j in 0..<h {
                    column.append(first[r * k * h + e * h + j])
                    expected.append(cache.output[r * h + j])
                }
            }
            #expect(Self.close(column, expected, 1e-4), "expert \(e)'s inference output")
        }
    }

    /// `dInputColumns` writes only the first columns of dInput (a model's dense features need
    /// no gradient), equal to the full gradient's; `accumulateInput` adds instead of writing.
    @Test(arguments: [[6], [6, 4]])
    func inputGradientColumnsAndAccumulation(units: [Int]) {
        let b = 4, i = 5, k = 2, keep = 3
        let layout = ParameterLayout(numTasks: 1)
        let bank = ExpertBank("e", inputSize: i, numExperts: k, units: units, activation: .tanh, role: .shared,
                              layout: layout)
        layout.finalize()
        var rng = SeededRandom(seed: 75)
        let params = FloatBuffer(count: layout.count)
        layout.initialize(params, rng: &rng)
        let x = randomBuffer(b * i, rng: &rng), dOut = randomBuffer(b * k * units.last!, rng: &rng)
        let cache = bank.makeCache(batch: b)
        func run(columns: Int?, accumulate: Bool) -> [Float] {
            bank.forward(input: x.base, ldx: i, batch: b, params: layout.view(params), cache: cache)
            let dy = FloatBuffer(count: dOut.count)
            dy.copy(from: dOut)
            let dx = FloatBuffer((0..<(b * i)).map { _ in 7 })
            let grads = FloatBuffer(count: layout.count)
            bank.backward(dOutput: dy.base, input: x.base, ldx: i, dInput: dx.base, lddx: i, accumulateInput: accumulate,
                          dInputColumns: columns, batch: b, params: layout.view(params), grads: layout.view(grads),
                          cache: cache)
            return dx.toArray()
        }
        let full = run(columns: nil, accumulate: false)
        let some = run(columns: keep, accumulate: false)
        let added = run(columns: nil, accumulate: true)
        for r in 0..<b {
            for c in 0..<i {
                let at = r * i + c
                if c < keep {
                    #expect(abs(some[at] - full[at]) < 1e-6, "row \(r) column \(c)")
                } else {
                    #expect(some[at] == 7, "row \(r) column \(c) is left alone")
                }
                #expect(abs(added[at] - (7 + full[at])) < 1e-5, "accumulated row \(r) column \(c)")
            }
        }
        #expect(full.contains { $0 != 7 })
    }

    /// A batch smaller than the cache's capacity (a last partial batch) gives the same bits as
    /// a cache made for exactly that batch: outputs, parameter gradients and the input
    /// gradient, expert by expert (no dropout) and layer by layer (dropout in training). The
    /// expert-major blocks sit `capacity × H` apart, so an offset taken from the batch shows.
    @Test(arguments: [MLPOptions(), MLPOptions(batchNorm: true), MLPOptions(batchNorm: true, dropout: 0.2)])
    func aPartialBatchEqualsAnExactCache(options: MLPOptions) {
        let (b, capacity, i, k, units) = (11, 16, 7, 3, [6, 4])
        var results: [[Float]] = []
        for size in [b, capacity] {
            let pair = Pair(batch: b, input: i, experts: k, units: units, options: options, seed: 75)
            var rng = SeededRandom(seed: 76)
            let x = randomBuffer(b * i, rng: &rng), dOut = randomBuffer(b * k * 4, rng: &rng)
            pair.bankContext.isTraining = true
            pair.bankContext.seed = 5
            let cache = pair.bank.makeCache(batch: size, context: pair.bankContext)
            let params = pair.bankLayout.view(pair.bankParams)
            pair.bank.forward(input: x.base, ldx: i, batch: b, params: params, cache: cache)
            let output = Self.rowMajor(cache.output, cache.outputLayout, batch: b, experts: k, width: 4)
            let dy = FloatBuffer(count: cache.outputCount), grads = FloatBuffer(count: pair.bankLayout.count)
            let dx = FloatBuffer(count: b * i), layout = cache.outputLayout
            for r in 0..<b {
                for e in 0..<k {
                    for j in 0..<4 { dy[r * layout.rowStride + e * layout.expertOffset + j] = dOut[r * k * 4 + e * 4 + j] }
                }
            }
            pair.bank.backward(dOutput: dy.base, input: x.base, ldx: i, dInput: dx.base, lddx: i, batch: b,
                               params: params, grads: pair.bankLayout.view(grads), cache: cache)
            results.append(output + grads.toArray() + dx.toArray())
        }
        #expect(results[0] == results[1])
        #expect(results[0].contains { $0 != 0 })
    }
}
