import Datasets
import Kernels
import Layers
import Models

/// A config key only some models read (`ArchitectureConfig.modelKeyTable`).
public struct ModelKey: Sendable {
    /// The key, e.g. `expert_units`.
    public let name: String
    /// The models that read it.
    public let models: [ModelKind]
    /// Whether it fixes a parameter's shape (then a checkpoint's fingerprint holds it).
    public let shape: Bool
    /// Reads the key into the config.
    let read: @Sendable (inout ArchitectureConfig, ConfigReader) throws -> Void
    /// The config's value of the key.
    public let value: @Sendable (ArchitectureConfig) -> ModelKeyValue

    init(_ name: String, _ models: [ModelKind], shape: Bool,
         read: @escaping @Sendable (inout ArchitectureConfig, ConfigReader) throws -> Void,
         value: @escaping @Sendable (ArchitectureConfig) -> ModelKeyValue) {
        self.name = name
        self.models = models
        self.shape = shape
        self.read = read
        self.value = value
    }
}

/// The value of a model key: layer widths, a count or a number.
public enum ModelKeyValue: Sendable, Equatable, CustomStringConvertible {
    /// Layer widths, e.g. [256, 128].
    case units([Int])
    /// A count, e.g. 8 experts.
    case count(Int)
    /// A number, e.g. AITM's α.
    case number(Float)

    /// As Swift prints it: "[256, 128]", "8", "0.6" (the checkpoint fingerprint's text).
    public var description: String {
        switch self {
        case .units(let u): return "\(u)"
        case .count(let n): return "\(n)"
        case .number(let x): return "\(x)"
        }
    }

    /// For JSON: an array of integers, an integer or a number.
    public var jsonValue: Any {
        switch self {
        case .units(let u): return u
        case .count(let n): return n
        case .number(let x): return Double("\(x)") ?? Double(x)
        }
    }
}
