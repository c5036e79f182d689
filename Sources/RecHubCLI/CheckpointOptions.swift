import ArgumentParser
import Foundation
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
    @Option(name: .customLong("gemm-backend"), help: "The products' library (openblas, onednn, mkl; default: the run's gemm_backend).")
    var gemmBackend: GEMMBackend?
    @Option(help: "The products' precision (fp32, bf16; default: the run's precision).") var precision: GEMMPrecision?
    @Option(name: .customLong("mkl-library"),
            help: "Where MKL is (libmkl_rt's path or folder; default: RECHUB_MKL_LIBRARY, else the run's mkl_library if it exists here, else the default places).")
    var mklLibrary: String?
    @Option(name: .customLong("onednn-library"),
            help: "Where oneDNN is (libdnnl's path or folder; default: RECHUB_ONEDNN_LIBRARY, else the run's onednn_library if it exists here, else the default places).")
    var onednnLibrary: String?

    /// The checkpoint's run config with `--gemm-backend`, `--precision` and `--mkl-library` or
    /// `--onednn-library` on top, loaded, with the lines to print: which products score (when
    /// not OpenBLAS fp32, or not the run's), and notes. `gemm` runs on the selection inside
    /// `GEMMEngine.withSettings`. MKL or oneDNN: the flag, else `RECHUB_MKL_LIBRARY` or
    /// `RECHUB_ONEDNN_LIBRARY`, else the run's `mkl_library`/`onednn_library` where it exists on
    /// this machine, else the default places.
    /// - Throws: `GEMMBackendError` (bf16 on OpenBLAS, a CPU without bf16, the library missing), `BLASLoadError`.
    func loadGEMM(_ stored: TrainConfig) throws -> (products: GEMMSelection, lines: [String]) {
        var c = stored, lines: [String] = []
        if let gemmBackend {
            c.gemmBackend = gemmBackend
            if gemmBackend == .openblas && precision == nil { c.precision = .fp32 }
        }
        if let precision { c.precision = precision }
        let backend = c.gemmBackend ?? .openblas
        for (flag, given, owner) in [("--mkl-library", mklLibrary, GEMMBackend.mkl), ("--onednn-library", onednnLibrary, .onednn)]
        where given != nil && backend != owner {
            throw GEMMBackendError(message: "\(flag) is only read with gemm backend \(owner.rawValue); this scoring runs on "
                                   + "\(backend.rawValue) (the run's, or --gemm-backend)")
        }
        if let spec = GEMMLibrary.of(backend) {
            if let given = c.gemmBackend == .mkl ? mklLibrary : onednnLibrary {
                c.gemmLibrary = given
            } else if let env = ProcessInfo.processInfo.environment[spec.variable], !env.isEmpty {
                c.gemmLibrary = nil
            } else if let library = c.gemmLibrary,
                      !FileManager.default.fileExists(atPath: (library as NSString).expandingTildeInPath) {
                lines.append("note: the run's \(spec.configKey) \(library) is not on this machine; \(spec.name) is looked for "
                             + "in the default places")
                c.gemmLibrary = nil
            }
        }
        let products: GEMMSelection
        do { products = try c.loadGEMM(threads: 1) } catch var e as GEMMBackendError {
            // A place given by flag is named by its flag.
            if mklLibrary != nil { e = e.namingFlag(of: .mkl) }
            if onednnLibrary != nil { e = e.namingFlag(of: .onednn) }
            throw GEMMBackendError(message: e.message + " (scoring on \(c.products); the checkpoint's run used \(stored.products); "
                                   + "`--gemm-backend openblas --precision fp32` scores on OpenBLAS)")
        }
        if products.backend != .openblas || products.precision != .fp32 || c.products != stored.products {
            lines.insert("products: \(products.summary)" + (products.library.map { " from \($0)" } ?? "")
                         + (c.products != stored.products ? " (the run used \(stored.products))" : ""), at: 0)
        }
        if let note = products.note { lines.append("note: \(note)") }
        return (products, lines)
    }

    func validate() throws {
        guard (1...(1 << 22)).contains(batchSize) else {
            throw ValidationError("--batch-size \(batchSize) is outside 1...\(1 << 22)")
        }
    }
}

extension GEMMBackendError {
    /// The message as a command with a `--mkl-library`/`--onednn-library` flag should say it
    /// when the flag gave the place: the flag where it names the config key, and dropping the
    /// flag where it says to unset the key.
    func namingFlag(of backend: GEMMBackend) -> GEMMBackendError {
        guard let key = GEMMLibrary.of(backend)?.configKey else { return self }
        let flag = "--" + key.replacingOccurrences(of: "_", with: "-")
        return GEMMBackendError(message: message
            .replacingOccurrences(of: "unset it (`--set \(key)=null`)", with: "drop \(flag)")
            .replacingOccurrences(of: "in \(key) or", with: "in \(flag) or")
            .replacingOccurrences(of: "\(key) (", with: "\(flag) ("))
    }
}
