import Kernels

/// A stack of `Linear` layers, each followed by the same activation.
///
/// ```
/// h_0 = x,   h_l = act(h_{l-1} W_lᵀ + b_l)   for l = 1 … L
/// ```
/// With `outputSize`, a final linear layer without activation maps to that width (a
/// tower's logit). The caller owns an `MLPCache` per batch size; `forward` fills it.
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

    /// The width of the MLP's output.
    public var outputSize: Int { layers.last?.outputSize ?? inputSize }

    /// Declares `<name>.<l>.weight/bias` for each layer in `layout`.
    public init(_ name: String, inputSize: Int, units: [Int], activation: Activation = .relu,
                outputSize: Int? = nil, role: ParameterRole, layout: ParameterLayout) {
        precondition(!units.isEmpty || outputSize != nil, "MLP \(name) needs at least one layer")
        self.inputSize = inputSize
        self.units = units
        self.activation = activation
        var layers: [Linear] = []
        var width = inputSize
        for (l, h) in units.enumerated() {
            layers.append(Linear("\(name).\(l)", inputSize: width, outputSize: h, role: role, layout: layout))
            width = h
        }
        if let outputSize {
            layers.append(Linear("\(name).\(units.count)", inputSize: width, outputSize: outputSize, role: role,
                                 layout: layout))
        }
        self.layers = layers
        hasOutputLayer = outputSize != nil
    }

    /// Allocates the activations and gradient scratch for up to `batch` rows.
    public func makeCache(batch: Int) -> MLPCache { MLPCache(mlp: self, batch: batch) }

    @inline(__always)
    private func activation(of l: Int) -> Activation {
        hasOutputLayer && l == layers.count - 1 ? .identity : activation
    }

    /// Runs the layers; the result is `cache.output` (B, outputSize).
    /// - input: (B, in) with row stride `ldx`, kept alive until `backward`.
    public func forward(input x: UnsafePointer<Float>, ldx: Int, batch: Int, params: ArenaView, cache: MLPCache) {
        precondition(batch <= cache.capacity, "batch \(batch) exceeds the MLP cache's \(cache.capacity)")
        var input = x
        var ld = ldx
        for l in 0..<layers.count {  // index loop: `enumerated()` allocates in debug builds
            let layer = layers[l]
            let out = cache.outputs[l].base
            layer.forward(output: out, ldy: layer.outputSize, input: input, ldx: ld, batch: batch, params: params)
            activation(of: l).forward(out, count: batch * layer.outputSize)
            input = UnsafePointer(out)
            ld = layer.outputSize
        }
    }

    /// Back-propagates `dOutput` (B, outputSize), which it overwrites as scratch; adds the
    /// parameter gradients and writes (or adds) `dInput` (B, in) when given.
    public func backward(dOutput: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, ldx: Int,
                         dInput: UnsafeMutablePointer<Float>?, lddx: Int, accumulateInput: Bool = false,
                         batch: Int, params: ArenaView, grads: ArenaView, cache: MLPCache) {
        var dy = dOutput
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[l]
            activation(of: l).backward(output: cache.outputs[l].base, gradient: dy, count: batch * layer.outputSize)
            let inputPtr: UnsafePointer<Float> = l == 0 ? x : UnsafePointer(cache.outputs[l - 1].base)
            let ldIn = l == 0 ? ldx : layers[l - 1].outputSize
            if l == 0 {
                layer.backward(dInput: dInput, lddx: lddx, accumulateInput: accumulateInput, dOutput: dy,
                               lddy: layer.outputSize, input: inputPtr, ldx: ldIn, batch: batch,
                               params: params, grads: grads)
            } else {
                let dPrev = cache.gradients[l - 1].base
                layer.backward(dInput: dPrev, lddx: layer.inputSize, dOutput: dy, lddy: layer.outputSize,
                               input: inputPtr, ldx: ldIn, batch: batch, params: params, grads: grads)
                dy = dPrev
            }
        }
    }
}

/// The per-batch buffers of an `MLP`: each layer's output and a gradient scratch per hidden layer.
public final class MLPCache: @unchecked Sendable {
    /// The largest batch these buffers hold.
    public let capacity: Int
    /// Output of layer l: (B, width_l).
    public let outputs: [FloatBuffer]
    /// Gradient scratch for the output of layer l (all but the last): (B, width_l).
    public let gradients: [FloatBuffer]

    init(mlp: MLP, batch: Int) {
        capacity = batch
        outputs = mlp.layers.map { FloatBuffer(count: batch * $0.outputSize) }
        gradients = mlp.layers.dropLast().map { FloatBuffer(count: batch * $0.outputSize) }
    }

    /// The MLP's output (B, outputSize).
    public var output: UnsafeMutablePointer<Float> { outputs[outputs.count - 1].base }
}
