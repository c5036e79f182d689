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
}
