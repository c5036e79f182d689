import Kernels
import TestSupport
import Foundation
import Testing

/// Binary cross-entropy on logits and squared error: values and gradients.
struct LossesTests {
    @Test func bceMatchesDirectFormulaAndIsStable() {
        // Column 1 of a (3, 2) matrix.
        let z = FloatBuffer([0, 0.3, 0, -2, 0, 50])
        let y = FloatBuffer([0, 1, 0, 0, 0, 1])
        let dz = FloatBuffer(count: 6)
        let sum = Losses.binaryCrossEntropyWithLogits(logits: z.base, labels: y.base, dLogits: dz.base,
                                                      batch: 3, tasks: 2, task: 1, scale: 1)
        func direct(_ z: Double, _ y: Double) -> Double {
            let p = 1 / (1 + exp(-z))
            return -(y * log(p) + (1 - y) * log(1 - p))
        }
        let expected = direct(0.3, 1) + direct(-2, 0) + 1.9287498479639178e-22  // log(1+e^-50) for z=50,y=1
        #expect(abs(sum - expected) < 1e-6)
        #expect(abs(dz[1] - Float(1 / (1 + exp(-0.3)) - 1)) < 1e-6)
        #expect(dz[0] == 0, "other columns untouched")
        // Extreme logits stay finite.
        let zx = FloatBuffer([1e4, -1e4])
        let yx = FloatBuffer([0, 1])
        let dx = FloatBuffer(count: 2)
        let big = Losses.binaryCrossEntropyWithLogits(logits: zx.base, labels: yx.base, dLogits: dx.base,
                                                      batch: 2, tasks: 1, task: 0, scale: 1)
        #expect(abs(big - 2e4) < 1 && dx[0] == 1 && dx[1] == -1)
    }

    @Test func gradientsMatchFiniteDifferences() {
        var rng = SeededRandom(seed: 5)
        let b = 16
        let z = randomBuffer(b, scale: 3, rng: &rng)
        let y = FloatBuffer((0..<b).map { _ in rng.nextFloat() < 0.3 ? 1 : 0 })
        let dz = FloatBuffer(count: b)
        for regression in [false, true] {
            func loss() -> Double {
                regression
                    ? Losses.squaredError(outputs: z.base, labels: y.base, dOutputs: dz.base, batch: b, tasks: 1, task: 0, scale: 0.5)
                    : Losses.binaryCrossEntropyWithLogits(logits: z.base, labels: y.base, dLogits: dz.base,
                                                          batch: b, tasks: 1, task: 0, scale: 0.5)
            }
            _ = loss()
            let analytic = dz.toArray().map { $0 * 2 }  // scale 0.5 applied to the gradient only
            let check = checkGradient(parameters: z.base, indices: Array(0..<b), analytic: { analytic[$0] }, loss: loss)
            #expect(check.relativeError < 1e-3, "regression \(regression): \(check)")
        }
    }
}
