#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scalar math used by the kernels, in one place so that the platform's libm is named once.
public enum ScalarMath {
    /// e^x in Float32.
    @inline(__always) public static func exp(_ x: Float) -> Float { expf(x) }
    /// Natural logarithm in Float32.
    @inline(__always) public static func log(_ x: Float) -> Float { logf(x) }
    /// log(1 + x) in Float32, accurate near zero.
    @inline(__always) public static func log1p(_ x: Float) -> Float { log1pf(x) }
    /// Hyperbolic tangent in Float32.
    @inline(__always) public static func tanh(_ x: Float) -> Float { tanhf(x) }
    /// e^x in Float64.
    @inline(__always) public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    /// Natural logarithm in Float64.
    @inline(__always) public static func log(_ x: Double) -> Double { Glibc.log(x) }
    /// log(1 + x) in Float64.
    @inline(__always) public static func log1p(_ x: Double) -> Double { Glibc.log1p(x) }

    /// The logistic function, computed without overflow for any finite input.
    ///
    /// ```
    /// σ(x) = 1 / (1 + e^-x)        for x ≥ 0
    ///      = e^x / (1 + e^x)       for x < 0
    /// ```
    @inline(__always) public static func sigmoid(_ x: Float) -> Float {
        if x >= 0 {
            return 1 / (1 + expf(-x))
        } else {
            let e = expf(x)
            return e / (1 + e)
        }
    }
}
