import Kernels
import TestSupport
import Testing

/// cblas_sgemm through `gemm` against the triple-loop reference, over shapes and transposes.
struct GEMMTests {
    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (3, 5, 7), (17, 1, 33), (64, 10, 376), (128, 96, 65)]

    @Test(arguments: shapes, [Transpose.none, .transposed])
    func matchesNaiveReference(shape: (Int, Int, Int), transA: Transpose) {
        let (m, n, k) = shape
        var rng = SeededRandom(seed: UInt64(m * 1000 + n * 10 + k))
        for transB in [Transpose.none, .transposed] {
            let a = randomBuffer(m * k, rng: &rng)
            let b = randomBuffer(k * n, rng: &rng)
            let c1 = randomBuffer(m * n, rng: &rng)
            let c2 = FloatBuffer(count: m * n)
            c2.copy(from: c1)
            let lda = transA == .none ? k : m
            let ldb = transB == .none ? n : k
            gemm(transA, transB, m: m, n: n, k: k, alpha: 0.5, a: a.base, lda: lda, b: b.base, ldb: ldb,
                 beta: 0.25, c: c1.base, ldc: n)
            naiveGemm(transA, transB, m: m, n: n, k: k, alpha: 0.5, a: a.base, lda: lda, b: b.base, ldb: ldb,
                      beta: 0.25, c: c2.base, ldc: n)
            // Float32 sums of k products of magnitude ≤ 1: rounding ≤ k·eps ≈ 376 · 1.2e-7 ≈ 5e-5.
            for i in 0..<(m * n) {
                #expect(abs(c1[i] - c2[i]) <= 1e-4 * Float(max(k, 1)).squareRoot() + 5e-5,
                        "C[\(i)] \(c1[i]) vs \(c2[i]) for \(m)x\(n)x\(k) \(transA) \(transB)")
            }
        }
    }

    @Test func stridedSubmatrices() {
        // C's columns 2..<5 of a wider buffer, from A's columns 1..<4: exercises lda/ldc.
        var rng = SeededRandom(seed: 7)
        let a = randomBuffer(6 * 8, rng: &rng)
        let b = randomBuffer(3 * 3, rng: &rng)
        let c1 = FloatBuffer(count: 6 * 9)
        let c2 = FloatBuffer(count: 6 * 9)
        gemm(.none, .none, m: 6, n: 3, k: 3, a: a.base + 1, lda: 8, b: b.base, ldb: 3, beta: 0, c: c1.base + 2, ldc: 9)
        naiveGemm(.none, .none, m: 6, n: 3, k: 3, a: a.base + 1, lda: 8, b: b.base, ldb: 3, beta: 0, c: c2.base + 2, ldc: 9)
        for i in 0..<(6 * 9) { #expect(abs(c1[i] - c2[i]) < 1e-5) }
        #expect(c1[0] == 0 && c1[1] == 0, "columns outside the block stay untouched")
    }

    /// The test bundle runs BLAS on one thread from the start (Tests/MallocCounter/
    /// SingleThreadBLAS.c: concurrent tests must not share a multi-threaded OpenBLAS), and
    /// the count can be set; it is put back to 1, never left higher for other tests.
    @Test func blasThreadCountCanBeSet() {
        #expect(BLASThreads.current == 1, "the bundle starts with one BLAS thread")
        BLASThreads.set(1)
        #expect(BLASThreads.current == 1)
    }
}
