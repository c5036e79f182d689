import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a `gemm` operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none, transposed
}

/// General matrix multiply on row-major Float32 matrices, the only caller of the BLAS libraries'
/// products: OpenBLAS's `cblas_sgemm` (loaded on first use with the core `BLASCore` chooses),
/// or MKL's `cblas_sgemm` or `cblas_gemm_bf16bf16f32`, or oneDNN's matmul, inside `GEMMEngine.withSettings`.
///
/// ```
/// C = alpha · op(A) · op(B) + beta · C
/// op(A): (M, K)   op(B): (K, N)   C: (M, N)
/// ```
/// `lda`, `ldb`, `ldc` are the row strides of the matrices as stored.
@inline(__always)
public func gemm(
    _ transA: Transpose, _ transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    let t0 = GEMMProfile.enabled ? GEMMProfile.now() : 0
    BLASCore.ensureLoaded()
    rechub_gemm(
        transA == .none ? Int32(RECHUB_CBLAS_NO_TRANS) : Int32(RECHUB_CBLAS_TRANS),
        transB == .none ? Int32(RECHUB_CBLAS_NO_TRANS) : Int32(RECHUB_CBLAS_TRANS),
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    if GEMMProfile.enabled {
        GEMMProfile.seconds += GEMMProfile.now() - t0
        GEMMProfile.flops += 2 * Double(m) * Double(n) * Double(k)
    }
}

/// The plain triple-loop reference for `gemm` (same contract), accumulating in Double; for tests.
public func naiveGemm(
    _ transA: Transpose, _ transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let av = transA == .none ? a[i * lda + p] : a[p * lda + i]
                let bv = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                sum += Double(av) * Double(bv)
            }
            let old: Float = beta == 0 ? 0 : beta * c[i * ldc + j]
            c[i * ldc + j] = Float(Double(alpha) * sum) + old
        }
    }
}
