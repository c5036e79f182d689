import Foundation
import Kernels
import TensorBoard

/// `run.json`: what a run is, written by rank 0 into `output_dir` before its first step (and
/// again on a resume), for `rechub report` and other readers of the run folder.
///
/// ```
/// {"model": "mmoe", "tasks": ["click", "purchase"], "config": {…}, "oracle_auc": {"click": 0.71, …},
///  "blas_core": "Haswell", "gemm_backend": "openblas", "precision": "fp32", "cpu": "…", "ranks": 2, "started_at": "2025-01-31T12:00:00Z"}
/// ```
public struct RunInfo: Sendable, Encodable {
    /// The model kind (`config.model`).
    public var model: String
    /// The task names (label columns), in task order.
    public var tasks: [String]
    /// The resolved config; its `output_dir` and `checkpoint_dir` absolute, so a resume from
    /// any folder finds the run's checkpoints through this file.
    public var config: TrainConfig
    /// The test split's oracle AUC per task when the data was generated (with
    /// `purchase_given_click` when known), else nil (left out of the file).
    public var oracleAUC: [String: Double]?
    /// OpenBLAS's kernel set.
    public var blasCore: String
    /// The library behind the products (`GEMMBackend`) and their input precision.
    public var gemmBackend: String, precision: String
    /// "<gemm_backend> <precision>" of this run.
    public var products: String { "\(gemmBackend) \(precision)" }
    /// Which products ran from which step ("mkl bf16" from 0, "openblas fp32" from 30, …): one
    /// entry, or one more each time a resume changed them (`continuing(_:atStep:)`).
    public var productsHistory: [ProductsSegment]

    /// Products that ran from a step on.
    public struct ProductsSegment: Sendable, Codable, Equatable {
        public var fromStep: Int
        /// "<gemm_backend> <precision>".
        public var products: String
        enum CodingKeys: String, CodingKey { case fromStep = "from_step", products }
    }
    /// The CPU's model name.
    public var cpu: String
    /// Ranks taking part.
    public var ranks: Int
    /// When this run (or resumed run) started, ISO 8601 in UTC.
    public var startedAt: String
    /// The run's identity: drawn at its fresh start, carried by its every checkpoint and kept
    /// by its resumes (`Checkpointer.runID`). A resume into a folder whose run.json names
    /// another run sets that run's files aside. Nil before it is known.
    public var runID: String?

    enum CodingKeys: String, CodingKey {
        case model, tasks, config, cpu, ranks, precision
        case oracleAUC = "oracle_auc", blasCore = "blas_core", gemmBackend = "gemm_backend", startedAt = "started_at"
        case productsHistory = "products_history", runID = "run_id"
    }

    /// The run of `config` over `ranks` ranks starting now.
    public init(config: TrainConfig, ranks: Int, generation: GenerationReport?, startedAt: Date = Date()) {
        model = config.model.rawValue
        tasks = config.data.labels
        var resolved = config
        resolved.logging.outputDirectory = Self.absolute(config.logging.outputDirectory)
        resolved.checkpointing.directory = config.checkpointing.directory.map(Self.absolute)
        self.config = resolved
        oracleAUC = generation.map { $0.oracleAUC["test"] ?? [:] }
        blasCore = BLASCore.name
        gemmBackend = GEMMEngine.current.backend.rawValue
        precision = GEMMEngine.current.precision.rawValue
        productsHistory = [ProductsSegment(fromStep: 0, products: "\(gemmBackend) \(precision)")]
        cpu = CPUFeatures.modelName
        self.ranks = ranks
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        f.formatOptions = [.withInternetDateTime]
        self.startedAt = f.string(from: startedAt)
    }

    /// The file's bytes: JSON with sorted keys (paths' slashes unescaped), and a final newline.
    /// - Throws: `EncodingError` when a value cannot be encoded (a non-finite number).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// This run continuing, at `step`, a checkpoint whose lineage ran `history`: that history,
    /// with a new segment if the products changed. Returns the products the checkpoint's run
    /// ended with when they differ, for a note.
    public mutating func continuing(_ history: [ProductsSegment], atStep step: Int) -> String? {
        var h = history.filter { $0.fromStep <= step }
        if h.isEmpty { h = [ProductsSegment(fromStep: 0, products: "openblas fp32")] }
        let now = products, before = h.last!.products
        if before != now { h.append(ProductsSegment(fromStep: step, products: now)) }
        productsHistory = h
        return before != now ? before : nil
    }

    /// This run training no step on top of a checkpoint whose lineage ran `history` (a resume
    /// of a finished run): the history unchanged, and the products it ended with, whatever
    /// this resume asked for.
    public mutating func trainingNoStep(after history: [ProductsSegment]) {
        guard let last = history.last else { return }
        productsHistory = history
        let parts = last.products.split(separator: " ")
        if parts.count == 2 { (gemmBackend, precision) = (String(parts[0]), String(parts[1])) }
    }

    /// `path` against the current folder, without `.` and `..` parts (symbolic links kept).
    public static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The `run_id` of the run.json in `directory`; nil when there is none, it cannot be read,
    /// or it predates run identities.
    public static func storedRunID(inDirectory directory: String) -> String? {
        let path = (directory as NSString).appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["run_id"] as? String
    }

    /// Writes `run.json` into `directory` atomically.
    /// - Throws: `TensorBoardError.io` naming the file; `EncodingError`.
    public func write(toDirectory directory: String) throws {
        try AppendOnlyFile.replace((directory as NSString).appendingPathComponent("run.json"), with: encoded())
    }
}
