/// An element-wise activation function with a backward pass computed from its output.
///
/// ```
/// relu(x)     = max(0, x)          relu'  = 1[y > 0]
/// sigmoid(x)  = 1 / (1 + e^-x)     σ'     = y (1 - y)
/// tanh(x)                          tanh'  = 1 - y²
/// identity(x) = x                  id'    = 1
/// ```
public enum Activation: String, Sendable, Codable, CaseIterable {
    case relu, sigmoid, tanh, identity

    /// Applies the activation in place to `n` values.
    @inline(__always)
    public func forward(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        switch self {
        case .relu:
            let zero = SIMD8<Float>(repeating: 0)
            var i = 0
            while i + 8 <= n {
                let v = SIMD8<Float>.load(x + i)
                zero.replacing(with: v, where: v .> zero).store(x + i)
                i += 8
            }
            while i < n {
                let v = x[i]
                x[i] = v > 0 ? v : 0
                i += 1
            }
        case .sigmoid:
            for i in 0..<n { x[i] = ScalarMath.sigmoid(x[i]) }
        case .tanh:
            for i in 0..<n { x[i] = ScalarMath.tanh(x[i]) }
        case .identity:
            break
        }
    }

    /// Multiplies `dy` in place by the activation's derivative, given the forward output `y`.
    ///
    /// On return `dy` holds the gradient with respect to the activation's input.
    @inline(__always)
    public func backward(output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>, count n: Int) {
        switch self {
        case .relu:
            // Eight lanes at a time: the scalar select does not vectorize (it compiled to a
            // branch per element, the slowest pass of the backward step outside sgemm).
            let zero = SIMD8<Float>(repeating: 0)
            var i = 0
            while i + 8 <= n {
                let yv = SIMD8<Float>.load(y + i)
                let dv = SIMD8<Float>.load(dy + i)
                zero.replacing(with: dv, where: yv .> zero).store(dy + i)
                i += 8
            }
            while i < n {
                let d = dy[i]
                dy[i] = y[i] > 0 ? d : 0
                i += 1
            }
        case .sigmoid:
            for i in 0..<n { dy[i] *= y[i] * (1 - y[i]) }
        case .tanh:
            for i in 0..<n { dy[i] *= 1 - y[i] * y[i] }
        case .identity:
            break
        }
    }

    /// `forward` on a (M, N) block with row stride `ld`.
    @inline(__always)
    public func forward(_ x: UnsafeMutablePointer<Float>, rows m: Int, cols n: Int, ld: Int) {
        if ld == n { return forward(x, count: m * n) }
        for i in 0..<m { forward(x + i * ld, count: n) }
    }

    /// `backward` on a (M, N) block with row stride `ld`.
    @inline(__always)
    public func backward(output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>, rows m: Int,
                         cols n: Int, ld: Int) {
        if ld == n { return backward(output: y, gradient: dy, count: m * n) }
        for i in 0..<m { backward(output: y + i * ld, gradient: dy + i * ld, count: n) }
    }

    /// `backward` on a (M, N) block with row stride `ld`, adding each column's sum of the
    /// resulting gradient into `dBias` (N): the bias gradient of the layer before the
    /// activation, in the same pass over memory. Same values as `backward` followed by
    /// `Ops.addColumnSums` (the sums run in the same row order).
    @inline(__always)
    public func backward(output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>, rows m: Int,
                         cols n: Int, ld: Int, addingColumnSumsInto dBias: UnsafeMutablePointer<Float>) {
        guard self == .relu, n % 8 == 0, ld % 8 == 0 else {
            for i in 0..<m { backward(output: y + i * ld, gradient: dy + i * ld, count: n) }
            Ops.addColumnSums(dy, rows: m, cols: n, ldy: ld, into: dBias)
            return
        }
        let zero = SIMD8<Float>(repeating: 0)
        for i in 0..<m {
            let yr = y + i * ld, dr = dy + i * ld
            var j = 0
            while j < n {
                let yv = SIMD8<Float>.load(yr + j)
                let dv = zero.replacing(with: SIMD8<Float>.load(dr + j), where: yv .> zero)
                dv.store(dr + j)
                (SIMD8<Float>.load(dBias + j) + dv).store(dBias + j)
                j += 8
            }
        }
    }
}
