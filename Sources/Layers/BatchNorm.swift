import CKernels
import Kernels

/// Batch normalisation over the columns of a (B, C) matrix, in place, as `torch.nn.BatchNorm1d`.
///
/// ```
/// training:  x̂ = (x − μ_B) / √(σ²_B + ε),  y = γ·x̂ + β     (σ²_B biased)
///            running_mean ← (1 − m)·running_mean + m·μ_B
///            running_var  ← (1 − m)·running_var + m·σ²_B·B/(B − 1)
/// inference: y = γ·(x − running_mean)/√(running_var + ε) + β
/// backward:  dγ = Σ dy·x̂,  dβ = Σ dy,  dx = γ/(B·√(σ²_B + ε))·(B·dy − Σdy − x̂·Σ(dy·x̂))
/// ```
/// Ioffe & Szegedy, "Batch Normalization", ICML 2015, Algorithm 1–2. ε = 1e-5, m = 0.1.
/// Under several ranks the statistics are each rank's local batch (no synchronisation).
public struct BatchNorm: Sendable {
    /// Number of columns C.
    public let width: Int
    let gamma: TensorID, beta: TensorID
    let runningMean: StateID, runningVar: StateID
    /// ε added to the variance, as `torch.nn.BatchNorm1d`'s default (ONNX export writes it).
    public static let epsilon: Float = 1e-5
    static let momentum: Float = 0.1

    /// Declares `<name>.weight` (γ, ones), `<name>.bias` (β, zeros) and the running statistics.
    public init(_ name: String, width: Int, shape: [Int]? = nil, role: ParameterRole, layout: ParameterLayout) {
        self.width = width
        let s = shape ?? [width]
        gamma = layout.declare("\(name).weight", shape: s, role: role, initializer: .ones)
        beta = layout.declare("\(name).bias", shape: s, role: role, initializer: .zeros)
        runningMean = layout.declareState("\(name).running_mean", count: width, initial: 0)
        runningVar = layout.declareState("\(name).running_var", count: width, initial: 1)
    }

    /// Normalises `x` (B, C) in place; in training, saves x̂ into `xhat` and 1/√(σ² + ε) into `invStd`.
    ///
    /// Row by row, in C at the CPU's widest vector level (`CKernels`, bit-identical on every
    /// CPU): column statistics are summed in Float over blocks of rows and the block sums in
    /// Double (`BatchNormScratch`), both moments in one pass shifted by the first row, so the
    /// result keeps the Double-accumulated statistics' accuracy.
    ///
    /// `activation` (default identity) is applied after the normalisation, in the same pass
    /// for ReLU: one pass over the output fewer than normalising and activating apart.
    ///
    /// `columns` (default all C) normalises a block of the layer's columns: `x` and `xhat` then
    /// hold just those columns, (B, columns.count) with row stride `ld` (default their count),
    /// while `invStd` and the parameters stay indexed by the layer's column. Columns are
    /// independent, so a layer normalised block by block (an expert's slice while it is still
    /// in cache, `ExpertBank`) gets the same bits as all at once.
    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, xhat: UnsafeMutablePointer<Float>,
                        invStd: UnsafeMutablePointer<Float>, params: ArenaView, context: ForwardContext,
                        scratch: BatchNormScratch, activation: Activation = .identity,
                        columns: Range<Int>? = nil, ld: Int? = nil) {
        let cols = columns ?? 0..<width, j0 = cols.lowerBound, c = cols.count, ld = ld ?? cols.count
        precondition(j0 >= 0 && cols.upperBound <= width && ld >= c,
                     "batch-norm columns \(cols) of \(width) with row stride \(ld)")
        precondition(scratch.width >= width, "batch-norm scratch of \(scratch.width) columns for \(width)")
        let invStd = invStd + j0, g = params[gamma] + j0, bt = params[beta] + j0
        let rm = context.state.base + context.stateOffset(runningMean) + j0
        let rv = context.state.base + context.stateOffset(runningVar) + j0
        if context.isTraining {
            // One pass for both moments, shifted by the first row: Σ(x − K), Σ(x − K)².
            let mean = scratch.a + j0, shift = scratch.b + j0
            let sums = scratch.sums + j0, squares = scratch.sums + width + j0
            for j in 0..<c { shift[j] = x[j] }
            rechub_bn_shifted_moments(sums, squares, mean, scratch.c + j0, x, shift, batch, c, ld, Self.block)
            let n = Double(batch)
            for j in 0..<c {
                let d = sums[j] / n
                mean[j] = Float(Double(shift[j]) + d)
                let variance = max(squares[j] / n - d * d, 0)
                invStd[j] = Float(1 / (variance + Double(Self.epsilon)).squareRoot())
                rm[j] = (1 - Self.momentum) * rm[j] + Self.momentum * mean[j]
                let unbiased = batch > 1 ? variance * Double(batch) / Double(batch - 1) : variance
                rv[j] = (1 - Self.momentum) * rv[j] + Self.momentum * Float(unbiased)
            }
            let relu = activation == .relu
            rechub_bn_normalize(x, xhat, mean, invStd, g, bt, batch, c, ld, relu ? 1 : 0)
            if !relu { activation.forward(x, rows: batch, cols: c, ld: ld) }
        } else {
            let inverse = scratch.b + j0
            for j in 0..<c { inverse[j] = 1 / (rv[j] + Self.epsilon).squareRoot() }
            rechub_bn_normalize_inference(x, rm, inverse, g, bt, batch, c, ld)
            activation.forward(x, rows: batch, cols: c, ld: ld)
        }
    }

    /// Turns `dy` (B, C) into dx in place; adds dγ and dβ.
    ///
    /// With `activation` and its forward output `y`, `dy` is first taken through the
    /// activation's derivative (for ReLU in the same pass as the column sums); with
    /// `dBias`, the column sums of dx (the gradient of the bias of the linear layer before)
    /// are added there in the last pass. `parameterGradients: false` adds neither dγ, dβ nor
    /// `dBias` (a GradNorm per-task pass, `GradNormTap`): only dx.
    ///
    /// `columns` (default all C) takes a block of the layer's columns as `forward` does: `dy`,
    /// `xhat` and `y` hold just those columns with row stride `ld`; `invStd`, `dBias` and the
    /// parameters stay indexed by the layer's column.
    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, xhat: UnsafePointer<Float>,
                         invStd: UnsafePointer<Float>, params: ArenaView, grads: ArenaView, scratch: BatchNormScratch,
                         activation: Activation = .identity, output y: UnsafePointer<Float>? = nil,
                         dBias: UnsafeMutablePointer<Float>? = nil, parameterGradients: Bool = true,
                         columns: Range<Int>? = nil, ld: Int? = nil) {
        let cols = columns ?? 0..<width, j0 = cols.lowerBound, c = cols.count, ld = ld ?? cols.count
        precondition(j0 >= 0 && cols.upperBound <= width && ld >= c,
                     "batch-norm columns \(cols) of \(width) with row stride \(ld)")
        precondition(scratch.width >= width, "batch-norm scratch of \(scratch.width) columns for \(width)")
        precondition(activation == .identity || activation == .relu || y != nil,
                     "the activation's backward needs its forward output")
        let dBias = parameterGradients ? dBias.map { $0 + j0 } : nil
        let invStd = invStd + j0, g = params[gamma] + j0, dg = grads[gamma] + j0, db = grads[beta] + j0
        let n = Float(batch)
        let sums = scratch.sums + j0, sumsX = scratch.sums + width + j0
        // ReLU's mask is recomputed from x̂ (γ·x̂ + β > 0, the forward's own arithmetic, so the
        // same bits) in both passes, which then need not read the output at all, and the sums
        // pass need not write the masked dy back.
        if let y, activation != .relu { activation.backward(output: y, gradient: dy, rows: batch, cols: c, ld: ld) }
        let reluGamma = activation == .relu ? UnsafePointer(g) : nil
        let reluBeta = activation == .relu ? UnsafePointer(params[beta] + j0) : nil
        let k = scratch.a + j0, sumDy = scratch.b + j0, sumDyX = scratch.c + j0
        rechub_bn_gradient_sums(sums, sumsX, k, sumDy, dy, xhat, reluGamma, reluBeta, batch, c, ld, Self.block)
        for j in 0..<c {
            sumDy[j] = Float(sums[j])
            sumDyX[j] = Float(sumsX[j])
            if parameterGradients {
                dg[j] += sumDyX[j]
                db[j] += sumDy[j]
            }
            k[j] = g[j] * invStd[j] / n
        }
        rechub_bn_input_gradient(dy, dBias, xhat, k, sumDy, sumDyX, reluGamma, reluBeta, n, batch, c, ld)
    }

    /// Rows per Float partial sum before it is added into the Double totals (the C passes'
    /// `block`). The passes go row by row, so memory is read in order: walking a column chunk
    /// down the rows instead strides by the row length, a power of two for the usual widths,
    /// and every row then falls in the same L1 set (that version took 2.4 ms a step on the
    /// tutorial MMoE).
    static let block = 32
}

/// Per-layer work space of `BatchNorm`: Double column sums and three Float column vectors,
/// allocated with the layer's cache so that a step allocates nothing.
public final class BatchNormScratch: @unchecked Sendable {
    /// Columns it serves.
    public let width: Int
    let sums: UnsafeMutablePointer<Double>
    let a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>

    /// Space for `width` columns.
    public init(width: Int) {
        self.width = width
        sums = .allocate(capacity: max(2 * width, 1))
        sums.initialize(repeating: 0, count: max(2 * width, 1))
        a = .allocate(capacity: max(3 * width, 1))
        a.initialize(repeating: 0, count: max(3 * width, 1))
        b = a + width
        c = a + 2 * width
    }

    deinit {
        sums.deallocate()
        a.deallocate()
    }
}
