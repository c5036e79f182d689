import Kernels
import Layers
import Models
import Glibc

/// MetaBalance's choice of which auxiliary gradients to rescale (He et al., WWW 2022, §4.3).
public enum MetaBalanceStrategy: String, Sendable, Codable, CaseIterable {
    /// Shrink only auxiliary gradients larger than the target's.
    case A
    /// Enlarge only auxiliary gradients smaller than the target's.
    case B
    /// Rescale both (the paper's default).
    case C
}

/// MetaBalance settings: relax factor r, moving-average factor β, the target task, the strategy.
///
/// ```
/// He et al., "MetaBalance: Improving Multi-Task Recommendations via Adapting Gradient
/// Magnitudes of Auxiliary Tasks", WWW 2022, Algorithm 1.
/// for every shared tensor θ and task i:  m_i ← β·m_i + (1 − β)·‖∇_θ L_i‖
/// for every auxiliary task i (if the strategy applies):
///     ∇_θ L_i ← ∇_θ L_i · (m_target / m_i)·r + ∇_θ L_i · (1 − r)
/// ∇_θ L = ∇_θ L_target + Σ_aux ∇_θ L_i;   task-specific parameters keep their own gradients
/// ```
public struct MetaBalance: Sendable, Equatable, Codable {
    /// r in [0, 1]: 1 matches the auxiliary norms to the target's, 0 leaves them.
    public var relaxFactor: Float
    /// β in [0, 1): moving-average factor of the gradient norms.
    public var beta: Float
    /// The target task (the others are auxiliary).
    public var target: Int
    /// Which auxiliary gradients are rescaled.
    public var strategy: MetaBalanceStrategy

    /// The tutorial's `MetaBalance(relaxFactor:beta:)`, target the first task, strategy C.
    public init(relaxFactor: Float = 0.7, beta: Float = 0.9, target: Int = 0, strategy: MetaBalanceStrategy = .C) {
        precondition(relaxFactor >= 0 && relaxFactor <= 1, "relax factor must be in [0, 1], got \(relaxFactor)")
        precondition(beta >= 0 && beta < 1, "beta must be in [0, 1), got \(beta)")
        self.relaxFactor = relaxFactor
        self.beta = beta
        self.target = target
        self.strategy = strategy
    }
}
