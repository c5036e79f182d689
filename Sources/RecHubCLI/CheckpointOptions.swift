import ArgumentParser
import RecHub

/// `--checkpoint FILE`: the options of every command that works from a checkpoint alone
/// (evaluate, predict, export).
struct CheckpointOptions: ParsableArguments {
    @Option(help: "A checkpoint file (.rhck).") var checkpoint: String

    func validate() throws {
        guard !checkpoint.isEmpty else { throw ValidationError("--checkpoint needs a file name") }
    }
}

/// `--batch-size N`: rows per scoring batch, and the products' backend and precision, for the
/// commands that score a CSV.
struct ScoringOptions: ParsableArguments {
    @Option(name: .customLong("batch-size"), help: "Rows per scoring batch.") var batchSize: Int = 4096
    @Option(name: .customLong("gemm-backend"), help: "The products' library (openblas, mkl; default: the run's gemm_backend).")
    var gemmBackend: GEMMBackend?
    @Option(help: "The products' precision (fp32, bf16; default: the run's precision).") var precision: GEMMPrecision?

    /// The checkpoint's run config with `--gemm-backend` and `--precision` on top, loaded; `gemm`
    /// runs on what it returns inside `GEMMEngine.withSettings`.
    /// - Throws: `GEMMBackendError` (bf16 without MKL, a CPU without bf16, MKL missing), `BLASLoadError`.
    func loadGEMM(_ stored: TrainConfig) throws -> GEMMSelection {
        var c = stored
        if let gemmBackend {
            c.gemmBackend = gemmBackend
            if gemmBackend == .openblas { c.mklLibrary = nil; if precision == nil { c.precision = .fp32 } }
        }
        if let precision { c.precision = precision }
        let products: GEMMSelection
        do { products = try c.loadGEMM(threads: 1) } catch let e as GEMMBackendError {
            throw GEMMBackendError(message: e.message + " (the checkpoint's run used gemm_backend: "
                                   + "\((c.gemmBackend ?? .openblas).rawValue), precision: \((c.precision ?? .fp32).rawValue); "
                                   + "--gemm-backend openblas scores it in fp32 without MKL)")
        }
        return products
    }

    /// The line saying which products score, when they are not OpenBLAS's fp32 ones, and the
    /// selection's note.
    static func describe(_ products: GEMMSelection) -> [String] {
        guard products.backend != .openblas || products.precision != .fp32 else { return [] }
        return ["products: \(products.summary)"] + (products.note.map { ["note: \($0)"] } ?? [])
    }

    func validate() throws {
        guard (1...(1 << 22)).contains(batchSize) else {
            throw ValidationError("--batch-size \(batchSize) is outside 1...\(1 << 22)")
        }
    }
}
