import Kernels
import TestSupport
import Testing

/// Softmax, bias and block kernels.
struct ElementwiseOpsTests {
    @Test func softmaxRowsSumToOneAndResistOverflow() {
        let x = FloatBuffer([1000, 1001, 1002, -5, 0, 5])
        Ops.softmaxRows(x.base, rows: 2, cols: 3)
        for r in 0..<2 {
            let s = (0..<3).reduce(Float(0)) { $0 + x[r * 3 + $1] }
            #expect(abs(s - 1) < 1e-6)
        }
        #expect(x[2] > x[1] && x[1] > x[0] && x.toArray().allSatisfy { $0.isFinite })
    }

    @Test func softmaxBackwardMatchesFiniteDifferences() {
        var rng = SeededRandom(seed: 3)
        let m = 5, n = 4
        let x = randomBuffer(m * n, scale: 2, rng: &rng)
        let r = randomBuffer(m * n, rng: &rng)
        let y = FloatBuffer(count: m * n)
        func loss() -> Double {
            y.copy(from: x)
            Ops.softmaxRows(y.base, rows: m, cols: n)
            return Ops.dot(m * n, y.base, r.base)
        }
        _ = loss()
        let dy = FloatBuffer(count: m * n)
        dy.copy(from: r)
        Ops.softmaxRowsBackward(output: y.base, gradient: dy.base, rows: m, cols: n)
        let check = checkGradient(parameters: x.base, indices: Array(0..<(m * n)), analytic: { dy[$0] }, loss: loss)
        #expect(check.relativeError < 1e-3, "\(check)")
    }

    @Test func biasAndColumnSums() {
        let x = FloatBuffer([1, 2, 3, 4, 5, 6])
        let b = FloatBuffer([10, 20, 30])
        Ops.addRowVector(x.base, rows: 2, cols: 3, ldx: 3, bias: b.base)
        #expect(x.toArray() == [11, 22, 33, 14, 25, 36])
        let d = FloatBuffer(count: 3)
        Ops.addColumnSums(x.base, rows: 2, cols: 3, ldy: 3, into: d.base)
        #expect(d.toArray() == [25, 47, 69])
    }
}
