import Datasets
import Kernels
import Layers
import Models

/// The model architectures a config can name.
public enum ModelKind: String, Sendable, CaseIterable, Codable {
    case sharedBottom = "shared_bottom"
    case mmoe
    case esmm
    case ple
    case aitm
}
