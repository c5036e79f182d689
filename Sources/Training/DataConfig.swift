import Datasets
import Kernels
import Layers
import Models

/// Where the data comes from: CSV files in the Ali-CCP layout, or a generated data set.
public struct DataConfig: Sendable, Codable, Equatable {
    /// Training CSV (required unless `generate` is given).
    public var train: String?
    /// Validation CSV, evaluated after each epoch.
    public var validation: String?
    /// Test CSV, evaluated at the end.
    public var test: String?
    /// Label columns, in task order.
    public var labels: [String] = ["click", "purchase"]
    /// Extra binary columns loaded beside the labels, for `task_sample_space`.
    public var maskColumns: [String] = []
    /// Sparse columns; nil = Ali-CCP's rule (every non-label column not starting with `D`).
    public var sparse: [String]?
    /// Dense columns; nil = Ali-CCP's rule (columns starting with `D`).
    public var dense: [String]?
    /// Vocabulary size per sparse column; nil = max id + 1 of the training file.
    public var vocabularySizes: [Int]?
    /// Whether to keep a binary cache of parsed CSVs.
    public var cache = true
    /// Where to put caches when the CSV's folder is not writable (default: beside the CSV, else none).
    public var cacheDirectory: String?
    /// Generate Ali-CCP-shaped data before training (files are reused when already there).
    public var generate: GenerateConfig?

    /// Ali-CCP's defaults: labels click and purchase, the `D` rule, caching on.
    public init() {}
}
