import Datasets
import Kernels
import Layers
import Models

/// How the tasks' losses are weighted (`task_weights_strategy`); the settings of each live
/// in `TrainConfig` and `TrainConfig.taskWeightingMethod` builds the method.
public enum TaskWeightingStrategy: String, Sendable, Codable, CaseIterable {
    /// Fixed weights (`task_weights`, default all 1).
    case fixed
    /// Kendall et al., CVPR 2018: learned homoscedastic uncertainty.
    case uncertainty
    /// Chen et al., ICML 2018: gradient normalisation on the last shared layer.
    case gradnorm
    /// He et al., WWW 2022: auxiliary gradients rescaled to the target task's.
    case metabalance
}
