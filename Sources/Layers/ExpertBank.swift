import Kernels

/// K experts of identical MLP shape over the same input, computed together.
///
/// ```
/// E_k = MLP_k(x)                 x: (B, in)   E: (B, K·H), expert k in columns k·H ..< (k+1)·H
/// ```
/// Layer 0 of all experts is one GEMM against the stacked weight `(K·H_1, in)` (one wide
/// product instead of K narrow ones); deeper layers are one GEMM per expert on column
/// slices of the same buffers. Tensors: `<name>.<l>.weight` `(K, H_l, H_{l-1})` and
/// `<name>.<l>.bias` `(K, H_l)`; expert k's slice of layer l is `weight[k]`.
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

    /// Runs all experts; the result is `cache.output` (B, K·H).
    public func forward(input x: UnsafePointer<Float>, ldx: Int, batch: Int, params: ArenaView, cache: ExpertBankCache) {
        precondition(batch <= cache.capacity, "batch \(batch) exceeds the expert cache's \(cache.capacity)")
        let k = numExperts
        var input = x
        var inWidth = inputSize
        for l in 0..<units.count {  // index loop: `enumerated()` allocates in debug builds
            let h = units[l]
            let out = cache.outputs[l].base
            let w = params[weights[l]]
            // The bias first, then the products with beta = 1: one pass over the output fewer.
            Ops.broadcastRows(params[biases[l]], into: out, rows: batch, cols: k * h, ldy: k * h)
            if l == 0 {
                gemm(.none, .transposed, m: batch, n: k * h, k: inWidth,
                     a: input, lda: ldx, b: w, ldb: inWidth, beta: 1, c: out, ldc: k * h)
            } else {
                for e in 0..<k {
                    gemm(.none, .transposed, m: batch, n: h, k: inWidth,
                         a: input + e * inWidth, lda: k * inWidth, b: w + e * h * inWidth, ldb: inWidth,
                         beta: 1, c: out + e * h, ldc: k * h)
                }
            }
            if norms.isEmpty {
                activation.forward(out, count: batch * k * h)
            } else {
                norms[l].forward(out, batch: batch, xhat: cache.xhat[l].base, invStd: cache.invStd[l].base,
                                 params: params, context: cache.context, scratch: cache.normScratch[l],
                                 activation: activation)
            }
            if !dropouts.isEmpty && cache.context.isTraining {
                cache.activated[l].base.update(from: out, count: batch * k * h)
                dropouts[l].forward(out, batch: batch, width: k * h, mask: cache.masks[l].base, context: cache.context)
            }
            input = UnsafePointer(out)
            inWidth = h
        }
    }

    /// Back-propagates `dOutput` (B, K·H), overwritten as scratch; adds parameter gradients
    /// and writes (or adds) `dInput` (B, in) when given: its first `dInputColumns` columns
    /// only when given (a model's dense features need no gradient, only its embeddings).
    ///
    /// Under the context's `GradNormTap`: `.combined` skips W's weight product; `.perTask`
    /// adds no parameter gradient, and when W is one of these layers it adds dW into the
    /// tap's buffer and stops there (`dInput` untouched).
    public func backward(dOutput: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, ldx: Int,
                         dInput: UnsafeMutablePointer<Float>?, lddx: Int, accumulateInput: Bool = false,
                         dInputColumns: Int? = nil,
                         batch: Int, params: ArenaView, grads: ArenaView, cache: ExpertBankCache) {
        precondition(dInputColumns.map { $0 >= 0 && $0 <= inputSize } ?? true, "dInputColumns outside 0...\(inputSize)")
        let k = numExperts
        let tap = cache.context.gradNormTap
        let perTask = tap.isPerTask
        var dy = dOutput
        for l in stride(from: units.count - 1, through: 0, by: -1) {
            let h = units[l]
            let inWidth = l == 0 ? inputSize : units[l - 1]
            var activated = UnsafePointer(cache.outputs[l].base)
            if !dropouts.isEmpty && cache.context.isTraining {
                dropouts[l].backward(dy, count: batch * k * h, mask: cache.masks[l].base)
                activated = UnsafePointer(cache.activated[l].base)
            }
            if norms.isEmpty {
                if perTask {
                    activation.backward(output: activated, gradient: dy, count: batch * k * h)
                } else {
                    // The activation's derivative and the bias gradient in one pass.
                    activation.backward(output: activated, gradient: dy, rows: batch, cols: k * h, ld: k * h,
                                        addingColumnSumsInto: grads[biases[l]])
                }
            } else {
                // The activation's derivative, batch norm and the bias gradient in two passes.
                norms[l].backward(dy, batch: batch, xhat: cache.xhat[l].base, invStd: cache.invStd[l].base,
                                  params: params, grads: grads, scratch: cache.normScratch[l],
                                  activation: activation, output: activated, dBias: grads[biases[l]],
                                  parameterGradients: !perTask)
            }
            let input = l == 0 ? x : UnsafePointer(cache.outputs[l - 1].base)
            let ldIn = l == 0 ? ldx : k * inWidth
            let isTap = tap.weight == weights[l]
            if perTask && isTap {
                addWeightGradient(layer: l, into: tap.dWeight!, dOutput: dy, input: input, ldx: ldIn, batch: batch)
                return
            }
            if !perTask && !(isTap && tap.mode == .combined) {
                addWeightGradient(layer: l, into: grads[weights[l]], dOutput: dy, input: input, ldx: ldIn, batch: batch)
            }
            let w = params[weights[l]]
            if l == 0 {
                // dx = dy W.
                if let dInput {
                    gemm(.none, .none, m: batch, n: dInputColumns ?? inWidth, k: k * h,
                         a: dy, lda: k * h, b: w, ldb: inWidth, beta: accumulateInput ? 1 : 0, c: dInput, ldc: lddx)
                }
            } else {
                let dPrev = cache.gradients[l - 1].base
                for e in 0..<k {
                    gemm(.none, .none, m: batch, n: inWidth, k: h,
                         a: dy + e * h, lda: k * h, b: w + e * h * inWidth, ldb: inWidth,
                         beta: 0, c: dPrev + e * inWidth, ldc: k * inWidth)
                }
                dy = dPrev
            }
        }
    }

    /// Adds layer l's weight gradient into `dWeight` (K, H_l, H_{l−1}): at layer 0 one product
    /// `dW (K·H, in) += dyᵀ x`; deeper, one per expert on its column slices.
    /// - dOutput: (B, K·H_l) after the activation's backward;  input: layer l's input, row stride `ldx`.
    @inline(__always)
    func addWeightGradient(layer l: Int, into dw: UnsafeMutablePointer<Float>, dOutput dy: UnsafePointer<Float>,
                           input: UnsafePointer<Float>, ldx: Int, batch: Int) {
        let k = numExperts, h = units[l]
        let inWidth = l == 0 ? inputSize : units[l - 1]
        if l == 0 {
            gemm(.transposed, .none, m: k * h, n: inWidth, k: batch,
                 a: dy, lda: k * h, b: input, ldb: ldx, beta: 1, c: dw, ldc: inWidth)
        } else {
            for e in 0..<k {
                gemm(.transposed, .none, m: h, n: inWidth, k: batch,
                     a: dy + e * h, lda: k * h, b: input + e * inWidth, ldb: ldx,
                     beta: 1, c: dw + e * h * inWidth, ldc: inWidth)
            }
        }
    }
}

/// The per-batch buffers of an `ExpertBank`.
public final class ExpertBankCache: @unchecked Sendable {
    /// The largest batch these buffers hold.
    public let capacity: Int
    /// Output of layer l for all experts: (B, K·H_l).
    public let outputs: [FloatBuffer]
    /// Gradient scratch for layer l's output (all but the last): (B, K·H_l).
    public let gradients: [FloatBuffer]

    /// Training or inference, state and dropout seeding.
    public let context: ForwardContext
    let xhat: [FloatBuffer], invStd: [FloatBuffer], masks: [FloatBuffer], activated: [FloatBuffer]
    let normScratch: [BatchNormScratch]

    init(bank: ExpertBank, batch: Int, context: ForwardContext) {
        capacity = batch
        self.context = context
        let k = bank.numExperts
        outputs = bank.units.map { FloatBuffer(count: batch * k * $0) }
        gradients = bank.units.dropLast().map { FloatBuffer(count: batch * k * $0) }
        xhat = bank.options.batchNorm ? bank.units.map { FloatBuffer(count: batch * k * $0) } : []
        invStd = bank.options.batchNorm ? bank.units.map { FloatBuffer(count: k * $0) } : []
        normScratch = bank.options.batchNorm ? bank.units.map { BatchNormScratch(width: k * $0) } : []
        masks = bank.options.dropout > 0 ? bank.units.map { FloatBuffer(count: batch * k * $0) } : []
        activated = bank.options.dropout > 0 ? bank.units.map { FloatBuffer(count: batch * k * $0) } : []
    }

    /// All experts' outputs (B, K·H).
    public var output: UnsafeMutablePointer<Float> { outputs[outputs.count - 1].base }
}
