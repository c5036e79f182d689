import Kernels

/// A stack of `Linear` layers, each followed by the same activation, with optional batch
/// normalisation (before the activation) and dropout (after it).
///
/// ```
/// h_0 = x,   h_l = Dropout(act(BN(h_{l-1} W_lᵀ + b_l)))   for l = 1 … L
/// ```
/// With `outputSize`, a final linear layer without activation maps to that width (a tower's
/// logit). Layer l's tensors are `<name>.<l>.weight/bias` and, with batch normalisation,
/// `<name>.<l>.bn.weight/bias`. The caller owns an `MLPCache` per batch size.
public struct MLP: Sendable {
    /// Input width.
    public let inputSize: Int
    /// The hidden widths.
    public let units: [Int]
    /// The activation after each hidden layer.
    public let activation: Activation
    /// The hidden layers, then the optional output layer.
    public let layers: [Linear]
    /// Whether the last layer is a linear output layer without activation.
    public let hasOutputLayer: Bool
    /// Batch normalisation and dropout settings.
    public let options: MLPOptions
    let norms: [BatchNorm]
    let dropouts: [Dropout]

    /// The width of the MLP's output.
    public var outputSize: Int { layers.last?.outputSize ?? inputSize }

    /// Declares `<name>.<l>.weight/bias` (and batch-norm tensors) for each layer in `layout`.
    public init(_ name: String, inputSize: Int, units: [Int], activation: Activation = .relu,
                outputSize: Int? = nil, options: MLPOptions = MLPOptions(), role: ParameterRole, layout: ParameterLayout) {
        precondition(!units.isEmpty || outputSize != nil, "MLP \(name) needs at least one layer")
        self.inputSize = inputSize
        self.units = units
        self.activation = activation
        self.options = options
        var layers: [Linear] = [], norms: [BatchNorm] = [], dropouts: [Dropout] = []
        var width = inputSize
        for (l, h) in units.enumerated() {
            layers.append(Linear("\(name).\(l)", inputSize: width, outputSize: h, role: role, layout: layout))
            if options.batchNorm { norms.append(BatchNorm("\(name).\(l).bn", width: h, role: role, layout: layout)) }
            if options.dropout > 0 { dropouts.append(Dropout("\(name).\(l)", probability: options.dropout)) }
            width = h
        }
        if let outputSize {
            layers.append(Linear("\(name).\(units.count)", inputSize: width, outputSize: outputSize, role: role,
                                 layout: layout))
        }
        self.layers = layers
        self.norms = norms
        self.dropouts = dropouts
        hasOutputLayer = outputSize != nil
    }

    /// Allocates the activations and gradient scratch for up to `batch` rows.
    public func makeCache(batch: Int, context: ForwardContext = ForwardContext()) -> MLPCache {
        MLPCache(mlp: self, batch: batch, context: context)
    }

    @inline(__always)
    private func isHidden(_ l: Int) -> Bool { !(hasOutputLayer && l == layers.count - 1) }

    /// Runs the layers; the result is `cache.output` (B, outputSize).
    /// - input: (B, in) with row stride `ldx`, kept alive until `backward`.
    public func forward(input x: UnsafePointer<Float>, ldx: Int, batch: Int, params: ArenaView, cache: MLPCache) {
        precondition(batch <= cache.capacity, "batch \(batch) exceeds the MLP cache's \(cache.capacity)")
        let context = cache.context
        var input = x
        var ld = ldx
        for l in 0..<layers.count {  // index loop: `enumerated()` allocates in debug builds
            let layer = layers[l]
            let out = cache.outputs[l].base
            let n = layer.outputSize
            layer.forward(output: out, ldy: n, input: input, ldx: ld, batch: batch, params: params)
            if isHidden(l) {
                if norms.isEmpty {
                    activation.forward(out, count: batch * n)
                } else {
                    norms[l].forward(out, batch: batch, xhat: cache.xhat[l].base, invStd: cache.invStd[l].base,
                                     params: params, context: context, scratch: cache.normScratch[l],
                                     activation: activation)
                }
                if !dropouts.isEmpty && context.isTraining {
                    cache.activated[l].base.update(from: out, count: batch * n)
                    dropouts[l].forward(out, batch: batch, width: n, mask: cache.masks[l].base, context: context)
                }
            }
            input = UnsafePointer(out)
            ld = n
        }
    }

    /// Back-propagates `dOutput` (B, outputSize), which it overwrites as scratch; adds the
    /// parameter gradients and writes (or adds) `dInput` (B, in) when given.
    ///
    /// Under the context's `GradNormTap`: `.combined` skips W's weight product; `.perTask`
    /// adds no parameter gradient, and when W is one of these layers it adds dW into the
    /// tap's buffer and stops there (`dInput` untouched).
    public func backward(dOutput: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, ldx: Int,
                         dInput: UnsafeMutablePointer<Float>?, lddx: Int, accumulateInput: Bool = false,
                         batch: Int, params: ArenaView, grads: ArenaView, cache: MLPCache) {
        let context = cache.context
        let tap = context.gradNormTap
        let perTask = tap.isPerTask
        var dy = dOutput
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[l]
            let n = layer.outputSize
            if isHidden(l) {
                var activated = UnsafePointer(cache.outputs[l].base)
                if !dropouts.isEmpty && context.isTraining {
                    dropouts[l].backward(dy, count: batch * n, mask: cache.masks[l].base)
                    activated = UnsafePointer(cache.activated[l].base)
                }
                if norms.isEmpty {
                    activation.backward(output: activated, gradient: dy, count: batch * n)
                } else {
                    norms[l].backward(dy, batch: batch, xhat: cache.xhat[l].base, invStd: cache.invStd[l].base,
                                      params: params, grads: grads, scratch: cache.normScratch[l],
                                      activation: activation, output: activated, parameterGradients: !perTask)
                }
            }
            let inputPtr: UnsafePointer<Float> = l == 0 ? x : UnsafePointer(cache.outputs[l - 1].base)
            let ldIn = l == 0 ? ldx : layers[l - 1].outputSize
            if perTask && tap.weight == layer.weight {
                layer.addWeightGradient(into: tap.dWeight!, dOutput: dy, lddy: n, input: inputPtr, ldx: ldIn, batch: batch)
                return
            }
            let weightGradient = !perTask && !tap.taps(layer.weight, in: .combined)
            if l == 0 {
                layer.backward(dInput: dInput, lddx: lddx, accumulateInput: accumulateInput, dOutput: dy,
                               lddy: n, input: inputPtr, ldx: ldIn, batch: batch, params: params, grads: grads,
                               weightGradient: weightGradient, biasGradient: !perTask)
            } else {
                let dPrev = cache.gradients[l - 1].base
                layer.backward(dInput: dPrev, lddx: layer.inputSize, dOutput: dy, lddy: n,
                               input: inputPtr, ldx: ldIn, batch: batch, params: params, grads: grads,
                               weightGradient: weightGradient, biasGradient: !perTask)
                dy = dPrev
            }
        }
    }
}

/// The per-batch buffers of an `MLP`: each layer's output, a gradient scratch per hidden
/// layer, and (with the options on) batch-norm and dropout caches.
public final class MLPCache: @unchecked Sendable {
    /// The largest batch these buffers hold.
    public let capacity: Int
    /// Training or inference, state and dropout seeding.
    public let context: ForwardContext
    /// Output of layer l (after dropout): (B, width_l).
    public let outputs: [FloatBuffer]
    /// Gradient scratch for the output of layer l (all but the last): (B, width_l).
    public let gradients: [FloatBuffer]
    let xhat: [FloatBuffer], invStd: [FloatBuffer], masks: [FloatBuffer], activated: [FloatBuffer]
    let normScratch: [BatchNormScratch]

    init(mlp: MLP, batch: Int, context: ForwardContext) {
        capacity = batch
        self.context = context
        outputs = mlp.layers.map { FloatBuffer(count: batch * $0.outputSize) }
        gradients = mlp.layers.dropLast().map { FloatBuffer(count: batch * $0.outputSize) }
        let hidden = mlp.units
        xhat = mlp.options.batchNorm ? hidden.map { FloatBuffer(count: batch * $0) } : []
        invStd = mlp.options.batchNorm ? hidden.map { FloatBuffer(count: $0) } : []
        normScratch = mlp.options.batchNorm ? hidden.map { BatchNormScratch(width: $0) } : []
        masks = mlp.options.dropout > 0 ? hidden.map { FloatBuffer(count: batch * $0) } : []
        activated = mlp.options.dropout > 0 ? hidden.map { FloatBuffer(count: batch * $0) } : []
    }

    /// The MLP's output (B, outputSize).
    public var output: UnsafeMutablePointer<Float> { outputs[outputs.count - 1].base }
}
