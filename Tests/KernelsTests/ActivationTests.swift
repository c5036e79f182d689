import Kernels
import TestSupport
import Testing

/// Each activation's backward against central differences of its forward.
struct ActivationTests {
    @Test(arguments: Activation.allCases)
    func backwardMatchesFiniteDifferences(activation: Activation) {
        var rng = SeededRandom(seed: 11)
        let n = 64
        // Keep inputs away from relu's kink at 0 by more than h.
        let x = randomBuffer(n, scale: 3, rng: &rng)
        for i in 0..<n where abs(x[i]) < 0.05 { x[i] = 0.5 }
        let r = randomBuffer(n, rng: &rng)
        let y = FloatBuffer(count: n)
        func loss() -> Double {
            y.copy(from: x)
            activation.forward(y.base, count: n)
            return Ops.dot(n, y.base, r.base)
        }
        _ = loss()
        let dy = FloatBuffer(count: n)
        dy.copy(from: r)
        activation.backward(output: y.base, gradient: dy.base, count: n)
        let check = checkGradient(parameters: x.base, indices: Array(0..<n), analytic: { dy[$0] }, h: 1e-2, loss: loss)
        // Central differences in Float32 with h = 1e-2: truncation ~h²·|f'''| ≈ 1e-4, rounding ~1e-5.
        #expect(check.relativeError < 1e-3, "\(activation): \(check)")
    }

    @Test func specialValues() {
        let x = FloatBuffer([-Float.infinity, -100, 0, 100, .infinity])
        Activation.sigmoid.forward(x.base, count: 5)
        #expect(x.toArray() == [0, 0, 0.5, 1, 1] || abs(x[1]) < 1e-30)
        #expect(ScalarMath.sigmoid(-1000) == 0 && ScalarMath.sigmoid(1000) == 1)
        let r = FloatBuffer([-1, 0, 2])
        Activation.relu.forward(r.base, count: 3)
        #expect(r.toArray() == [0, 0, 2])
    }
}
