import Kernels
import Layers
import Models
import Glibc

/// How the tasks' losses and gradients are combined into one update.
public enum TaskWeightingMethod: Sendable, Equatable {
    /// Fixed weights w_t (equal when nil).
    case fixed([Float]?)
    /// Learned homoscedastic uncertainty per task (Kendall, Gal & Cipolla, CVPR 2018).
    case uncertainty
    /// GradNorm (Chen et al., ICML 2018) with asymmetry α, the weights' learning rate, and
    /// the names of the tensors W whose gradient norms are balanced (nil = the model's default).
    /// The weights are kept at or above a floor before renormalising (`gradNormWeightFloor`).
    case gradNorm(alpha: Float, learningRate: Float, tensors: [String]?)
    /// MetaBalance (He et al., WWW 2022).
    case metaBalance(MetaBalance)

    /// The config name (`task_weights_strategy`).
    public var name: String {
        switch self {
        case .fixed: return "fixed"
        case .uncertainty: return "uncertainty"
        case .gradNorm: return "gradnorm"
        case .metaBalance: return "metabalance"
        }
    }
}
