import Collectives
import Foundation
import Datasets
import Kernels
import Layers
import Models

/// Where training stands, beside the parameters and optimizer state: what a resume needs.
public struct TrainingProgress: Codable, Sendable, Equatable {
    /// Optimizer steps taken.
    public var globalStep = 0
    /// The epoch in progress (from 1).
    public var epoch = 1
    /// Steps already taken in `epoch`.
    public var stepInEpoch = 0
    /// Per-task loss sums over the samples of `epoch` so far.
    public var epochLossSums: [Double] = []
    /// Samples of `epoch` so far.
    public var epochSeen = 0
    /// Finished epochs.
    public var history: [EpochRecord] = []
    /// Best early-stopping score so far, and its epoch.
    public var bestScore: Double?
    /// The epoch of `bestScore`.
    public var bestEpoch: Int?
    /// Epochs since the best one.
    public var epochsWithoutImprovement = 0
    /// Whether early stopping ended training.
    public var stopped = false
    /// Per-task loss sums over the samples since the last step report of `epoch`
    /// (`MTLTrainer.onStep`), so that a resumed run reports the same means.
    public var windowLossSums: [Double] = []
    /// Samples since the last step report of `epoch`.
    public var windowSeen = 0

    /// A fresh start.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case globalStep, epoch, stepInEpoch, epochLossSums, epochSeen, history, bestScore, bestEpoch
        case epochsWithoutImprovement, stopped, windowLossSums, windowSeen
    }

    /// Decodes a checkpoint's progress; one written before step reports had windows (no
    /// `windowLossSums`) resumes with an empty window.
    /// - Throws: `DecodingError` when a field is missing or of the wrong type.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        globalStep = try c.decode(Int.self, forKey: .globalStep)
        epoch = try c.decode(Int.self, forKey: .epoch)
        stepInEpoch = try c.decode(Int.self, forKey: .stepInEpoch)
        epochLossSums = try c.decode([Double].self, forKey: .epochLossSums)
        epochSeen = try c.decode(Int.self, forKey: .epochSeen)
        history = try c.decode([EpochRecord].self, forKey: .history)
        bestScore = try c.decodeIfPresent(Double.self, forKey: .bestScore)
        bestEpoch = try c.decodeIfPresent(Int.self, forKey: .bestEpoch)
        epochsWithoutImprovement = try c.decode(Int.self, forKey: .epochsWithoutImprovement)
        stopped = try c.decode(Bool.self, forKey: .stopped)
        windowLossSums = try c.decodeIfPresent([Double].self, forKey: .windowLossSums) ?? []
        windowSeen = try c.decodeIfPresent(Int.self, forKey: .windowSeen) ?? 0
    }
}

extension TrainingProgress {
    /// Sizes the loss sums for `t` tasks (a fresh run; a resumed one keeps its own).
    mutating func prepareSums(tasks t: Int) {
        if epochLossSums.count != t { epochLossSums = Array(repeating: 0, count: t) }
        if windowLossSums.count != t {
            windowLossSums = Array(repeating: 0, count: t)
            windowSeen = 0
        }
    }

    /// Counts a step of `rows` rows with per-task mean `losses` (after `trainStep`).
    mutating func record(losses: [Double], rows: Int) {
        stepInEpoch += 1
        epochSeen += rows
        for i in 0..<losses.count {
            epochLossSums[i] += losses[i] * Double(rows)
            windowLossSums[i] += losses[i] * Double(rows)
        }
        windowSeen += rows
    }

    /// Moves to the next epoch's first step with empty sums.
    mutating func startNextEpoch() {
        epoch += 1
        stepInEpoch = 0
        epochSeen = 0
        windowSeen = 0
        for i in 0..<epochLossSums.count { epochLossSums[i] = 0 }
        for i in 0..<windowLossSums.count { windowLossSums[i] = 0 }
    }
}
