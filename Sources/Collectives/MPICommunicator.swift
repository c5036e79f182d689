import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// The communicator over MPI_COMM_WORLD; every call is checked and a failure names the
/// call, the rank and MPI's error string.
///
/// MPI is initialised once per process (thread-safe against concurrent tests) and never
/// finalised by tests; `finalize()` is for the executable's exit path.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    /// This process's rank in MPI_COMM_WORLD.
    public let rank: Int
    /// The number of ranks in MPI_COMM_WORLD.
    public let size: Int
    private let displacements: UnsafeMutablePointer<Int32>
    /// The node's shared-memory all-reduce, made at the first `allocateReductionBuffer`.
    private var reducer: SharedMemoryReducer?
    private var reducerTried = false
    /// See `Communicator.gradientReduction`.
    public private(set) var gradientReduction: String?

    private static let lock = NSLockish()
    /// Every reducer made, freed (collectively) by `finalize`.
    nonisolated(unsafe) private static var reducers: [SharedMemoryReducer] = []

    /// Initialises MPI if needed and attaches to MPI_COMM_WORLD.
    /// - Throws: `CommunicatorError` naming the MPI call that failed (rank -1 before the rank is
    ///   known) and MPI's error string.
    public init() throws {
        try MPICommunicator.lock.withLock {
            var initialized: Int32 = 0
            try MPICommunicator.check(MPI_Initialized(&initialized), "MPI_Initialized", rank: -1)
            if initialized == 0 {
                var provided: Int32 = 0
                try MPICommunicator.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread",
                                          rank: -1)
                try MPICommunicator.check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()),
                                          "MPI_Comm_set_errhandler", rank: -1)
            }
        }
        var r: Int32 = 0
        var s: Int32 = 0
        try MPICommunicator.check(MPI_Comm_rank(cmpi_comm_world(), &r), "MPI_Comm_rank", rank: -1)
        try MPICommunicator.check(MPI_Comm_size(cmpi_comm_world(), &s), "MPI_Comm_size", rank: Int(r))
        rank = Int(r)
        size = Int(s)
        displacements = .allocate(capacity: max(Int(s), 1))
    }

    deinit { displacements.deallocate() }

    /// This process's rank as the launcher's environment gives it (OpenMPI, PMIx, PMI, Slurm),
    /// readable before `MPI_Init`; nil when not launched by one.
    public static var launcherRank: Int? {
        for key in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"] {
            if let p = getenv(key), let r = Int(String(cString: p)) { return r }
        }
        return nil
    }

    /// How many ranks the launcher started on this node (OpenMPI's local size, else Slurm's
    /// tasks per node); nil when not launched by one that says.
    public static var launcherLocalSize: Int? {
        for key in ["OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"] {
            if let p = getenv(key), let n = Int(String(cString: p)) { return n }
        }
        return nil
    }

    /// Whether this process was started by an MPI launcher (mpirun, srun) with more than one rank
    /// or any launcher environment at all.
    public static var launchedByMPI: Bool {
        getenv("OMPI_COMM_WORLD_SIZE") != nil || getenv("PMIX_RANK") != nil || getenv("PMI_RANK") != nil
    }

    /// Throws unless `code` is MPI_SUCCESS.
    /// - Throws: `CommunicatorError` naming `call`, `rank` and MPI's error string for `code`.
    static func check(_ code: Int32, _ call: String, rank: Int) throws {
        guard code != cmpi_success() else { return }
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        let message = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw CommunicatorError(call: call, rank: rank, message: message)
    }

    /// See `Communicator`; a failed MPI call throws `CommunicatorError` naming it and this rank.
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        guard size > 1, count > 0 else { return }
        if let reducer, let (segment, offset) = reducer.locate(buffer, count: count) {
            try reducer.allReduceSum(segment, offset: offset, count: count)
            return
        }
        try Self.check(MPI_Allreduce(cmpi_in_place(), buffer, Int32(count), cmpi_float(), cmpi_sum(), cmpi_comm_world()),
                       "MPI_Allreduce", rank: rank)
    }

    /// See `Communicator`; a failed MPI call throws `CommunicatorError` naming it and this rank.
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {
        guard size > 1, count > 0 else { return }
        try Self.check(MPI_Allreduce(cmpi_in_place(), buffer, Int32(count), cmpi_double(), cmpi_sum(), cmpi_comm_world()),
                       "MPI_Allreduce", rank: rank)
    }

    /// See `Communicator`; a failed MPI call throws `CommunicatorError` naming it and this rank.
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {
        guard size > 1, count > 0 else { return }
        try Self.check(MPI_Bcast(buffer, Int32(count), cmpi_float(), Int32(root), cmpi_comm_world()), "MPI_Bcast", rank: rank)
    }

    /// See `Communicator`; a failed MPI call throws `CommunicatorError` naming it and this rank.
    public func broadcast(bytes buffer: UnsafeMutableRawPointer, count: Int, root: Int) throws {
        guard size > 1, count > 0 else { return }
        try Self.check(MPI_Bcast(buffer, Int32(count), cmpi_uint8(), Int32(root), cmpi_comm_world()), "MPI_Bcast", rank: rank)
    }

    /// See `Communicator`; a failed MPI call throws `CommunicatorError` naming it and this rank.
    public func allGatherV(_ send: UnsafePointer<Float>, count: Int) throws -> [Float] {
        guard size > 1 else { return Array(UnsafeBufferPointer(start: send, count: count)) }
        var counts = [Int32](repeating: 0, count: size)
        var mine = Int32(count)
        try Self.check(MPI_Allgather(&mine, 1, cmpi_int32(), &counts, 1, cmpi_int32(), cmpi_comm_world()),
                       "MPI_Allgather", rank: rank)
        var displs = [Int32](repeating: 0, count: size)
        for i in 1..<size { displs[i] = displs[i - 1] + counts[i - 1] }
        var out = [Float](repeating: 0, count: Int(displs[size - 1] + counts[size - 1]))
        try Self.check(MPI_Allgatherv(send, mine, cmpi_float(), &out, counts, displs, cmpi_float(), cmpi_comm_world()),
                       "MPI_Allgatherv", rank: rank)
        return out
    }

    /// See `Communicator`; throws `CommunicatorError` naming the MPI call and this rank when it
    /// fails, or naming MPI_Allgatherv when the ranks' floats together exceed `capacity`.
    public func allGatherV(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>,
                           capacity: Int, counts: UnsafeMutablePointer<Int32>) throws -> Int {
        var mine = Int32(count)
        try Self.check(MPI_Allgather(&mine, 1, cmpi_int32(), counts, 1, cmpi_int32(), cmpi_comm_world()),
                       "MPI_Allgather", rank: rank)
        var total = 0
        for i in 0..<size {
            displacements[i] = Int32(total)
            total += Int(counts[i])
        }
        guard total <= capacity else {
            throw CommunicatorError(call: "MPI_Allgatherv", rank: rank,
                                    message: "\(total) floats from all ranks exceed the receive buffer of \(capacity)")
        }
        try Self.check(MPI_Allgatherv(send, mine, cmpi_float(), receive, counts, displacements, cmpi_float(),
                                      cmpi_comm_world()), "MPI_Allgatherv", rank: rank)
        return total
    }

    /// See `Communicator`; a failed MPI call throws `CommunicatorError` naming it and this rank.
    public func allGather(bytes send: UnsafeRawPointer, count: Int, into receive: UnsafeMutableRawPointer) throws {
        try Self.check(MPI_Allgather(send, Int32(count), cmpi_uint8(), receive, Int32(count), cmpi_uint8(),
                                     cmpi_comm_world()), "MPI_Allgather", rank: rank)
    }

    /// See `Communicator`; a failed MPI call throws `CommunicatorError` naming it and this rank.
    public func barrier() throws {
        guard size > 1 else { return }
        try Self.check(MPI_Barrier(cmpi_comm_world()), "MPI_Barrier", rank: rank)
    }

    /// Memory in a window the node's ranks share, so that `allReduceSum` sums it in place
    /// (`SharedMemoryReducer`); nil alone, with one rank per node, or when MPI cannot make the
    /// window (said once, on rank 0; the caller's own memory then goes through MPI_Allreduce).
    /// A failure of the collective that agrees on it ends the job (every rank), naming the call.
    public func allocateReductionBuffer(count: Int) -> UnsafeMutablePointer<Float>? {
        guard size > 1 else { return nil }
        do {
            if !reducerTried {
                reducerTried = true
                let made = try SharedMemoryReducer.make(world: cmpi_comm_world(), worldRank: rank, worldSize: size)
                reducer = made.reducer
                if let reducer { Self.lock.withLock { Self.reducers.append(reducer) } }
                gradientReduction = made.reducer == nil ? "MPI_Allreduce (\(made.reason))" : nil
            }
            guard let reducer else { return nil }
            let (memory, failure) = try reducer.allocate(count: count, world: cmpi_comm_world())
            if let failure {
                let size = SharedMemoryReducer.mebibytes(count * MemoryLayout<Float>.stride)
                if let earlier = gradientReduction, earlier.hasPrefix("shared") {
                    // An earlier arena has its window: only this one falls back.
                    if rank == 0 {
                        writeStandardError("note: a further gradient arena (\(size) MiB) goes through MPI_Allreduce, "
                                           + "not shared memory: \(failure)\n")
                    }
                    gradientReduction = earlier + "; a further \(size) MiB arena through MPI_Allreduce (\(failure))"
                } else {
                    if rank == 0 && gradientReduction?.hasPrefix("MPI") != true {
                        writeStandardError("note: gradients go through MPI_Allreduce, not shared memory: \(failure)\n")
                    }
                    gradientReduction = "MPI_Allreduce (no shared window: \(failure))"
                }
            } else if gradientReduction == nil {
                let nodes = size / reducer.localSize
                gradientReduction = "shared memory, \(reducer.localSize) ranks per node on \(nodes) node\(nodes == 1 ? "" : "s")"
                    + (nodes > 1 ? ", then MPI_Allreduce across nodes" : "")
            }
            return memory
        } catch {
            abort(code: 1, message: "error: \(error)")
        }
    }

    /// Prints `message` on standard error prefixed with this rank, then aborts every rank with `code`.
    public func abort(code: Int32, message: String) -> Never {
        writeStandardError("rank \(rank): \(message)\n")
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)
    }

    /// Finalises MPI at the end of the program.
    public static func finalize() {
        var initialized: Int32 = 0
        var finalized: Int32 = 0
        MPI_Initialized(&initialized)
        MPI_Finalized(&finalized)
        guard initialized != 0 && finalized == 0 else { return }
        lock.withLock {
            for r in reducers { r.free() }
            reducers = []
        }
        MPI_Finalize()
    }
}

/// A minimal pthread mutex (Collectives does not import Foundation).
final class NSLockish: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
