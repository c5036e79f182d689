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
            for i in 0..<n { x[i] = x[i] > 0 ? x[i] : 0 }
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
            for i in 0..<n { dy[i] = y[i] > 0 ? dy[i] : 0 }
        case .sigmoid:
            for i in 0..<n { dy[i] *= y[i] * (1 - y[i]) }
        case .tanh:
            for i in 0..<n { dy[i] *= 1 - y[i] * y[i] }
        case .identity:
            break
        }
    }
}
