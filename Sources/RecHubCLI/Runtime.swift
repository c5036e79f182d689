import Foundation
import RecHub

/// Process-level plumbing shared by the commands: the communicator and error exits.
enum Runtime {
    /// The MPI communicator under a launcher, the local one otherwise.
    static func communicator() throws -> any Communicator {
        MPICommunicator.launchedByMPI ? try MPICommunicator() : LocalCommunicator()
    }

    /// Runs `body`; any error is printed with the rank and ends the whole job (all ranks).
    static func run(_ comm: (any Communicator)?, _ body: () throws -> Void) -> Never {
        do {
            try body()
            if comm is MPICommunicator { MPICommunicator.finalize() }
            exit(0)
        } catch {
            let message = "error: \(error)"
            if let comm, comm.size > 1 { comm.abort(code: 1, message: message) }
            FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
            exit(1)
        }
    }
}
