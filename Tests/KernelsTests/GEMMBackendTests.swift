import Foundation
import Kernels
import TestSupport
import Testing

/// The backend and precision choice (pure parts), and bf16 rounding.
struct GEMMBackendTests {
    static let avx512: CPUFeatures = {
        var f = CPUFeatures(vendor: "GenuineIntel", family: 6, model: 85, avx2: true, fma: true)
        (f.avx512F, f.avx512BW, f.avx512DQ, f.avx512VL, f.avx512CD, f.osAVX, f.osAVX512) = (true, true, true, true, true, true, true)
        return f
    }()

    @Test func whichSettingsRunOnWhichCPU() throws {
        var zen4 = Self.avx512
        zen4.avx512BF16 = true
        var sapphire = Self.avx512
        (sapphire.avx512BF16, sapphire.amxTile, sapphire.amxBF16) = (true, true, true)
        var noOSState = zen4
        noOSState.osAVX512 = false
        let old = CPUFeatures(vendor: "GenuineIntel", family: 6, model: 63, avx2: true, fma: true)
        // fp32 runs everywhere, on every backend.
        for f in [Self.avx512, zen4, sapphire, old] {
            for backend in GEMMBackend.allCases { try GEMMEngine.check(backend: backend, precision: .fp32, features: f) }
        }
        // bf16: oneDNN or MKL on a CPU with AMX-BF16 or AVX512_BF16 (with the OS saving ZMM state).
        for backend in [GEMMBackend.onednn, .mkl] {
            try GEMMEngine.check(backend: backend, precision: .bf16, features: zen4)
            try GEMMEngine.check(backend: backend, precision: .bf16, features: sapphire)
            for f in [Self.avx512, old, noOSState] {
                let e = #expect(throws: GEMMBackendError.self) { try GEMMEngine.check(backend: backend, precision: .bf16, features: f) }
                #expect(e?.message.contains("AMX-BF16 or AVX512_BF16") == true, "\(String(describing: e))")
            }
        }
        let e = #expect(throws: GEMMBackendError.self) { try GEMMEngine.check(backend: .openblas, precision: .bf16, features: sapphire) }
        #expect(e?.message.contains("needs gemm_backend: onednn or mkl") == true)
    }

    @Test func mklIsLookedForInTheDocumentedOrder() {
        let env = ["RECHUB_MKL_LIBRARY": "/env/lib", "HOME": "/home/u", "VIRTUAL_ENV": "/venv", "CONDA_PREFIX": ""]
        // A place the user names is the only one tried, and named in errors.
        let explicit = GEMMEngine.libraryCandidates(.mkl, explicit: "/opt/mkl/libmkl_rt.so.2", environment: env)
        #expect(explicit.paths == ["/opt/mkl/libmkl_rt.so.2"] && explicit.named == "mkl_library (/opt/mkl/libmkl_rt.so.2)")
        let fromEnv = GEMMEngine.libraryCandidates(.mkl, explicit: nil, environment: env)
        #expect(fromEnv.named == "RECHUB_MKL_LIBRARY (/env/lib)")
        #expect(fromEnv.paths == ["/env/lib/libmkl_rt.so.3", "/env/lib/libmkl_rt.so.2", "/env/lib/libmkl_rt.so",
                                  "/env/lib/lib/libmkl_rt.so.3", "/env/lib/lib/libmkl_rt.so.2", "/env/lib/lib/libmkl_rt.so"])
        // Otherwise: setup_mkl.sh's folder, the active virtualenv (an empty CONDA_PREFIX adds
        // nothing), then the loader's path.
        var searched = env
        searched["RECHUB_MKL_LIBRARY"] = ""
        let c = GEMMEngine.libraryCandidates(.mkl, explicit: "", environment: searched)
        #expect(c.named == nil)
        let order = ["/home/u/.local/share/rechub/mkl/lib/libmkl_rt.so.3", "/venv/lib/libmkl_rt.so.3", "libmkl_rt.so.3"]
        let positions = order.map { c.paths.firstIndex(of: $0) }
        #expect(positions.allSatisfy { $0 != nil } && positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "\(c)")
        #expect(Set(c.paths).count == c.paths.count && !c.paths.contains { $0.hasPrefix("/lib/") }, "\(c)")
        let home = GEMMEngine.libraryCandidates(.mkl, explicit: nil, environment: ["RECHUB_MKL_HOME": "/srv/mkl", "HOME": "/home/u"])
        #expect(home.paths.first == "/srv/mkl/lib/libmkl_rt.so.3" && !home.paths.contains { $0.hasPrefix("/home/u") }, "\(home)")
        #expect(GEMMEngine.libraryCandidates(.mkl, explicit: nil, environment: [:]).paths == ["libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"])
    }

    /// oneDNN's places follow the same order under its own names; OpenBLAS has none (BLASCore).
    @Test func oneDNNIsLookedForInTheSameOrderUnderItsNames() {
        let env = ["RECHUB_MKL_LIBRARY": "/mkl", "RECHUB_ONEDNN_HOME": "/srv/dnnl", "HOME": "/home/u", "VIRTUAL_ENV": "/venv"]
        let c = GEMMEngine.libraryCandidates(.onednn, explicit: nil, environment: env)
        #expect(c.named == nil)
        #expect(c.paths == ["/srv/dnnl/lib/libdnnl.so.3", "/srv/dnnl/lib/libdnnl.so", "/venv/lib/libdnnl.so.3",
                            "/venv/lib/libdnnl.so", "libdnnl.so.3", "libdnnl.so"], "\(c)")
        let named = GEMMEngine.libraryCandidates(.onednn, explicit: "~/dnnl", environment: env)
        #expect(named.named == "onednn_library (~/dnnl)" && named.paths.first == "/home/u/dnnl/libdnnl.so.3", "\(named)")
        let fromEnv = GEMMEngine.libraryCandidates(.onednn, explicit: nil, environment: ["RECHUB_ONEDNN_LIBRARY": "/x/libdnnl.so.3"])
        #expect(fromEnv.paths == ["/x/libdnnl.so.3"] && fromEnv.named == "RECHUB_ONEDNN_LIBRARY (/x/libdnnl.so.3)")
        let home = GEMMEngine.libraryCandidates(.onednn, explicit: nil, environment: ["HOME": "/home/u"])
        #expect(home.paths.first == "/home/u/.local/share/rechub/onednn/lib/libdnnl.so.3", "\(home)")
        #expect(GEMMEngine.libraryCandidates(.openblas, explicit: "/x", environment: env).paths.isEmpty)
        // A relative place (a bare file name too) is the current folder's, not the loader's
        // search; `~` in the setup folder's variable is the home folder.
        let bare = GEMMEngine.libraryCandidates(.onednn, explicit: "libdnnl.so.3", environment: env, currentDirectory: "/work")
        #expect(bare.paths == ["/work/libdnnl.so.3"], "\(bare)")
        let relative = GEMMEngine.libraryCandidates(.mkl, explicit: nil, environment: ["RECHUB_MKL_LIBRARY": "../mkl/lib"],
                                                    currentDirectory: "/work/run/")
        #expect(relative.paths.first == "/work/run/../mkl/lib/libmkl_rt.so.3", "\(relative)")
        let tilde = GEMMEngine.libraryCandidates(.onednn, explicit: nil, environment: ["RECHUB_ONEDNN_HOME": "~/dnnl", "HOME": "/home/u"])
        #expect(tilde.paths.first == "/home/u/dnnl/lib/libdnnl.so.3", "\(tilde)")
    }

    /// Nearest bf16 (8 significant bits), ties to even; NaN and infinities kept, overflow to ∞.
    @Test func roundingToBF16() {
        let u: Float = 1.0 / 256  // half the spacing of bf16 at 1
        let cases: [(Float, Float)] = [
            (1, 1), (1 + u, 1), (1 + 3 * u, 1 + 4 * u), (1 + 1.5 * u, 1 + 2 * u), (-(1 + u * 1.01), -(1 + 2 * u)),
            (0, 0), (.infinity, .infinity), (-.infinity, -.infinity), (.greatestFiniteMagnitude, .infinity),
            (Float(bitPattern: 0x0020_7fff), Float(bitPattern: 0x0020_0000)),  // a subnormal, rounded down
        ]
        let x = cases.map(\.0) + [.nan, -0.0]
        var y = [Float](repeating: 7, count: x.count)
        GEMMEngine.roundToBF16(x, &y, count: x.count)
        for (i, c) in cases.enumerated() { #expect(y[i] == c.1, "\(c.0) → \(y[i]), expected \(c.1)") }
        #expect(y[cases.count].isNaN)
        #expect(y[cases.count + 1] == 0 && y[cases.count + 1].sign == .minus)
        #expect(y.allSatisfy { $0.isNaN || $0.bitPattern & 0xffff == 0 }, "only the top 16 bits remain")
    }

    @Test func outsideAnySettingsGEMMRunsOpenBLASInFP32() {
        #expect(GEMMEngine.current == (GEMMBackend.openblas, GEMMPrecision.fp32))
    }
}

/// oneDNN's and MKL's products through `gemm`, against the triple-loop reference (see
/// `GEMMLibrariesForTests`; a backend whose library is not installed is skipped, except under CI).
struct OptionalGEMMTests {
    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (3, 5, 7), (17, 1, 33), (64, 10, 376), (129, 96, 65)]

    /// Runs `gemm` on random inputs with padded strides and the reference on the same (or on
    /// `referenceInputs`-transformed) inputs; returns the worst |C − ref| / (k·Σ|a·b| + |β·c|).
    static func worst(_ settings: GEMMSelection?, m: Int, n: Int, k: Int, transA: Transpose, transB: Transpose,
                      round: Bool, seed: UInt64) -> (worst: Double, differsFromFP32: Bool) {
        var rng = SeededRandom(seed: seed)
        let (lda, ldb, ldc) = ((transA == .none ? k : m) + 3, (transB == .none ? n : k) + 1, n + 2)
        let a = randomBuffer((transA == .none ? m : k) * lda, rng: &rng)
        let b = randomBuffer((transB == .none ? k : n) * ldb, rng: &rng)
        let c = randomBuffer(m * ldc, rng: &rng)
        let (c1, c2, c3) = (FloatBuffer(count: m * ldc), FloatBuffer(count: m * ldc), FloatBuffer(count: m * ldc))
        c1.copy(from: c); c2.copy(from: c); c3.copy(from: c)
        let run = {
            gemm(transA, transB, m: m, n: n, k: k, alpha: 0.5, a: a.base, lda: lda, b: b.base, ldb: ldb, beta: 0.25,
                 c: c1.base, ldc: ldc)
        }
        if let settings { GEMMEngine.withSettings(settings, run) } else { run() }
        naiveGemm(transA, transB, m: m, n: n, k: k, alpha: 0.5, a: a.base, lda: lda, b: b.base, ldb: ldb, beta: 0.25,
                  c: c3.base, ldc: ldc)
        let (ra, rb) = (FloatBuffer(count: a.count), FloatBuffer(count: b.count))
        ra.copy(from: a); rb.copy(from: b)
        if round {
            GEMMEngine.roundToBF16(ra.base, ra.base, count: ra.count)
            GEMMEngine.roundToBF16(rb.base, rb.base, count: rb.count)
        }
        naiveGemm(transA, transB, m: m, n: n, k: k, alpha: 0.5, a: ra.base, lda: lda, b: rb.base, ldb: ldb, beta: 0.25,
                  c: c2.base, ldc: ldc)
        var worst = 0.0, differs = false
        for i in 0..<m {
            for j in 0..<ldc {
                let x = i * ldc + j
                if j >= n { if c1[x] != c[x] { worst = .infinity }; continue }  // the padding stays
                // |Σ a·b| ≤ k·(max|a|·max|b|) with entries in [-1, 1): scale by k (fp32 accumulation).
                let scale = 0.5 * Double(k) + 0.25 * abs(Double(c[x])) + 1e-30
                worst = max(worst, abs(Double(c1[x]) - Double(c2[x])) / scale)
                if abs(Double(c1[x]) - Double(c3[x])) > 1e-5 * scale { differs = true }
            }
        }
        return (worst, differs)
    }

    /// fp32: within fp32 rounding (≤ 2·k·2^-24 relative to k, far below 1e-6) of the
    /// reference, like OpenBLAS's.
    @Test(arguments: shapes, GEMMLibrariesForTests.backends)
    func fp32MatchesTheReference(shape: (Int, Int, Int), backend: GEMMBackend) throws {
        guard GEMMLibrariesForTests.enabled(backend) else { return }
        let s = try GEMMLibrariesForTests.settings(backend, .fp32)
        for transA in [Transpose.none, .transposed] {
            for transB in [Transpose.none, .transposed] {
                let (m, n, k) = shape
                let r = Self.worst(s, m: m, n: n, k: k, transA: transA, transB: transB, round: false, seed: UInt64(m * 7 + k))
                #expect(r.worst < 1e-6, "\(backend) \(shape) \(transA) \(transB): \(r.worst)")
            }
        }
    }

    /// bf16 is the exact product of the bf16-rounded inputs, accumulated in fp32: within fp32
    /// rounding of the reference on rounded inputs (≤ 1e-6 relative to k), and visibly not the
    /// fp32 product (differences ~2^-8 per input, far above 1e-5 for k ≥ 7), so the test fails
    /// if the bf16 routine is not the one that ran. Without bf16 on this CPU: refused.
    @Test(arguments: shapes, GEMMLibrariesForTests.backends)
    func bf16IsTheProductOfRoundedInputs(shape: (Int, Int, Int), backend: GEMMBackend) throws {
        guard GEMMLibrariesForTests.enabled(backend) else { return }
        guard GEMMLibrariesForTests.cpuRunsBF16 else {
            #expect(throws: GEMMBackendError.self) { try GEMMEngine.load(backend: backend, precision: .bf16) }
            return
        }
        let s = try GEMMEngine.load(backend: backend, precision: .bf16)
        for transA in [Transpose.none, .transposed] {
            for transB in [Transpose.none, .transposed] {
                let (m, n, k) = shape
                let r = Self.worst(s, m: m, n: n, k: k, transA: transA, transB: transB, round: true, seed: UInt64(m * 7 + k))
                #expect(r.worst < 1e-6, "\(backend) \(shape) \(transA) \(transB): \(r.worst)")
                if k >= 7 { #expect(r.differsFromFP32, "\(backend) \(shape): the bf16 routine did not run") }
            }
        }
        #expect(GEMMEngine.current == (GEMMBackend.openblas, GEMMPrecision.fp32), "withSettings restores the thread's products")
    }

    /// A pinned input is rounded once for every product that reads exactly it, and the products
    /// equal those that round it themselves, bit for bit; a product reading it with another
    /// row stride or size rounds its own copy; outside bf16 pinning does nothing.
    @Test(arguments: GEMMLibrariesForTests.backends)
    func aPinnedInputIsConvertedOnceWithTheSameProducts(backend: GEMMBackend) throws {
        guard let s = try GEMMLibrariesForTests.bf16Settings(backend) else { return }
        var rng = SeededRandom(seed: 42)
        let (m, k, n) = (64, 40, 24)
        let x = randomBuffer(m * (k + 2), rng: &rng), w1 = randomBuffer(n * k, rng: &rng), w2 = randomBuffer(n * k, rng: &rng)
        let dy = randomBuffer(m * n, rng: &rng)
        func products(pinned: Bool) -> ([Float], UInt64) {
            let (y1, y2, dw) = (FloatBuffer(count: m * n), FloatBuffer(count: m * n), FloatBuffer(count: n * k))
            let before = GEMMEngine.convertedToBF16
            GEMMEngine.withSettings(s) {
                let run = {
                    gemm(.none, .transposed, m: m, n: n, k: k, a: x.base, lda: k + 2, b: w1.base, ldb: k, beta: 0, c: y1.base, ldc: n)
                    gemm(.none, .transposed, m: m, n: n, k: k, a: x.base, lda: k + 2, b: w2.base, ldb: k, beta: 0, c: y2.base, ldc: n)
                    gemm(.transposed, .none, m: n, n: k, k: m, a: dy.base, lda: n, b: x.base, ldb: k + 2, beta: 0, c: dw.base, ldc: k)
                }
                if pinned { GEMMEngine.withPinnedInput(x.base, rows: m, cols: k, ld: k + 2, run) } else { run() }
            }
            return (y1.toArray() + y2.toArray() + dw.toArray(), GEMMEngine.convertedToBF16 - before)
        }
        let (plain, plainCount) = products(pinned: false)
        let (once, onceCount) = products(pinned: true)
        #expect(plain == once, "pinning changed a product")
        // x (64 × 40) is rounded three times without the pin, once with it.
        #expect(plainCount - onceCount == UInt64(2 * m * k), "\(plainCount) values converted, \(onceCount) pinned")
        // Another stride: not the pinned matrix, converted by the product itself.
        let y = FloatBuffer(count: m * n)
        let other = GEMMEngine.withSettings(s) {
            GEMMEngine.withPinnedInput(x.base, rows: m, cols: k, ld: k + 2) {
                let before = GEMMEngine.convertedToBF16
                gemm(.none, .transposed, m: m, n: n, k: k - 1, a: x.base, lda: k + 2, b: w1.base, ldb: k, beta: 0, c: y.base, ldc: n)
                return GEMMEngine.convertedToBF16 - before
            }
        }
        #expect(other == UInt64(m * (k - 1) + n * (k - 1)), "a product of other shape used the pinned copy")
        let fp32 = GEMMEngine.convertedToBF16
        GEMMEngine.withPinnedInput(x.base, rows: m, cols: k, ld: k + 2) {}
        #expect(GEMMEngine.convertedToBF16 == fp32, "outside bf16 nothing is converted")
    }

    /// Pins nest: an inner pin (a layer's output gradient) leaves the outer (the bank's input)
    /// pinned, during and after it; a matrix pinned further out is not converted again; past
    /// four pins a product converts its own copy, with the same values; and after the last
    /// unpin every product converts again.
    @Test(arguments: GEMMLibrariesForTests.backends)
    func pinsNest(backend: GEMMBackend) throws {
        guard let s = try GEMMLibrariesForTests.bf16Settings(backend) else { return }
        var rng = SeededRandom(seed: 43)
        let (m, k, n) = (32, 24, 16)
        let inputs = (0..<6).map { _ in randomBuffer(m * k, rng: &rng) }
        let w = randomBuffer(n * k, rng: &rng)
        let y = FloatBuffer(count: m * n)
        // Values converted by one product reading inputs[i] (and w, never pinned).
        func converted(_ i: Int) -> UInt64 {
            let before = GEMMEngine.convertedToBF16
            gemm(.none, .transposed, m: m, n: n, k: k, a: inputs[i].base, lda: k, b: w.base, ldb: k, beta: 0, c: y.base, ldc: n)
            return GEMMEngine.convertedToBF16 - before
        }
        func product(_ i: Int) -> [Float] { _ = converted(i); return y.toArray() }
        let (pinnedCost, plainCost) = (UInt64(n * k), UInt64(m * k + n * k))
        GEMMEngine.withSettings(s) {
            let plain = (0..<6).map(product)
            GEMMEngine.withPinnedInput(inputs[0].base, rows: m, cols: k, ld: k) {
                GEMMEngine.withPinnedInput(inputs[1].base, rows: m, cols: k, ld: k) {
                    #expect(converted(0) == pinnedCost && converted(1) == pinnedCost, "both pins serve inside")
                    let before = GEMMEngine.convertedToBF16
                    GEMMEngine.withPinnedInput(inputs[0].base, rows: m, cols: k, ld: k) {}
                    #expect(GEMMEngine.convertedToBF16 == before, "a matrix pinned further out is not converted again")
                    GEMMEngine.withPinnedInput(inputs[2].base, rows: m, cols: k, ld: k) {
                        GEMMEngine.withPinnedInput(inputs[3].base, rows: m, cols: k, ld: k) {
                            GEMMEngine.withPinnedInput(inputs[4].base, rows: m, cols: k, ld: k) {
                                #expect(converted(4) == plainCost, "a fifth pin converts per product")
                                #expect((0..<5).map(product) == Array(plain[0..<5]), "pinned copies give the same products")
                                #expect((0..<4).map(converted) == Array(repeating: pinnedCost, count: 4))
                            }
                            #expect(converted(3) == pinnedCost, "the fourth pin outlives the fifth")
                        }
                        #expect(converted(3) == plainCost, "an unpinned matrix is converted again")
                    }
                }
                #expect(converted(0) == pinnedCost && converted(1) == plainCost, "the inner unpin left the outer pin")
            }
            #expect(converted(0) == plainCost, "after the last unpin every product converts")
        }
    }
}

/// oneDNN runs the layers' products with its optimised kernels, never its reference loop, and
/// makes every one (no product falls back to OpenBLAS).
struct OneDNNKernelTests {
    /// The products of Linear and ExpertBank at the tutorial's widths (batch 1024, input 376,
    /// experts 256 → 128, towers 64 → 32) in their three forms (forward NT, weight gradient TN
    /// with beta 1, input gradient NN), with a row stride wider than the input (the expert
    /// bank's input inside a wider buffer), in fp32 and bf16.
    @Test func theLayersProductsRunOptimisedKernels() throws {
        guard GEMMLibrariesForTests.enabled(.onednn) else { return }
        let precisions: [GEMMPrecision] = GEMMLibrariesForTests.cpuRunsBF16 ? [.fp32, .bf16] : [.fp32]
        let widths = [(376, 256, 392), (256, 128, 256), (128, 64, 128), (64, 32, 64), (32, 1, 32)]
        for precision in precisions {
            let s = try GEMMLibrariesForTests.settings(.onednn, precision)
            GEMMEngine.withSettings(s) {
                for (input, output, ld) in widths {
                    let forms: [(Transpose, Transpose, Int, Int, Int, Int, Int, Int, Float)] = [
                        (.none, .transposed, 1024, output, input, ld, input, output, 0),
                        (.transposed, .none, output, input, 1024, output, ld, input, 1),
                        (.none, .none, 1024, input, output, output, input, ld, 0),
                    ]
                    for (ta, tb, m, n, k, lda, ldb, ldc, beta) in forms {
                        let impl = GEMMEngine.oneDNNImplementation(ta, tb, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, beta: beta)
                        #expect(impl != nil && !(impl!.hasPrefix("ref")),
                                "\(precision) \(ta)\(tb) \(m)×\(n)×\(k): \(impl ?? "none")")
                    }
                }
            }
        }
        #expect(GEMMEngine.oneDNNFallbacks == 0)
    }
}
