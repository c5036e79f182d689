import Datasets
import Foundation
import Models

/// A model rebuilt from a checkpoint alone, with the config and the feature schema the
/// checkpoint carries: what `evaluate`, `predict` and `export` work from.
public struct CheckpointedModel {
    /// The run's config, as stored in the checkpoint.
    public let config: TrainConfig
    /// The feature schema (names, vocabulary sizes, embedding width) training used.
    public let features: Features
    /// The model with the checkpoint's weights and state (batch-norm running statistics).
    public let model: any MultiTaskModel

    /// Reads `path`, verifies every section, rebuilds the model the stored config describes
    /// (never larger than the file's sizes allow) and loads its weights.
    /// - Throws: `CheckpointError` naming the file and the section that is corrupt, missing or
    ///   disagrees with the stored config.
    public init(path: String) throws {
        let file = try CheckpointFile(path: path)
        try file.verifyAll()  // a corrupt file is refused whole, naming the bad section
        let (config, features) = try Checkpointer.readSetup(file)
        model = try Checkpointer.makeModel(for: file, features: features) { config.makeModel(features: $0) }
        try Checkpointer.loadWeights(file, into: model)
        self.config = config
        self.features = features
    }

    /// Loads the CSV at `path` with the checkpoint's feature schema and vocabulary (ids past it
    /// map to each field's out-of-vocabulary row, as in training): the label columns (the
    /// tasks', then the run's mask columns) when `withLabels`, else the features alone.
    /// - Throws: `DatasetError` naming the file, line and column of a bad value or a missing column.
    public func load(_ path: String, withLabels: Bool) throws -> TabularDataset {
        let d = config.data
        let schema = DatasetSchema(labels: withLabels ? d.labels + d.maskColumns : [],
                                   labelKinds: withLabels ? config.labelKinds : [],
                                   sparse: features.sparseNames, dense: features.denseNames)
        return try CSVReader().load(URL(fileURLWithPath: path), schema: schema, vocabulary: features.vocabularySizes)
    }
}
