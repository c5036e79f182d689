import Foundation
import RecHub

/// Process-level plumbing shared by the commands: the communicator and error exits.
enum Runtime {
    /// Loads OpenBLAS with its kernel set chosen (`blas_core` from the config when given, else
    /// `RECHUB_BLAS_CORE`, else auto; see `BLASCore`), then makes the MPI communicator under a
    /// launcher, the local one otherwise. The choice forks a short check, so it comes before
    /// `MPI_Init`; every rank makes it (each rank's OpenBLAS is its own), and a note (a failed
    /// check) is printed once, by the launcher's rank 0.
    /// - Throws: `BLASLoadError` when OpenBLAS cannot be loaded; MPI errors.
    static func communicator(blasCore: BLASCorePolicy? = nil) throws -> any Communicator {
        try loadBLAS(blasCore)
        return MPICommunicator.launchedByMPI ? try MPICommunicator() : LocalCommunicator()
    }

    /// Loads OpenBLAS (see `communicator(blasCore:)`) and prints its note, if any, once.
    /// - Throws: `BLASLoadError`.
    static func loadBLAS(_ policy: BLASCorePolicy? = nil) throws {
        let selection = try BLASCore.load(policy: policy)
        if let note = selection.note, (MPICommunicator.launcherRank ?? 0) == 0 {
            FileHandle.standardError.write(Data("note: \(note)\n".utf8))
        }
    }

    /// Runs `body` before any communicator exists (parsing a config); an error ends the process
    /// with the message (every rank parses the same input, so every rank stops alike).
    static func prepare<T>(_ body: () throws -> T) -> T {
        do { return try body() } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(1)
        }
    }

    /// Runs `body` (`run(nil, body)`) for a command that works in one process (`evaluate`,
    /// `predict`, …): started by a launcher over several ranks, rank 0 alone does it and says
    /// so; the others exit at once (status 0), instead of every rank doing it and printing it.
    static func runAlone(_ command: String, _ body: () throws -> Void) -> Never {
        if let rank = MPICommunicator.launcherRank, rank > 0 { exit(0) }
        let environment = ProcessInfo.processInfo.environment
        let size = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"].compactMap { environment[$0].flatMap { Int($0) } }.first ?? 1
        if size > 1 {
            FileHandle.standardError.write(Data(("note: `rechub \(command)` runs in one process: under the launcher's "
                + "\(size) ranks, rank 0 alone does it\n").utf8))
        }
        run(nil, body)
    }

    /// Runs `body`; any error is printed with the rank and ends the whole job (all ranks).
    /// A stop on a signal is agreed by every rank after rank 0 has written its checkpoint, so
    /// it ends MPI in order instead: rank 0 says where the state is, and every rank exits 1.
    static func run(_ comm: (any Communicator)?, _ body: () throws -> Void) -> Never {
        do {
            try body()
            if comm is MPICommunicator { MPICommunicator.finalize() }
            exit(0)
        } catch let stop as TrainingInterrupted {
            if comm?.isRoot ?? true { FileHandle.standardError.write(Data("error: \(stop)\n".utf8)) }
            if comm is MPICommunicator { MPICommunicator.finalize() }
            exit(1)
        } catch {
            let message = "error: \(error)"
            if let comm, comm.size > 1 { comm.abort(code: 1, message: message) }
            FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
            exit(1)
        }
    }
}
