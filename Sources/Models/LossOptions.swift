import Kernels
import Layers

/// Per-task loss settings for one step.
public struct LossOptions {
    /// Multiplies each task's gradient (1 / the task's sample count over the global batch).
    public var scales: UnsafePointer<Float>
    /// Positive-class weight of each classification task (1 = none).
    public var positiveWeights: UnsafePointer<Float>
    /// (B, T): 1 where a sample is in the task's sample space, 0 elsewhere; nil = all samples.
    public var masks: UnsafePointer<Float>?

    /// Bundles the per-task settings (the pointers must stay valid during `loss`).
    public init(scales: UnsafePointer<Float>, positiveWeights: UnsafePointer<Float>, masks: UnsafePointer<Float>?) {
        self.scales = scales
        self.positiveWeights = positiveWeights
        self.masks = masks
    }
}
