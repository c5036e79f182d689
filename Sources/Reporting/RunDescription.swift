/// What `run.json` says about a training run: written once by rank 0 before the first step
/// (and again on a resume).
///
/// ```
/// {"model": "mmoe", "tasks": ["click", "purchase"], "config": {…}, "oracle_auc": {"click": 0.71},
///  "blas_core": "SkylakeX", "cpu": "…", "ranks": 2, "started_at": "2025-01-01T12:00:00Z"}
/// ```
public struct RunDescription: Sendable, Equatable {
    /// The architecture (`mmoe`, `shared_bottom`, `esmm`, `ple`, `aitm`).
    public var model: String
    /// The task (label) names, in the model's task order.
    public var tasks: [String]
    /// The resolved training config, as the trainer encoded it.
    public var config: JSONValue
    /// The test split's oracle AUC per task when the data was generated (empty otherwise);
    /// may include `purchase_given_click`, the true pCVR's AUC over clicked impressions.
    public var oracleAUC: [String: Double]
    /// The OpenBLAS kernel set the run used.
    public var blasCore: String?
    /// The products' backend and precision ("mkl bf16"; nil in runs from before the keys).
    public var products: String?
    /// The CPU's model name.
    public var cpu: String?
    /// The number of MPI ranks.
    public var ranks: Int?
    /// When the run (or its latest resume) started, ISO 8601 UTC, as written.
    public var startedAt: String?

    /// Reads the fields of `run.json`'s top-level object.
    /// - Throws: `ReportError.badField` naming the file and the field that is missing or wrong.
    init(_ r: JSONObjectReader) throws {
        model = try r.string("model")
        tasks = try r.stringArray("tasks")
        guard let config = r.value("config") else {
            throw ReportError.badField(file: r.file, line: nil, field: "config", reason: "is missing")
        }
        _ = try r.object("config")  // must be an object
        self.config = config
        oracleAUC = try r.optionalNumberMap("oracle_auc")
        blasCore = try r.optionalString("blas_core")
        if let backend = try r.optionalString("gemm_backend") {
            products = backend + " " + (try r.optionalString("precision") ?? "fp32")
        }
        // Products that changed on a resume: "mkl bf16 (steps 0–30), openblas fp32 (from step 30)".
        if case .array(let segments)? = r.value("products_history"), segments.count > 1 {
            var parts: [String] = []
            for (i, e) in segments.enumerated() {
                guard case .object(let o) = e, case .string(let p)? = o["products"], case .number(let from)? = o["from_step"] else {
                    continue
                }
                if i + 1 < segments.count, case .object(let next) = segments[i + 1], case .number(let to)? = next["from_step"] {
                    parts.append("\(p) (steps \(Int(from))–\(Int(to)))")
                } else {
                    parts.append("\(p) (from step \(Int(from)))")
                }
            }
            if !parts.isEmpty { products = parts.joined(separator: ", ") }
        }
        cpu = try r.optionalString("cpu")
        ranks = try r.optionalInt("ranks")
        startedAt = try r.optionalString("started_at")
    }

    /// The oracle AUC that belongs to a validation or test series: a series named after a task
    /// has that task's oracle; any series scored on clicked impressions only (`… (on click = 1)`,
    /// as `purchase (on click = 1)` of a task with `task_sample_space` or ESMM's
    /// `cvr (on click = 1)`) has `purchase_given_click`, the true pCVR's AUC over clicked
    /// impressions, whatever the series' own name; any other series has none.
    public func oracle(for series: String) -> Double? {
        if let o = oracleAUC[series] { return o }
        if series.hasSuffix(RunDescription.onClicksSuffix) { return oracleAUC["purchase_given_click"] }
        return nil
    }

    /// How the trainer names a series scored on clicked impressions only.
    static let onClicksSuffix = " (on click = 1)"
}
