import Kernels
import Layers

/// One MLP tower per task, each ending in a single output (the task's logit).
///
/// ```
/// logit[b, t] = Tower_t(h_t[b])          h_t: (B, H)   logits: (B, T)
/// ```
/// Tower t's tensors are `towers.<t>.<l>.weight/bias`, all with role `.task(t)`.
public final class TaskTowers: @unchecked Sendable {
    /// The towers, by task.
    public let towers: [MLP]
    private var caches: [MLPCache] = []
    private var dColumn = FloatBuffer(count: 0)
    private var capacity = 0

    /// Declares T towers over inputs of width `inputSize`.
    public init(inputSize: Int, units: [Int], activation: Activation = .relu, options: MLPOptions = MLPOptions(),
                numTasks: Int, layout: ParameterLayout) {
        towers = (0..<numTasks).map {
            MLP("towers.\($0)", inputSize: inputSize, units: units, activation: activation, outputSize: 1,
                options: options, role: .task($0), layout: layout)
        }
    }

    /// Allocates buffers for up to `batch` rows.
    public func prepare(batch: Int, context: ForwardContext) {
        guard batch > capacity else { return }
        capacity = batch
        caches = towers.map { $0.makeCache(batch: batch, context: context) }
        dColumn = FloatBuffer(count: batch)
    }

    /// Runs tower `t` on `h` (B, H; row stride `ldh`) and writes column t of `logits` (B, T).
    @inline(__always)
    public func forward(task t: Int, input h: UnsafePointer<Float>, ldh: Int, batch: Int, params: ArenaView,
                        logits: UnsafeMutablePointer<Float>) {
        towers[t].forward(input: h, ldx: ldh, batch: batch, params: params, cache: caches[t])
        let out = caches[t].output
        let numTasks = towers.count
        for b in 0..<batch { logits[b * numTasks + t] = out[b] }
    }

    /// Back-propagates column t of `dLogits` through tower t; writes (or adds) `dInput` (B, H).
    @inline(__always)
    public func backward(task t: Int, dLogits: UnsafePointer<Float>, input h: UnsafePointer<Float>, ldh: Int,
                         dInput: UnsafeMutablePointer<Float>, lddx: Int, accumulateInput: Bool,
                         batch: Int, params: ArenaView, grads: ArenaView) {
        let numTasks = towers.count
        for b in 0..<batch { dColumn.base[b] = dLogits[b * numTasks + t] }
        towers[t].backward(dOutput: dColumn.base, input: h, ldx: ldh, dInput: dInput, lddx: lddx,
                           accumulateInput: accumulateInput, batch: batch, params: params, grads: grads,
                           cache: caches[t])
    }
}
