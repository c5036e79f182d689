import Kernels

/// A softmax gate over K experts, as in MMoE (Ma et al., KDD 2018, §4.2) and PLE.
///
/// ```
/// g(x) = softmax(x W_gᵀ)         x: (B, in)   W_g: (K, in)   g: (B, K)
/// ```
/// No bias, following the paper's `softmax(W_g x)`.
public struct SoftmaxGate: Sendable {
    /// The gate's linear map.
    public let linear: Linear

    /// Number of experts the gate weighs.
    public var numExperts: Int { linear.outputSize }

    /// Declares `<name>.weight` in `layout`.
    public init(_ name: String, inputSize: Int, numExperts: Int, role: ParameterRole, layout: ParameterLayout) {
        linear = Linear(name, inputSize: inputSize, outputSize: numExperts, role: role, bias: false, layout: layout)
    }

    /// Writes the gate weights `g` (B, K).
    @inline(__always)
    public func forward(output g: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, ldx: Int, batch: Int,
                        params: ArenaView) {
        linear.forward(output: g, ldy: numExperts, input: x, ldx: ldx, batch: batch, params: params)
        Ops.softmaxRows(g, rows: batch, cols: numExperts)
    }

    /// Given `dG` (B, K) (overwritten), adds the weight gradient and adds into `dInput`.
    @inline(__always)
    public func backward(dGate dg: UnsafeMutablePointer<Float>, gate g: UnsafePointer<Float>,
                         input x: UnsafePointer<Float>, ldx: Int,
                         dInput: UnsafeMutablePointer<Float>?, lddx: Int, batch: Int,
                         params: ArenaView, grads: ArenaView) {
        Ops.softmaxRowsBackward(output: g, gradient: dg, rows: batch, cols: numExperts)
        linear.backward(dInput: dInput, lddx: lddx, accumulateInput: true, dOutput: dg, lddy: numExperts,
                        input: x, ldx: ldx, batch: batch, params: params, grads: grads)
    }
}

/// Mixes expert outputs with gate weights, and its backward pass.
///
/// ```
/// y[b] = Σ_k g[b,k] · E[b, k]                E: (B, K·H)   g: (B, K)   y: (B, H)
/// dE[b, k] += g[b,k] · dy[b]                 dg[b,k] = ⟨E[b, k], dy[b]⟩
/// ```
/// `gateStride` is g's row stride, so a gate over several expert banks (PLE) can be mixed
/// bank by bank from column slices; `accumulate` adds into y instead of overwriting it.
/// `layout` says where E[b, k] is (and dE[b, k]): an `ExpertBank`'s output is expert-major,
/// (K, B, H) (`ExpertBankCache.outputLayout`); a (B, K·H) matrix is `ExpertLayout(rowStride:
/// K·H, expertOffset: H)`.
public enum ExpertMixture {
    /// Writes (or adds into) `y` (B, H) with row stride `ldy`.
    @inline(__always)
    public static func forward(output y: UnsafeMutablePointer<Float>, ldy: Int, experts e: UnsafePointer<Float>,
                               layout: ExpertLayout, gate g: UnsafePointer<Float>, gateStride: Int? = nil,
                               batch: Int, numExperts k: Int, width h: Int, accumulate: Bool = false) {
        let gs = gateStride ?? k, expertStride = layout.rowStride, eo = layout.expertOffset
        if h % 8 == 0 {
            // Eight lanes at a time, each expert's row read once: y = Σ_x g_x E_x (same order).
            typealias V = SIMD8<Float>
            for b in 0..<batch {
                let yr = y + b * ldy, er = e + b * expertStride, gr = g + b * gs
                var j = 0
                while j < h {
                    var acc = accumulate ? V.load(yr + j)
                                         : V(repeating: gr[0]) * V.load(er + j)
                    for x in (accumulate ? 0 : 1)..<k {
                        acc += V(repeating: gr[x]) * V.load(er + x * eo + j)
                    }
                    acc.store(yr + j)
                    j += 8
                }
            }
            return
        }
        for b in 0..<batch {
            let yr = y + b * ldy
            let er = e + b * expertStride
            let gr = g + b * gs
            var first = 0
            if !accumulate {
                let g0 = gr[0]
                for j in 0..<h { yr[j] = g0 * er[j] }
                first = 1
            }
            for x in first..<k {
                let gx = gr[x]
                let ex = er + x * eo
                for j in 0..<h { yr[j] += gx * ex[j] }
            }
        }
    }

    /// Adds into `dE` (laid out as the experts), or writes it when `accumulate` is false, and writes `dG`
    /// (B, K; row stride `gateStride`).
    @inline(__always)
    public static func backward(dExperts de: UnsafeMutablePointer<Float>, dGate dg: UnsafeMutablePointer<Float>,
                                dOutput dy: UnsafePointer<Float>, lddy: Int,
                                experts e: UnsafePointer<Float>, layout: ExpertLayout, gate g: UnsafePointer<Float>,
                                gateStride: Int? = nil, batch: Int, numExperts k: Int, width h: Int,
                                accumulate: Bool = true) {
        let gs = gateStride ?? k, expertStride = layout.rowStride, eo = layout.expertOffset
        if h % 8 == 0 {
            // Eight lanes at a time (the dot product's serial sum kept the scalar loop from
            // vectorizing): eight partial sums per expert, added at the end.
            typealias V = SIMD8<Float>
            for b in 0..<batch {
                let dyr = dy + b * lddy, er = e + b * expertStride, der = de + b * expertStride
                for x in 0..<k {
                    let gx = V(repeating: g[b * gs + x])
                    let ex = er + x * eo, dex = der + x * eo
                    var dot = V(repeating: 0)
                    var j = 0
                    while j < h {
                        let d = V.load(dyr + j)
                        dot += V.load(ex + j) * d
                        let add = gx * d
                        let out = accumulate ? V.load(dex + j) + add : add
                        out.store(dex + j)
                        j += 8
                    }
                    dg[b * gs + x] = dot.sum()
                }
            }
            return
        }
        for b in 0..<batch {
            let dyr = dy + b * lddy
            let er = e + b * expertStride
            let der = de + b * expertStride
            for x in 0..<k {
                let gx = g[b * gs + x]
                let ex = er + x * eo
                let dex = der + x * eo
                var dot: Float = 0
                for j in 0..<h {
                    dot += ex[j] * dyr[j]
                    dex[j] = accumulate ? dex[j] + gx * dyr[j] : gx * dyr[j]
                }
                dg[b * gs + x] = dot
            }
        }
    }
}
