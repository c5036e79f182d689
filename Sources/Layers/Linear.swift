import Kernels

/// A fully connected layer, its weight stored `(out, in)` as in PyTorch.
///
/// ```
/// y = x Wᵀ + b           x: (B, in)   W: (out, in)   b: (out)   y: (B, out)
/// dW += dyᵀ x            db += Σ_b dy            dx = dy W
/// ```
/// Initialised like PyTorch's `nn.Linear`: W, b ~ U(-1/√in, 1/√in).
public struct Linear: Sendable {
    /// Input width.
    public let inputSize: Int
    /// Output width.
    public let outputSize: Int
    /// The weight, `(out, in)`.
    public let weight: TensorID
    /// The bias, `(out)`, if the layer has one.
    public let bias: TensorID?

    /// Declares the layer's tensors as `<name>.weight` and `<name>.bias` in `layout`.
    public init(_ name: String, inputSize: Int, outputSize: Int, role: ParameterRole, bias: Bool = true,
                layout: ParameterLayout) {
        precondition(inputSize > 0 && outputSize > 0, "Linear \(name) needs positive sizes, got \(inputSize)→\(outputSize)")
        self.inputSize = inputSize
        self.outputSize = outputSize
        let bound = 1 / Float(inputSize).squareRoot()
        weight = layout.declare("\(name).weight", shape: [outputSize, inputSize], role: role,
                                initializer: .uniform(bound: bound))
        self.bias = bias
            ? layout.declare("\(name).bias", shape: [outputSize], role: role, initializer: .uniform(bound: bound))
            : nil
    }

    /// Computes `y = x Wᵀ + b` for `batch` rows.
    /// - input: (B, in) with row stride `ldx`;  output: (B, out) with row stride `ldy`.
    @inline(__always)
    public func forward(output y: UnsafeMutablePointer<Float>, ldy: Int, input x: UnsafePointer<Float>, ldx: Int,
                        batch: Int, params: ArenaView) {
        // The bias first, then the product with beta = 1: one pass over the output fewer.
        if let bias { Ops.broadcastRows(params[bias], into: y, rows: batch, cols: outputSize, ldy: ldy) }
        gemm(.none, .transposed, m: batch, n: outputSize, k: inputSize,
             a: x, lda: ldx, b: params[weight], ldb: inputSize, beta: bias == nil ? 0 : 1, c: y, ldc: ldy)
    }

    /// Adds the parameter gradients and writes (or adds) the input gradient.
    /// - dOutput: (B, out);  input: (B, in) as in forward;  dInput: (B, in) or nil when not needed.
    /// - accumulateInput: add into `dInput` instead of overwriting it.
    /// - weightGradient, biasGradient: false skips that product (a GradNorm pass, `GradNormTap`).
    @inline(__always)
    public func backward(dInput dx: UnsafeMutablePointer<Float>?, lddx: Int, accumulateInput: Bool = false,
                         dOutput dy: UnsafePointer<Float>, lddy: Int, input x: UnsafePointer<Float>, ldx: Int,
                         batch: Int, params: ArenaView, grads: ArenaView,
                         weightGradient: Bool = true, biasGradient: Bool = true) {
        if biasGradient, let bias { Ops.addColumnSums(dy, rows: batch, cols: outputSize, ldy: lddy, into: grads[bias]) }
        func products() {
            if weightGradient {
                addWeightGradient(into: grads[weight], dOutput: dy, lddy: lddy, input: x, ldx: ldx, batch: batch)
            }
            if let dx {
                gemm(.none, .none, m: batch, n: inputSize, k: outputSize,
                     a: dy, lda: lddy, b: params[weight], ldb: inputSize, beta: accumulateInput ? 1 : 0, c: dx, ldc: lddx)
            }
        }
        // dy feeds both products: in bf16, rounded once for the two.
        if weightGradient && dx != nil {
            GEMMEngine.withPinnedInput(dy, rows: batch, cols: outputSize, ld: lddy, products)
        } else {
            products()
        }
    }

    /// Adds the weight gradient `dW += dyᵀ x` (out, in) into `dWeight`.
    @inline(__always)
    public func addWeightGradient(into dWeight: UnsafeMutablePointer<Float>, dOutput dy: UnsafePointer<Float>, lddy: Int,
                                  input x: UnsafePointer<Float>, ldx: Int, batch: Int) {
        gemm(.transposed, .none, m: outputSize, n: inputSize, k: batch,
             a: dy, lda: lddy, b: x, ldb: ldx, beta: 1, c: dWeight, ldc: inputSize)
    }
}
