@testable import Training
import Kernels
import Testing

/// The vectorised Adam kernel (C, at the CPU's widest level) equals the scalar definition bit
/// for bit, on every length (the 8-lane body and the tail), with and without weight decay, and
/// on values that stress rounding (tiny, huge, zero gradients).
struct AdamKernelTests {
    @Test(arguments: [1, 7, 8, 9, 16, 63, 1000, 4099], [Float(0), 0.01])
    func vectorKernelEqualsScalarDefinition(n: Int, weightDecay: Float) {
        var rng = SeededRandom(seed: UInt64(n) &* 31 &+ (weightDecay == 0 ? 0 : 1))
        func values(_ scale: Float) -> FloatBuffer {
            FloatBuffer((0..<n).map { i in
                let x = (rng.nextFloat() - 0.5) * scale
                return i % 13 == 0 ? 0 : i % 17 == 0 ? x * 1e-30 : i % 19 == 0 ? x * 1e20 : x
            })
        }
        let p1 = values(2), g = values(1), m1 = values(0.1)
        let v1 = FloatBuffer((0..<n).map { _ in rng.nextFloat() * 0.01 })
        let p2 = FloatBuffer(count: n), m2 = FloatBuffer(count: n), v2 = FloatBuffer(count: n)
        p2.copy(from: p1); m2.copy(from: m1); v2.copy(from: v1)
        for step in 1...3 {
            let bc2 = Float((1 - Double(0.999) * Double(step)).magnitude.squareRoot())
            Adam.kernel(p: p1.base, g: g.base, m: m1.base, v: v1.base, count: n, beta1: 0.9, beta2: 0.999,
                        epsilon: 1e-8, weightDecay: weightDecay, stepSize: 1e-3, bc2Sqrt: bc2)
            Adam.scalarKernel(p: p2.base, g: g.base, m: m2.base, v: v2.base, count: n, beta1: 0.9, beta2: 0.999,
                              epsilon: 1e-8, weightDecay: weightDecay, stepSize: 1e-3, bc2Sqrt: bc2)
        }
        for i in 0..<n {
            #expect(p1[i].bitPattern == p2[i].bitPattern && m1[i].bitPattern == m2[i].bitPattern
                        && v1[i].bitPattern == v2[i].bitPattern, "element \(i) of \(n) at level \(VectorLevel.name)")
        }
    }

    /// The scattered-rows kernel of lazy embedding updates (prefetching rows ahead) equals one
    /// kernel call per row, bit for bit: rows in any order, fewer and more rows than it
    /// prefetches ahead, widths with and without a tail.
    @Test(arguments: [3, 8, 40], [1, 16, 21])
    func rowsKernelEqualsOneStepPerRow(touched: Int, dim: Int) {
        var rng = SeededRandom(seed: UInt64(touched * 100 + dim))
        let tableRows = 64
        let rows = (0..<tableRows).shuffled(using: &rng).prefix(touched).map { Int32($0) }
        let g = FloatBuffer((0..<(touched * dim)).map { _ in rng.nextFloat() - 0.5 })
        let w1 = FloatBuffer((0..<(tableRows * dim)).map { _ in rng.nextFloat() - 0.5 })
        let m1 = FloatBuffer((0..<(tableRows * dim)).map { _ in (rng.nextFloat() - 0.5) * 0.1 })
        let v1 = FloatBuffer((0..<(tableRows * dim)).map { _ in rng.nextFloat() * 0.01 })
        let (w2, m2, v2) = (FloatBuffer(count: w1.count), FloatBuffer(count: m1.count), FloatBuffer(count: v1.count))
        w2.copy(from: w1); m2.copy(from: m1); v2.copy(from: v1)
        rows.withUnsafeBufferPointer { r in
            Ops.adamRows(w: w1.base, m: m1.base, v: v1.base, rows: r.baseAddress!, g: g.base, count: touched, dim: dim,
                         beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01, stepSize: 1e-3, bc2Sqrt: 0.03)
        }
        for (k, row) in rows.enumerated() {
            let o = Int(row) * dim
            Adam.kernel(p: w2.base + o, g: g.base + k * dim, m: m2.base + o, v: v2.base + o, count: dim, beta1: 0.9,
                        beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01, stepSize: 1e-3, bc2Sqrt: 0.03)
        }
        #expect(w1.toArray().map(\.bitPattern) == w2.toArray().map(\.bitPattern)
                && m1.toArray().map(\.bitPattern) == m2.toArray().map(\.bitPattern)
                && v1.toArray().map(\.bitPattern) == v2.toArray().map(\.bitPattern), "\(touched) rows of \(dim)")
    }
}
