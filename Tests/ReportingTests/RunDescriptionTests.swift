import Foundation
import Testing
@testable import Reporting

/// run.json's oracle AUCs paired with the scored series.
struct RunDescriptionTests {
    static func description(oracle: String) throws -> RunDescription {
        let text = #"{"model": "esmm", "tasks": ["click", "purchase"], "config": {}, "oracle_auc": "# + oracle + "}"
        return try RunDescription(JSONObjectReader(JSONValue.parse(Data(text.utf8)), file: "run.json"))
    }

    /// A task's series has the task's oracle; any series scored on clicks only, whatever its
    /// name (a task with `task_sample_space`, ESMM's CVR tower), has `purchase_given_click`.
    @Test(arguments: [
        ("click", 0.71), ("purchase", 0.74),
        ("purchase (on click = 1)", 0.66), ("cvr (on click = 1)", 0.66),
        ("cvr", nil), ("purchase (on purchase = 1)", nil), ("click (on purchase = 1)", nil),
    ] as [(String, Double?)])
    func eachSeriesHasItsOracle(series: String, oracle: Double?) throws {
        let d = try Self.description(oracle: #"{"click": 0.71, "purchase": 0.74, "purchase_given_click": 0.66}"#)
        #expect(d.oracle(for: series) == oracle)
    }

    @Test func withoutPurchaseGivenClickASeriesOnClicksHasNoOracle() throws {
        let d = try Self.description(oracle: #"{"click": 0.71, "purchase": 0.74}"#)
        #expect(d.oracle(for: "cvr (on click = 1)") == nil && d.oracle(for: "purchase (on click = 1)") == nil)
        #expect(d.oracle(for: "purchase") == 0.74)
    }

    /// The products row: one setting, a history changed by resumes, or nothing (earlier runs).
    @Test(arguments: [
        (#""gemm_backend": "mkl", "precision": "bf16""#, "mkl bf16"),
        (#""gemm_backend": "mkl", "precision": "bf16", "products_history": [{"from_step": 0, "products": "mkl bf16"}]"#,
         "mkl bf16"),
        (#""gemm_backend": "openblas", "precision": "fp32", "products_history": [{"from_step": 0, "products": "mkl bf16"}, "#
         + #"{"from_step": 30, "products": "openblas fp32"}]"#, "mkl bf16 (steps 0–30), openblas fp32 (from step 30)"),
        ("", nil),
    ] as [(String, String?)])
    func productsRow(fields: String, expected: String?) throws {
        let text = #"{"model": "mmoe", "tasks": ["click"], "config": {}"# + (fields.isEmpty ? "" : ", " + fields) + "}"
        let d = try RunDescription(JSONObjectReader(JSONValue.parse(Data(text.utf8)), file: "run.json"))
        #expect(d.products == expected)
    }
}
