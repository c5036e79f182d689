import Collectives
import Foundation
import Datasets
import Evaluation
import Kernels
import MallocCounter
import Models
import Testing
@testable import Training

/// The trainer: learning, determinism, data slicing, task weights, no allocation per step.
struct MTLTrainerTests {
    @Test(arguments: ["mmoe", "shared_bottom", "esmm", "ple", "aitm"])
    func lossFallsAndAUCRises(kind: String) throws {
        let generator = try SyntheticAliCCP(.init(trainRows: 30_000, validationRows: 10_000, testRows: 1, seed: 3,
                                              scale: 0.01))
        let train = generator.generate(.train, rows: 30_000).dataset
        let (val, truth) = generator.generate(.validation, rows: 10_000)
        let oracle = rocAUC(scores: truth.pCTR, labels: truth.clicks)!
        let f = TrainerFixtures.features(train)
        let model: any MultiTaskModel
        switch kind {
        case "mmoe": model = TrainerFixtures.mmoe(train)
        case "shared_bottom": model = TrainerFixtures.sharedBottom(train)
        // ESMM's towers read the raw input: tiny ReLU towers can die early, so wider ones.
        case "esmm": model = ESMM(features: f, towerUnits: [64, 32], embeddingInitStd: 0.01)
        case "ple": model = PLE(features: f, expertUnits: [16, 8], numExperts: 1, numLayers: 2, numSharedExperts: 1,
                                taskTypes: [.classification, .classification], towerUnits: [8], embeddingInitStd: 0.01)
        default: model = AITM(features: f, towerUnits: [16, 8], embeddingInitStd: 0.01)
        }
        model.initialize(seed: 1)
        let before = evaluateMultiTask(model, val)
        let trainer = MTLTrainer(model: model, optimizer: Adam(learningRate: 5e-3), epochs: 2, batchSize: 256, seed: 5)
        trainer.progressLine = nil
        trainer.log = { _ in }
        let history = try trainer.fit(train: train, validation: val)
        let after = history.last!.validation
        print("\(kind): click AUC \(before[0].auc!) -> \(after[0].auc!) (oracle \(oracle)), purchase \(before[1].auc!) -> \(after[1].auc!)")
        // ~240 Adam steps on a planted signal: the click AUC must climb most of the way from
        // its untrained value to the oracle's, and the training loss must fall.
        #expect(after[0].auc! > before[0].auc! + 0.05)
        #expect(after[0].auc! > oracle - 0.13, "click AUC \(after[0].auc!) vs oracle \(oracle)")
        #expect(after[1].auc! > 0.6, "purchase AUC \(after[1].auc!)")
        #expect(history.last!.trainLoss[0] < history.first!.trainLoss[0])
    }

    /// A task with a sample space (a CVR model trained on clicks) is also scored over its space:
    /// the extra entry equals the metrics of the clicked rows alone, and early stopping reads it.
    @Test func sampleSpaceMetricsScoreOnlyTheSpace() throws {
        let data = TrainerFixtures.data(rows: 4_000)
        let model = TrainerFixtures.sharedBottom(data)
        let metrics = evaluateMultiTask(model, data, sampleSpaces: [nil, 0])
        #expect(metrics.map(\.task) == ["click", "purchase", "purchase (on click = 1)"])
        let predictions = try predictMultiTask(model, data)
        let clicks = data.labels(task: 0), purchases = data.labels(task: 1)
        var scores: [Float] = [], labels: [Float] = []
        for i in 0..<data.count where clicks[i] == 1 {
            scores.append(predictions[i * 2 + 1])
            labels.append(purchases[i])
        }
        let expected = binaryMetrics(scores: scores, labels: labels)
        #expect(metrics[2].count == Int(clicks.reduce(0, +)) && metrics[2].count > 50)
        #expect(metrics[2].auc == expected.auc && metrics[2].logLoss == expected.logLoss)
        #expect(metrics[1].count == data.count)
        let trainer = MTLTrainer(model: model, optimizer: Adam(), epochs: 1, batchSize: 128, seed: 9)
        trainer.sampleSpaces = [nil, 0]
        // Keyed by task and sample space, not by position: a record listing them in another
        // order gives the same answers.
        let record = EpochRecord(epoch: 1, trainLoss: [0, 0], validation: metrics.reversed(), seconds: 0, samplesPerSecond: 0)
        #expect(trainer.validationMetrics(ofTask: 0, in: record) == metrics[0])
        #expect(trainer.validationMetrics(ofTask: 1, in: record) == metrics[2])
        #expect(metrics[2].taskIndex == 1 && metrics[2].onlyWhere == "click" && metrics[1].onlyWhere == nil)
    }

    @Test func sameSeedSameParametersToTheLastBit() throws {
        let data = TrainerFixtures.data(rows: 3_000)
        func run() throws -> ([Float], [Float]) {
            let model = TrainerFixtures.mmoe(data)
            let trainer = MTLTrainer(model: model, optimizer: Adam(), epochs: 1, batchSize: 128, seed: 9)
            trainer.progressLine = nil
            trainer.log = { _ in }
            _ = try trainer.fit(train: data)
            return (model.parameters.toArray(), model.embeddings.weights.toArray())
        }
        let a = try run(), b = try run()
        #expect(a.0 == b.0 && a.1 == b.1)
    }

    @Test func permutationIsSeededAndSlicesCoverTheBatch() {
        let data = TrainerFixtures.data(rows: 100)
        let model = TrainerFixtures.mmoe(data)
        let t = MTLTrainer(model: model, optimizer: Adam(), epochs: 1, batchSize: 8, seed: 1)
        let p1 = t.permutation(epoch: 1, count: 100)
        #expect(p1.sorted() == Array(0..<100) && p1 != Array(0..<100))
        #expect(p1 == t.permutation(epoch: 1, count: 100) && p1 != t.permutation(epoch: 2, count: 100))
        #expect(t.localRange(globalCount: 8) == 0..<8, "one rank takes the whole batch")
    }

    /// A communicator that claims to be rank `rank` of `size` (collectives are not called).
    final class FakeRank: Communicator, @unchecked Sendable {
        let rank: Int, size: Int
        init(rank: Int, size: Int) { self.rank = rank; self.size = size }
        func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {}
        func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {}
        func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {}
        func broadcast(bytes buffer: UnsafeMutableRawPointer, count: Int, root: Int) throws {}
        func allGatherV(_ send: UnsafePointer<Float>, count: Int) throws -> [Float] { [] }
        func allGatherV(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>,
                        capacity: Int, counts: UnsafeMutablePointer<Int32>) throws -> Int { 0 }
        func allGather(bytes send: UnsafeRawPointer, count: Int, into receive: UnsafeMutableRawPointer) throws {}
        func barrier() throws {}
        func abort(code: Int32, message: String) -> Never { fatalError(message) }
    }

    /// Every rank's slices of every global batch of an epoch are disjoint and cover the data.
    @Test(arguments: [2, 3, 4])
    func shardsAreDisjointAndCoverTheData(size: Int) {
        let data = TrainerFixtures.data(rows: 1000)
        let batch = 12 * size
        var seen = [Int](repeating: 0, count: data.count)
        for rank in 0..<size {
            let t = MTLTrainer(model: TrainerFixtures.mmoe(data), optimizer: Adam(), epochs: 1, batchSize: batch,
                               communicator: FakeRank(rank: rank, size: size), seed: 4)
            let order = t.permutation(epoch: 1, count: data.count)
            var start = 0
            while start < data.count {
                let n = min(batch, data.count - start)
                for i in t.localRange(globalCount: n) { seen[order[start + i]] += 1 }
                start += n
            }
        }
        #expect(seen.allSatisfy { $0 == 1 }, "every row exactly once per epoch over \(size) ranks")
    }

    @Test func zeroTaskWeightLeavesThatTowerUntouched() throws {
        let data = TrainerFixtures.data(rows: 1_000)
        let model = TrainerFixtures.mmoe(data)
        let tower1 = model.layout.taskRanges[1]
        let before = Array(model.parameters.toArray()[tower1])
        let trainer = MTLTrainer(model: model, optimizer: Adam(), epochs: 1, batchSize: 100, taskWeights: [1, 0])
        trainer.progressLine = nil
        trainer.log = { _ in }
        _ = try trainer.fit(train: data)
        #expect(Array(model.parameters.toArray()[tower1]) == before)
        #expect(Array(model.parameters.toArray()[model.layout.taskRanges[0]]) != before.prefix(0).map { $0 } )
    }

    @Test func taskSpecificLearningRateZeroFreezesThatTask() throws {
        let data = TrainerFixtures.data(rows: 1_000)
        let model = TrainerFixtures.sharedBottom(data)
        let r0 = model.layout.taskRanges[0], r1 = model.layout.taskRanges[1]
        let before = model.parameters.toArray()
        let trainer = MTLTrainer(model: model, optimizer: Adam(), epochs: 1, batchSize: 100, taskSpecificLR: [0, nil])
        trainer.progressLine = nil
        trainer.log = { _ in }
        _ = try trainer.fit(train: data)
        let after = model.parameters.toArray()
        #expect(Array(after[r0]) == Array(before[r0]))
        #expect(Array(after[r1]) != Array(before[r1]))
        #expect(Array(after[0..<model.layout.sharedCount]) != Array(before[0..<model.layout.sharedCount]))
    }

    #if DEBUG
    static let optimized = false
    #else
    static let optimized = true
    #endif

    /// Counted with the MallocCounter interposer, per thread. Unoptimised builds allocate for
    /// iterator and closure scaffolding the optimiser removes, so the count is only meaningful
    /// (and only checked) in the release build the README's test command uses.
    @Test(.enabled(if: optimized, "allocation counts are checked in optimized builds (swift test -c release)"))
    func trainingStepDoesNotAllocate() throws {
        let data = TrainerFixtures.data(rows: 2_000)
        BLASThreads.set(1)
        let ple = PLE(features: TrainerFixtures.features(data), expertUnits: [16, 8], numExperts: 1, numLayers: 2,
                      numSharedExperts: 1, taskTypes: [.classification, .classification], towerUnits: [8])
        let cases: [(any MultiTaskModel, TaskWeightingMethod)] = [
            (TrainerFixtures.mmoe(data), .fixed(nil)), (TrainerFixtures.sharedBottom(data), .fixed(nil)),
            (TrainerFixtures.mmoe(data), .uncertainty), (ple, .uncertainty),
            (TrainerFixtures.mmoe(data), .gradNorm(alpha: 1.5, learningRate: 0.01, tensors: nil)),
            (TrainerFixtures.sharedBottom(data), .gradNorm(alpha: 1.5, learningRate: 0.01, tensors: nil)),
            (ple, .gradNorm(alpha: 1.5, learningRate: 0.01, tensors: nil)),
            (TrainerFixtures.mmoe(data), .metaBalance(MetaBalance())),
            (TrainerFixtures.sharedBottom(data), .metaBalance(MetaBalance())),
        ]
        for (model, method) in cases {
            let trainer = MTLTrainer(model: model, optimizer: Adam(), epochs: 1, batchSize: 256, taskWeighting: method)
            let order = trainer.permutation(epoch: 1, count: data.count)
            var losses = [0.0, 0.0]
            try order.withUnsafeBufferPointer { p in
                // Warm up once (first-touch paths), then count five steps on this thread.
                try trainer.trainStep(data, globalRows: UnsafeBufferPointer(rebasing: p[0..<256]), losses: &losses)
                malloc_counter_reset()
                for s in 1...5 {
                    try trainer.trainStep(data, globalRows: UnsafeBufferPointer(rebasing: p[(s * 256)..<((s + 1) * 256)]),
                                          losses: &losses)
                }
                let count = malloc_counter_thread_count()
                #expect(count == 0, "\(model.kind) \(method.name): \(count) heap allocations in 5 training steps")
            }
        }
    }
}
