/// Small row-major kernels the layers share: bias add, bias gradient, softmax, copies.
public enum Ops {
    /// Adds the row vector `bias` (N) to every row of `x` (M, N) with row stride `ldx`.
    @inline(__always)
    public static func addRowVector(_ x: UnsafeMutablePointer<Float>, rows m: Int, cols n: Int, ldx: Int,
                                    bias: UnsafePointer<Float>) {
        for i in 0..<m {
            let row = x + i * ldx
            for j in 0..<n { row[j] += bias[j] }
        }
    }

    /// Writes the row vector `bias` (N) into every row of `y` (M, N) with row stride `ldy`: the
    /// starting value of a product taken with beta = 1, which adds the bias in the GEMM's own
    /// pass over the output instead of a pass of its own.
    @inline(__always)
    public static func broadcastRows(_ bias: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows m: Int,
                                     cols n: Int, ldy: Int) {
        for i in 0..<m { (y + i * ldy).update(from: bias, count: n) }
    }

    /// Adds the column sums of `dy` (M, N) into `dBias` (N).
    ///
    /// ```
    /// dBias[j] += Σ_i dy[i, j]
    /// ```
    @inline(__always)
    public static func addColumnSums(_ dy: UnsafePointer<Float>, rows m: Int, cols n: Int, ldy: Int,
                                     into dBias: UnsafeMutablePointer<Float>) {
        for i in 0..<m {
            let row = dy + i * ldy
            for j in 0..<n { dBias[j] += row[j] }
        }
    }

    /// Softmax of each row of `x` (M, N) in place, stable against overflow.
    ///
    /// ```
    /// softmax(x)_j = e^(x_j - max x) / Σ_k e^(x_k - max x)
    /// ```
    @inline(__always)
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows m: Int, cols n: Int) {
        for i in 0..<m {
            let row = x + i * n
            var mx = row[0]
            for j in 1..<n where row[j] > mx { mx = row[j] }
            var sum: Float = 0
            for j in 0..<n {
                let e = ScalarMath.exp(row[j] - mx)
                row[j] = e
                sum += e
            }
            let inv = 1 / sum
            for j in 0..<n { row[j] *= inv }
        }
    }

    /// Softmax backward for each row, in place: turns `dy` into the gradient of the logits.
    ///
    /// ```
    /// dx_j = y_j (dy_j - Σ_k y_k dy_k)
    /// ```
    @inline(__always)
    public static func softmaxRowsBackward(output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>,
                                           rows m: Int, cols n: Int) {
        for i in 0..<m {
            let yr = y + i * n
            let dr = dy + i * n
            var dot: Float = 0
            for j in 0..<n { dot += yr[j] * dr[j] }
            for j in 0..<n { dr[j] = yr[j] * (dr[j] - dot) }
        }
    }

    /// Copies a (M, N) block between buffers with different row strides.
    @inline(__always)
    public static func copyBlock(from src: UnsafePointer<Float>, lds: Int, to dst: UnsafeMutablePointer<Float>, ldd: Int,
                                 rows m: Int, cols n: Int) {
        for i in 0..<m { (dst + i * ldd).update(from: src + i * lds, count: n) }
    }

    /// y += a · x over `n` values.
    @inline(__always)
    public static func axpy(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<n { y[i] += a * x[i] }
    }

    /// Σ x_i y_i over `n` values, accumulated in Double.
    @inline(__always)
    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Double {
        var s = 0.0
        for i in 0..<n { s += Double(x[i]) * Double(y[i]) }
        return s
    }

    /// The sum of squares of `n` values, accumulated in Double.
    @inline(__always)
    public static func sumOfSquares(_ n: Int, _ x: UnsafePointer<Float>) -> Double {
        var s = 0.0
        for i in 0..<n { s += Double(x[i]) * Double(x[i]) }
        return s
    }
}
