import Datasets
import Kernels
import Models
import Training

/// Small generated data and models shared by the trainer tests.
enum TrainerFixtures {
    /// Generated Ali-CCP-shaped data (in memory), small vocabularies.
    static func data(rows: Int, seed: UInt64 = 3, split: SyntheticAliCCP.Split = .train) -> TabularDataset {
        let g = try! SyntheticAliCCP(.init(trainRows: rows, validationRows: rows, testRows: rows, seed: seed, scale: 0.01))
        return g.generate(split, rows: rows).dataset
    }

    static func features(_ d: TabularDataset, dim: Int = 4) -> Features {
        Features(sparseNames: d.schema.sparse, vocabularySizes: d.vocabularySizes, embeddingDim: dim,
                 denseNames: d.schema.dense)
    }

    static func mmoe(_ d: TabularDataset, seed: UInt64 = 1) -> MMoE {
        let m = MMoE(features: features(d), expertUnits: [16, 8], numExperts: 3, numTasks: 2, towerUnits: [8],
                     embeddingInitStd: 0.01)
        m.initialize(seed: seed)
        return m
    }

    static func sharedBottom(_ d: TabularDataset, seed: UInt64 = 1) -> SharedBottom {
        let m = SharedBottom(features: features(d), hiddenUnits: [16, 8], taskHiddenUnits: [8], numTasks: 2,
                             embeddingInitStd: 0.01)
        m.initialize(seed: seed)
        return m
    }
}
