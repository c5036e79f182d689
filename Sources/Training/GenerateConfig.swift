import Datasets
import Kernels
import Layers
import Models

/// Settings of the synthetic Ali-CCP generator when a config asks for generated data.
public struct GenerateConfig: Sendable, Equatable, Codable {
    /// Training rows.
    public var trainRows = 400_000
    /// Validation rows.
    public var validationRows = 50_000
    /// Test rows.
    public var testRows = 50_000
    /// Generator seed.
    public var seed: UInt64 = 7
    /// Vocabulary scale in (0, 1] (1 = about 100k users and 500k items).
    public var scale = 0.2
    /// Output folder.
    public var directory = "runs/data/generated"
    /// Mean click-through rate of the planted truth.
    public var clickRate = 0.04
    /// Mean P(purchase | click) of the planted truth.
    public var purchaseRateGivenClick = 0.08
    /// Selection bias in [0, 1): weight of the appeal shared by click and purchase on user and
    /// item ids (see `SyntheticAliCCP.Configuration.selectionBias`); 0 leaves the data unchanged.
    public var selectionBias = 0.0

    /// The defaults: 400k/50k/50k rows at scale 0.2, seed 7, CTR 4 %, CVR 8 % of clicks.
    public init() {}

    // The ranges a user may ask for, from a config (`data.generate.*`) or `rechub generate`
    // alike. They are narrower than what the generator itself accepts
    // (`SyntheticAliCCP.Configuration.validate`): rates past them give splits with too few
    // positives to score, and a scale under 1e-6 leaves fields with a single id.

    /// Rows per split.
    public static let rowsRange = 1...100_000_000
    /// Vocabulary scale.
    public static let scaleRange = 1e-6...1.0
    /// Mean planted click-through rate.
    public static let clickRateRange = 1e-4...0.5
    /// Mean planted P(purchase | click).
    public static let purchaseRateRange = 1e-4...0.9
    /// Selection bias.
    public static let selectionBiasRange = 0.0...0.99
}
