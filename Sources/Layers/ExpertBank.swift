import Kernels

/// K experts of identical MLP shape over the same input, computed together.
///
/// ```
/// E_k = MLP_k(x)                 x: (B, in)   E: K blocks of (B, H), expert k's at k · capacity · H
/// ```
/// Every layer's outputs, batch-norm caches and gradients are stored expert-major: expert k's
/// (B, H_l) rows are one contiguous block (`ExpertLayout`). Each expert runs its layers in
/// turn, so its block is normalised and fed to its next product while still in cache: batch
/// norm's passes over a layer-wide (B, K·H) matrix were bound by memory bandwidth. Tensors:
/// `<name>.<l>.weight` `(K, H_l, H_{l-1})` and `<name>.<l>.bias` `(K, H_l)`; expert k's slice
/// of layer l is `weight[k]`.
public struct ExpertBank: Sendable {
    /// Input width.
    public let inputSize: Int
    /// Number of experts, K.
    public let numExperts: Int
    /// Each expert's hidden widths; the last is H, the expert output width.
    public let units: [Int]
    /// The activation after every layer (experts end with it too, as in MMoE and PLE).
    public let activation: Activation
    let weights: [TensorID]
    let biases: [TensorID]
    /// Batch normalisation and dropout settings (batch normalisation is per column of (B, K·H)).
    public let options: MLPOptions
    let norms: [BatchNorm]
    let dropouts: [Dropout]

    /// The width of one expert's output, H.
    public var outputSize: Int { units[units.count - 1] }
    /// Each layer's stacked weight `<name>.<l>.weight` (K, H_l, H_{l−1}).
    public var weightTensors: [TensorID] { weights }

    /// Declares the stacked tensors in `layout`.
    public init(_ name: String, inputSize: Int, numExperts: Int, units: [Int], activation: Activation = .relu,
                options: MLPOptions = MLPOptions(), role: ParameterRole, layout: ParameterLayout) {
        precondition(numExperts >= 1 && !units.isEmpty, "ExpertBank \(name) needs experts and units, got \(numExperts), \(units)")
        self.inputSize = inputSize
        self.numExperts = numExperts
        self.units = units
        self.activation = activation
        self.options = options
        var w: [TensorID] = []
        var b: [TensorID] = []
        var norms: [BatchNorm] = [], dropouts: [Dropout] = []
        var width = inputSize
        for (l, h) in units.enumerated() {
            let bound = 1 / Float(width).squareRoot()
            w.append(layout.declare("\(name).\(l).weight", shape: [numExperts, h, width], role: role,
                                    initializer: .uniform(bound: bound)))
            b.append(layout.declare("\(name).\(l).bias", shape: [numExperts, h], role: role,
                                    initializer: .uniform(bound: bound)))
            if options.batchNorm {
                norms.append(BatchNorm("\(name).\(l).bn", width: numExperts * h, shape: [numExperts, h], role: role,
                                       layout: layout))
            }
            if options.dropout > 0 { dropouts.append(Dropout("\(name).\(l)", probability: options.dropout)) }
            width = h
        }
        weights = w
        biases = b
        self.norms = norms
        self.dropouts = dropouts
    }

    /// Allocates the per-layer outputs and gradient scratch for up to `batch` rows.
    public func makeCache(batch: Int, context: ForwardContext = ForwardContext()) -> ExpertBankCache {
        ExpertBankCache(bank: self, batch: batch, context: context)
    }

    /// Runs all experts; the result is `cache.output`, laid out as `cache.outputLayout`.
    ///
    /// Without dropout in training, expert by expert: each expert's product, batch norm (or
    /// activation) and next layer in turn. With dropout, layer by layer, so each row's masks
    /// are drawn in the same order as a (B, K·H) layer's. The columns of every pass are
    /// independent, so the order changes no value.
    public func forward(input x: UnsafePointer<Float>, ldx: Int, batch: Int, params: ArenaView, cache: ExpertBankCache) {
        precondition(batch <= cache.capacity, "batch \(batch) exceeds the expert cache's \(cache.capacity)")
        // Every expert's layer-0 product reads x: in bf16, rounded once for all of them.
        GEMMEngine.withPinnedInput(x, rows: batch, cols: inputSize, ld: ldx) {
            forwardExperts(input: x, ldx: ldx, batch: batch, params: params, cache: cache)
        }
    }

    /// `forward`'s passes.
    private func forwardExperts(input x: UnsafePointer<Float>, ldx: Int, batch: Int, params: ArenaView, cache: ExpertBankCache) {
        if expertMajor(cache) {
            for e in 0..<numExperts {
                for l in 0..<units.count {  // index loop: `enumerated()` allocates in debug builds
                    linearForward(layer: l, expert: e, input: x, ldx: ldx, batch: batch, params: params, cache: cache)
                    activate(layer: l, expert: e, batch: batch, params: params, cache: cache)
                }
            }
            return
        }
        for l in 0..<units.count {
            let h = units[l], block = cache.capacity * h
            for e in 0..<numExperts {
                linearForward(layer: l, expert: e, input: x, ldx: ldx, batch: batch, params: params, cache: cache)
                activate(layer: l, expert: e, batch: batch, params: params, cache: cache)
                (cache.activated[l].base + e * block).update(from: cache.outputs[l].base + e * block, count: batch * h)
            }
            dropouts[l].forward(cache.outputs[l].base, batch: batch, width: numExperts * h, mask: cache.masks[l].base,
                                context: cache.context, blockWidth: h, blockStride: block)
        }
    }

    /// Whether the passes go expert by expert (no dropout mask to draw or apply).
    @inline(__always)
    func expertMajor(_ cache: ExpertBankCache) -> Bool { dropouts.isEmpty || !cache.context.isTraining }

    /// Expert e's block of layer l's output, (B, H_l) rows of H_l.
    @inline(__always)
    func block(_ buffers: [FloatBuffer], layer l: Int, expert e: Int, cache: ExpertBankCache) -> UnsafeMutablePointer<Float> {
        buffers[l].base + e * cache.capacity * units[l]
    }

    /// Expert e's product at layer l, bias first (then beta = 1: one pass over the output
    /// fewer), from `input` (row stride `ldx`) at layer 0, else from its block of layer l − 1.
    @inline(__always)
    func linearForward(layer l: Int, expert e: Int, input x: UnsafePointer<Float>, ldx: Int, batch: Int,
                       params: ArenaView, cache: ExpertBankCache) {
        let h = units[l], inWidth = l == 0 ? inputSize : units[l - 1]
        let out = block(cache.outputs, layer: l, expert: e, cache: cache)
        let input = l == 0 ? x : UnsafePointer(block(cache.outputs, layer: l - 1, expert: e, cache: cache))
        Ops.broadcastRows(params[biases[l]] + e * h, into: out, rows: batch, cols: h, ldy: h)
        gemm(.none, .transposed, m: batch, n: h, k: inWidth, a: input, lda: l == 0 ? ldx : inWidth,
             b: params[weights[l]] + e * h * inWidth, ldb: inWidth, beta: 1, c: out, ldc: h)
    }

    /// Batch normalisation (when on) and the activation of expert e's block of layer l.
    @inline(__always)
    func activate(layer l: Int, expert e: Int, batch: Int, params: ArenaView, cache: ExpertBankCache) {
        let h = units[l], out = block(cache.outputs, layer: l, expert: e, cache: cache)
        if norms.isEmpty {
            activation.forward(out, count: batch * h)
        } else {
            norms[l].forward(out, batch: batch, xhat: block(cache.xhat, layer: l, expert: e, cache: cache),
                             invStd: cache.invStd[l].base, params: params, context: cache.context,
                             scratch: cache.normScratch[l], activation: activation, columns: e * h..<(e + 1) * h)
        }
    }

    /// Back-propagates `dOutput` (laid out as `cache.outputLayout`), overwritten as scratch;
    /// adds parameter gradients and writes (or adds) `dInput` (B, in) when given: its first
    /// `dInputColumns` columns only when given (a model's dense features need no gradient,
    /// only its embeddings).
    ///
    /// Expert by expert as in `forward` (layer by layer with dropout). Layer 0's products are
    /// one per expert too, while its gradient block is in cache; `dInput` sums the experts'
    /// products in expert order.
    ///
    /// Under the context's `GradNormTap`: `.combined` skips W's weight product; `.perTask`
    /// adds no parameter gradient, and when W is one of these layers it adds dW into the
    /// tap's buffer and stops there (`dInput` untouched).
    public func backward(dOutput: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, ldx: Int,
                         dInput: UnsafeMutablePointer<Float>?, lddx: Int, accumulateInput: Bool = false,
                         dInputColumns: Int? = nil,
                         batch: Int, params: ArenaView, grads: ArenaView, cache: ExpertBankCache) {
        precondition(dInputColumns.map { $0 >= 0 && $0 <= inputSize } ?? true, "dInputColumns outside 0...\(inputSize)")
        let pass = BackwardPass(input: x, ldx: ldx, dInput: dInput, lddx: lddx, accumulateInput: accumulateInput,
                                dInputColumns: dInputColumns ?? inputSize, dOutput: dOutput, batch: batch)
        // Every expert's layer-0 weight gradient reads x: in bf16, rounded once for all of them.
        GEMMEngine.withPinnedInput(x, rows: batch, cols: inputSize, ld: ldx) {
            backwardExperts(pass, params: params, grads: grads, cache: cache)
        }
    }

    /// `backward`'s passes.
    private func backwardExperts(_ pass: BackwardPass, params: ArenaView, grads: ArenaView, cache: ExpertBankCache) {
        let (dOutput, batch) = (pass.dOutput, pass.batch)
        let top = units.count - 1
        if expertMajor(cache) {
            for e in 0..<numExperts {
                var l = top
                while l >= 0 && layerBackward(layer: l, expert: e, pass, params: params, grads: grads, cache: cache) {
                    l -= 1
                }
            }
            return
        }
        for l in stride(from: top, through: 0, by: -1) {
            let h = units[l], blockCount = cache.capacity * h
            let dy = l == top ? dOutput : cache.gradients[l].base
            for e in 0..<numExperts {
                dropouts[l].backward(dy + e * blockCount, count: batch * h, mask: cache.masks[l].base + e * blockCount)
            }
            var goOn = true
            for e in 0..<numExperts {
                goOn = layerBackward(layer: l, expert: e, pass, params: params, grads: grads, cache: cache) && goOn
            }
            if !goOn { return }
        }
    }

    /// The arguments of one `backward` call.
    struct BackwardPass {
        let input: UnsafePointer<Float>, ldx: Int
        let dInput: UnsafeMutablePointer<Float>?, lddx: Int, accumulateInput: Bool, dInputColumns: Int
        let dOutput: UnsafeMutablePointer<Float>
        let batch: Int
    }

    /// Expert e's backward at layer l: the activation (and batch norm), the weight product (or
    /// the tap's), and the input product into its block of layer l − 1's gradient, or at layer
    /// 0 added into `dInput`. False when it stopped at a GradNorm per-task tap.
    @inline(__always)
    func layerBackward(layer l: Int, expert e: Int, _ pass: BackwardPass, params: ArenaView, grads: ArenaView,
                       cache: ExpertBankCache) -> Bool {
        let h = units[l], batch = pass.batch
        let dy = l == units.count - 1 ? pass.dOutput + e * cache.capacity * h
                                      : block(cache.gradients, layer: l, expert: e, cache: cache)
        activationBackward(layer: l, expert: e, dOutput: dy, batch: batch, params: params, grads: grads, cache: cache)
        let tap = cache.context.gradNormTap
        let w = weights[l]
        let tapped = tap.isPerTask && tap.weight == w
        // dW_e (H_l, H_{l−1}) += dy_eᵀ x_e: into the tap's buffer at W in a per-task pass, else
        // into the gradients unless a per-task pass or the combined pass's W.
        let dW: UnsafeMutablePointer<Float>? = tapped ? tap.dWeight!
            : !tap.isPerTask && !(tap.weight == w && tap.mode == .combined) ? grads[w] : nil
        // dy feeds both products: in bf16, rounded once for the two.
        let inputProduct = l > 0 || pass.dInput != nil
        if dW != nil && inputProduct && !tapped {
            GEMMEngine.withPinnedInput(dy, rows: batch, cols: h, ld: h) {
                weightAndInputProducts(layer: l, expert: e, pass, dy: dy, dW: dW, params: params, cache: cache)
            }
        } else {
            weightAndInputProducts(layer: l, expert: e, pass, dy: dy, dW: dW, params: params, cache: cache)
        }
        return !tapped
    }

    /// Expert e's products at layer l: dW_e (H_l, H_{l−1}) += dy_eᵀ x_e when `dW` is given, then,
    /// unless `dW` is the GradNorm tap's, dx_e = dy_e W_e into its block of layer l − 1's
    /// gradient, or at layer 0 into (or added to) `dInput`.
    @inline(__always)
    func weightAndInputProducts(layer l: Int, expert e: Int, _ pass: BackwardPass, dy: UnsafeMutablePointer<Float>,
                                dW: UnsafeMutablePointer<Float>?, params: ArenaView, cache: ExpertBankCache) {
        let h = units[l], inWidth = l == 0 ? inputSize : units[l - 1], batch = pass.batch
        let input = l == 0 ? pass.input : UnsafePointer(block(cache.outputs, layer: l - 1, expert: e, cache: cache))
        let ldIn = l == 0 ? pass.ldx : inWidth
        let w = weights[l], wOffset = e * h * inWidth
        if let dW {
            gemm(.transposed, .none, m: h, n: inWidth, k: batch, a: dy, lda: h, b: input, ldb: ldIn,
                 beta: 1, c: dW + wOffset, ldc: inWidth)
        }
        let tap = cache.context.gradNormTap
        if tap.isPerTask && tap.weight == w { return }
        // dx_e = dy_e W_e.
        if l > 0 {
            gemm(.none, .none, m: batch, n: inWidth, k: h, a: dy, lda: h, b: params[w] + wOffset, ldb: inWidth,
                 beta: 0, c: block(cache.gradients, layer: l - 1, expert: e, cache: cache), ldc: inWidth)
        } else if let dInput = pass.dInput {
            gemm(.none, .none, m: batch, n: pass.dInputColumns, k: h, a: dy, lda: h, b: params[w] + wOffset,
                 ldb: inWidth, beta: e > 0 || pass.accumulateInput ? 1 : 0, c: dInput, ldc: pass.lddx)
        }
    }

    /// Takes expert e's block `dy` (B, H_l) through layer l's activation (and batch norm),
    /// adding the bias gradient (and dγ, dβ) unless in a GradNorm per-task pass.
    @inline(__always)
    func activationBackward(layer l: Int, expert e: Int, dOutput dy: UnsafeMutablePointer<Float>, batch: Int,
                            params: ArenaView, grads: ArenaView, cache: ExpertBankCache) {
        let h = units[l]
        let perTask = cache.context.gradNormTap.isPerTask
        let activated = UnsafePointer(block(expertMajor(cache) ? cache.outputs : cache.activated, layer: l, expert: e,
                                            cache: cache))
        if norms.isEmpty {
            if perTask {
                activation.backward(output: activated, gradient: dy, count: batch * h)
            } else {
                // The activation's derivative and the bias gradient in one pass.
                activation.backward(output: activated, gradient: dy, rows: batch, cols: h, ld: h,
                                    addingColumnSumsInto: grads[biases[l]] + e * h)
            }
        } else {
            // The activation's derivative, batch norm and the bias gradient in two passes.
            norms[l].backward(dy, batch: batch, xhat: block(cache.xhat, layer: l, expert: e, cache: cache),
                              invStd: cache.invStd[l].base, params: params, grads: grads, scratch: cache.normScratch[l],
                              activation: activation, output: activated, dBias: grads[biases[l]],
                              parameterGradients: !perTask, columns: e * h..<(e + 1) * h)
        }
    }
}

/// Where K experts' outputs of width H keep expert k's row b: at `b · rowStride + k ·
/// expertOffset` (`ExpertMixture`). An `ExpertBank`'s output, and the gradient handed back to
/// it, is expert-major: rowStride H, expertOffset the cache's capacity × H.
public struct ExpertLayout: Sendable, Equatable {
    /// Between consecutive rows of one expert.
    public let rowStride: Int
    /// Between consecutive experts.
    public let expertOffset: Int

    /// A layout with these strides.
    public init(rowStride: Int, expertOffset: Int) {
        self.rowStride = rowStride
        self.expertOffset = expertOffset
    }
}

/// The per-batch buffers of an `ExpertBank`.
public final class ExpertBankCache: @unchecked Sendable {
    /// The largest batch these buffers hold.
    public let capacity: Int
    /// Output of layer l for all experts: K blocks of (capacity, H_l), expert-major.
    public let outputs: [FloatBuffer]
    /// Gradient scratch for layer l's output (all but the last), laid out as `outputs`.
    public let gradients: [FloatBuffer]

    /// Training or inference, state and dropout seeding.
    public let context: ForwardContext
    let xhat: [FloatBuffer], invStd: [FloatBuffer], masks: [FloatBuffer], activated: [FloatBuffer]
    let normScratch: [BatchNormScratch]

    init(bank: ExpertBank, batch: Int, context: ForwardContext) {
        capacity = batch
        self.context = context
        let k = bank.numExperts
        outputLayout = ExpertLayout(rowStride: bank.outputSize, expertOffset: batch * bank.outputSize)
        outputs = bank.units.map { FloatBuffer(count: batch * k * $0) }
        gradients = bank.units.dropLast().map { FloatBuffer(count: batch * k * $0) }
        xhat = bank.options.batchNorm ? bank.units.map { FloatBuffer(count: batch * k * $0) } : []
        invStd = bank.options.batchNorm ? bank.units.map { FloatBuffer(count: k * $0) } : []
        normScratch = bank.options.batchNorm ? bank.units.map { BatchNormScratch(width: k * $0) } : []
        masks = bank.options.dropout > 0 ? bank.units.map { FloatBuffer(count: batch * k * $0) } : []
        activated = bank.options.dropout > 0 ? bank.units.map { FloatBuffer(count: batch * k * $0) } : []
    }

    /// All experts' outputs: K blocks of (B, H), laid out as `outputLayout`.
    public var output: UnsafeMutablePointer<Float> { outputs[outputs.count - 1].base }
    /// Where `output` keeps expert k's row b; a gradient handed to `backward` uses it too.
    public let outputLayout: ExpertLayout
    /// Floats in `output` (and in a gradient for it): K · capacity · H.
    public var outputCount: Int { outputs[outputs.count - 1].count }
}
