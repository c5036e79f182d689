import Kernels
@testable import Layers
import TestSupport
import Testing

/// `BatchNorm`'s passes in C (`CKernels`, at the CPU's widest vector level) equal the Swift
/// SIMD8 loops they replaced bit for bit: every output (y, x̂, 1/√(σ² + ε), running statistics,
/// dx, dγ, dβ, the fused dBias), in training and inference, with and without ReLU, on widths
/// that exercise the 8-lane body and the tail (C = 1, 13, 203, 2048) and block counts of 1 to
/// 32 (B = 1, 2, 33, 1024). No tolerance: same IEEE operations in the same order.
struct BatchNormKernelTests {
    static let shapes: [(batch: Int, width: Int)] = [(2, 13), (1, 8), (2, 1), (33, 1), (1024, 203), (37, 2048),
                                                     (1024, 2048)]

    @Test(arguments: shapes, [Activation.identity, .relu, .tanh])
    func passesEqualTheSwiftReference(shape: (batch: Int, width: Int), activation: Activation) {
        let (b, c) = shape
        var rng = SeededRandom(seed: UInt64(b &* 7919 &+ c) &* 3 &+ UInt64(activation == .relu ? 1 : 0))
        let layout = ParameterLayout(numTasks: 1)
        let bn = BatchNorm("bn", width: c, role: .shared, layout: layout)
        let context = ForwardContext()
        let params = context.finalize(layout)
        let pv = layout.view(params)
        // γ and β around 1 and 0 with exact zeros, so that some ReLU inputs are exactly 0.
        for j in 0..<c {
            pv[bn.gamma][j] = j % 5 == 0 ? 0 : 1 + (rng.nextFloat() - 0.5)
            pv[bn.beta][j] = j % 3 == 0 ? 0 : rng.nextFloat() - 0.5
        }
        // Columns with their own offset and scale (the shift matters); a constant column.
        let input = FloatBuffer((0..<b * c).map { k in
            let j = k % c
            return j % 7 == 6 ? 3 : Float(j % 11) * 10 + (rng.nextFloat() - 0.5) * Float(1 + j % 4)
        })
        let upstream = FloatBuffer((0..<b * c).map { _ in rng.nextFloat() - 0.5 })
        let state = FloatBuffer(count: context.state.count)
        state.copy(from: context.state)
        let rm = state.base + context.stateOffset(bn.runningMean), rv = state.base + context.stateOffset(bn.runningVar)

        // Training forward.
        context.isTraining = true
        let x1 = FloatBuffer(count: b * c), x2 = FloatBuffer(count: b * c)
        x1.copy(from: input); x2.copy(from: input)
        let h1 = FloatBuffer(count: b * c), h2 = FloatBuffer(count: b * c)
        let s1 = FloatBuffer(count: c), s2 = FloatBuffer(count: c)
        let scratch1 = BatchNormScratch(width: c), scratch2 = BatchNormScratch(width: c)
        bn.forward(x1.base, batch: b, xhat: h1.base, invStd: s1.base, params: pv, context: context, scratch: scratch1,
                   activation: activation)
        ReferenceBatchNorm.forward(x2.base, batch: b, width: c, xhat: h2.base, invStd: s2.base, gamma: pv[bn.gamma],
                                   beta: pv[bn.beta], rm: rm, rv: rv, training: true, scratch: scratch2,
                                   activation: activation)
        expectSameBits(x1, x2, "y (training)", shape, activation)
        expectSameBits(h1, h2, "x̂", shape, activation)
        expectSameBits(s1, s2, "1/√(σ² + ε)", shape, activation)
        expectSameBits(context.state, state, "running statistics", shape, activation)

        // Backward: parameter gradients with and without the fused dBias, then dx alone.
        for (withBias, parameterGradients) in [(false, true), (true, true), (true, false)] {
            let grads1 = FloatBuffer(count: layout.count), grads2 = FloatBuffer(count: layout.count)
            let gv1 = layout.view(grads1), gv2 = layout.view(grads2)
            for j in 0..<c { gv1[bn.gamma][j] = 0.25; gv1[bn.beta][j] = -0.5 }
            grads2.copy(from: grads1)
            let bias1 = FloatBuffer((0..<c).map { Float($0) * 0.125 }), bias2 = FloatBuffer(count: c)
            bias2.copy(from: bias1)
            let d1 = FloatBuffer(count: b * c), d2 = FloatBuffer(count: b * c)
            d1.copy(from: upstream); d2.copy(from: upstream)
            bn.backward(d1.base, batch: b, xhat: h1.base, invStd: s1.base, params: pv, grads: gv1, scratch: scratch1,
                        activation: activation, output: x1.base, dBias: withBias ? bias1.base : nil,
                        parameterGradients: parameterGradients)
            ReferenceBatchNorm.backward(d2.base, batch: b, width: c, xhat: h2.base, invStd: s2.base,
                                        gamma: pv[bn.gamma], beta: pv[bn.beta], dGamma: gv2[bn.gamma],
                                        dBeta: gv2[bn.beta], scratch: scratch2, activation: activation,
                                        output: x2.base, dBias: withBias ? bias2.base : nil,
                                        parameterGradients: parameterGradients)
            let what = "dBias \(withBias), parameterGradients \(parameterGradients)"
            expectSameBits(d1, d2, "dx, \(what)", shape, activation)
            expectSameBits(grads1, grads2, "dγ, dβ, \(what)", shape, activation)
            expectSameBits(bias1, bias2, "dBias, \(what)", shape, activation)
        }

        // Inference forward, on the running statistics the training pass left.
        context.isTraining = false
        x1.copy(from: input); x2.copy(from: input)
        bn.forward(x1.base, batch: b, xhat: h1.base, invStd: s1.base, params: pv, context: context, scratch: scratch1,
                   activation: activation)
        ReferenceBatchNorm.forward(x2.base, batch: b, width: c, xhat: h2.base, invStd: s2.base, gamma: pv[bn.gamma],
                                   beta: pv[bn.beta], rm: rm, rv: rv, training: false, scratch: scratch2,
                                   activation: activation)
        expectSameBits(x1, x2, "y (inference)", shape, activation)
    }

    func expectSameBits(_ a: FloatBuffer, _ b: FloatBuffer, _ what: String, _ shape: (batch: Int, width: Int),
                        _ activation: Activation) {
        let first = (0..<a.count).first { a[$0].bitPattern != b[$0].bitPattern }
        #expect(first == nil, "\(what): element \(first ?? 0) is \(a[first ?? 0]), reference \(b[first ?? 0]) (B \(shape.batch), C \(shape.width), \(activation), level \(VectorLevel.name))")
    }
}

/// `BatchNorm`'s forward and backward as they were in Swift (SIMD8 loops) before the passes
/// moved to C: the reference the C passes must equal bit for bit.
enum ReferenceBatchNorm {
    typealias V = SIMD8<Float>
    static let block = 32

    static func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, width c: Int, xhat: UnsafeMutablePointer<Float>,
                        invStd: UnsafeMutablePointer<Float>, gamma g: UnsafePointer<Float>, beta bt: UnsafePointer<Float>,
                        rm: UnsafeMutablePointer<Float>, rv: UnsafeMutablePointer<Float>, training: Bool,
                        scratch: BatchNormScratch, activation: Activation) {
        if training {
            let mean = scratch.a, shift = scratch.b
            let sums = scratch.sums, squares = scratch.sums + c
            for j in 0..<c { shift[j] = x[j] }
            shiftedMoments(x, shift: shift, rows: batch, cols: c, sums: sums, squares: squares, accA: mean, accB: scratch.c)
            let n = Double(batch)
            for j in 0..<c {
                let d = sums[j] / n
                mean[j] = Float(Double(shift[j]) + d)
                let variance = max(squares[j] / n - d * d, 0)
                invStd[j] = Float(1 / (variance + Double(BatchNorm.epsilon)).squareRoot())
                rm[j] = (1 - BatchNorm.momentum) * rm[j] + BatchNorm.momentum * mean[j]
                let unbiased = batch > 1 ? variance * Double(batch) / Double(batch - 1) : variance
                rv[j] = (1 - BatchNorm.momentum) * rv[j] + BatchNorm.momentum * Float(unbiased)
            }
            let relu = activation == .relu
            let zero = V(repeating: 0)
            for i in 0..<batch {
                let xr = x + i * c, hr = xhat + i * c
                var j = 0
                while j + 8 <= c {
                    let h = (V.load(xr + j) - V.load(mean + j)) * V.load(invStd + j)
                    h.store(hr + j)
                    let y = V.load(g + j) * h + V.load(bt + j)
                    (relu ? zero.replacing(with: y, where: y .> zero) : y).store(xr + j)
                    j += 8
                }
                while j < c {
                    let h = (xr[j] - mean[j]) * invStd[j]
                    hr[j] = h
                    let y = g[j] * h + bt[j]
                    xr[j] = relu ? (y > 0 ? y : 0) : y
                    j += 1
                }
            }
            if !relu { activation.forward(x, count: batch * c) }
        } else {
            let inverse = scratch.b
            for j in 0..<c { inverse[j] = 1 / (rv[j] + BatchNorm.epsilon).squareRoot() }
            for i in 0..<batch {
                let xr = x + i * c
                var j = 0
                while j + 8 <= c {
                    (V.load(g + j) * (V.load(xr + j) - V.load(rm + j)) * V.load(inverse + j) + V.load(bt + j)).store(xr + j)
                    j += 8
                }
                while j < c {
                    xr[j] = g[j] * (xr[j] - rm[j]) * inverse[j] + bt[j]
                    j += 1
                }
            }
            activation.forward(x, count: batch * c)
        }
    }

    static func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, width c: Int, xhat: UnsafePointer<Float>,
                         invStd: UnsafePointer<Float>, gamma g: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                         dGamma dg: UnsafeMutablePointer<Float>, dBeta db: UnsafeMutablePointer<Float>,
                         scratch: BatchNormScratch, activation: Activation, output y: UnsafePointer<Float>?,
                         dBias: UnsafeMutablePointer<Float>?, parameterGradients: Bool) {
        let dBias = parameterGradients ? dBias : nil
        let n = Float(batch)
        let sums = scratch.sums, sumsX = scratch.sums + c
        if let y, activation != .relu { activation.backward(output: y, gradient: dy, count: batch * c) }
        sumsOfGradients(dy, xhat: xhat, relu: activation == .relu ? (g, beta) : nil, rows: batch, cols: c, sums: sums,
                        sumsTimesXhat: sumsX, accA: scratch.a, accB: scratch.b)
        let k = scratch.a, sumDy = scratch.b, sumDyX = scratch.c
        for j in 0..<c {
            sumDy[j] = Float(sums[j])
            sumDyX[j] = Float(sumsX[j])
            if parameterGradients {
                dg[j] += sumDyX[j]
                db[j] += sumDy[j]
            }
            k[j] = g[j] * invStd[j] / n
        }
        let nv = V(repeating: n)
        for i in 0..<batch {
            let dr = dy + i * c, hr = xhat + i * c
            var j = 0
            while j + 8 <= c {
                let d = V.load(k + j) * (nv * V.load(dr + j) - V.load(sumDy + j) - V.load(hr + j) * V.load(sumDyX + j))
                d.store(dr + j)
                if let dBias { (V.load(dBias + j) + d).store(dBias + j) }
                j += 8
            }
            while j < c {
                dr[j] = k[j] * (n * dr[j] - sumDy[j] - hr[j] * sumDyX[j])
                dBias?[j] += dr[j]
                j += 1
            }
        }
    }

    @inline(__always)
    static func blockSums(rows: Int, cols c: Int, sumsA: UnsafeMutablePointer<Double>, sumsB: UnsafeMutablePointer<Double>,
                          accA: UnsafeMutablePointer<Float>, accB: UnsafeMutablePointer<Float>, addRow: (Int) -> Void) {
        sumsA.update(repeating: 0, count: c)
        sumsB.update(repeating: 0, count: c)
        var i0 = 0
        while i0 < rows {
            let i1 = min(i0 + block, rows)
            accA.update(repeating: 0, count: c)
            accB.update(repeating: 0, count: c)
            for i in i0..<i1 { addRow(i) }
            for j in 0..<c {
                sumsA[j] += Double(accA[j])
                sumsB[j] += Double(accB[j])
            }
            i0 = i1
        }
    }

    static func shiftedMoments(_ x: UnsafePointer<Float>, shift: UnsafePointer<Float>, rows: Int, cols c: Int,
                               sums: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>,
                               accA: UnsafeMutablePointer<Float>, accB: UnsafeMutablePointer<Float>) {
        blockSums(rows: rows, cols: c, sumsA: sums, sumsB: squares, accA: accA, accB: accB) { i in
            let xr = x + i * c
            var j = 0
            while j + 8 <= c {
                let d = V.load(xr + j) - V.load(shift + j)
                (V.load(accA + j) + d).store(accA + j)
                (V.load(accB + j) + d * d).store(accB + j)
                j += 8
            }
            while j < c {
                let d = xr[j] - shift[j]
                accA[j] += d
                accB[j] += d * d
                j += 1
            }
        }
    }

    static func sumsOfGradients(_ dy: UnsafeMutablePointer<Float>, xhat: UnsafePointer<Float>,
                                relu: (gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>)?, rows: Int, cols c: Int,
                                sums: UnsafeMutablePointer<Double>, sumsTimesXhat: UnsafeMutablePointer<Double>,
                                accA: UnsafeMutablePointer<Float>, accB: UnsafeMutablePointer<Float>) {
        let zero = V(repeating: 0)
        blockSums(rows: rows, cols: c, sumsA: sums, sumsB: sumsTimesXhat, accA: accA, accB: accB) { i in
            let dr = dy + i * c, hr = xhat + i * c
            var j = 0
            while j + 8 <= c {
                var d = V.load(dr + j)
                let h = V.load(hr + j)
                if let relu {
                    d = zero.replacing(with: d, where: V.load(relu.gamma + j) * h + V.load(relu.beta + j) .> zero)
                    d.store(dr + j)
                }
                (V.load(accA + j) + d).store(accA + j)
                (V.load(accB + j) + d * h).store(accB + j)
                j += 8
            }
            while j < c {
                if let relu, !(relu.gamma[j] * hr[j] + relu.beta[j] > 0) { dr[j] = 0 }
                accA[j] += dr[j]
                accB[j] += dr[j] * hr[j]
                j += 1
            }
        }
    }
}
