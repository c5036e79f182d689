import Foundation
import Testing
@testable import Datasets

/// Shared helpers of the Datasets tests: temporary directories, fixture files, the real sample
/// data in `../shared/data`, and an exact AUC.
enum TestSupport {
    /// The package root, three levels above this file (`Tests/DatasetsTests/TestSupport.swift`).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `<package root>/../shared/data` (or one level further up, for a package developed in a
    /// sub-folder), or nil when absent: tests that need it are skipped.
    static let sharedData: URL? = {
        let candidates = [packageRoot.appendingPathComponent("../shared/data").standardizedFileURL,
                          packageRoot.appendingPathComponent("../../shared/data").standardizedFileURL]
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("ali-ccp").path) }
    }()

    /// Whether the real sample data is present.
    static var hasSharedData: Bool { sharedData != nil }

    /// A file of the real sample data, e.g. `sample("ali-ccp/ali_ccp_train_sample.csv")`.
    static func sample(_ relative: String) -> URL {
        sharedData!.appendingPathComponent(relative)
    }

    /// Runs `body` with a fresh temporary directory, removed afterwards.
    static func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("rechub-datasets-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        return try body(dir)
    }

    /// Writes `text` to `name` in `directory` and returns its URL.
    @discardableResult
    static func write(_ text: String, to name: String, in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    /// The error `body` throws as a `DatasetError`, or nil.
    static func datasetError(_ body: () throws -> Void) -> DatasetError? {
        do {
            try body()
            return nil
        } catch let error as DatasetError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    /// Exact ROC AUC with ties counted as one half (Mann–Whitney U over average ranks).
    static func auc(scores: [Float], labels: [Float]) -> Double {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSumPositive = 0.0, positives = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let averageRank = Double(i + j) / 2 + 1
            for k in i...j where labels[order[k]] == 1 {
                rankSumPositive += averageRank
                positives += 1
            }
            i = j + 1
        }
        let negatives = Double(scores.count) - positives
        return (rankSumPositive - positives * (positives + 1) / 2) / (positives * negatives)
    }
}
