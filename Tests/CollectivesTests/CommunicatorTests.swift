import Collectives
import Testing

/// The single-process communicators: the local one, and MPI as a singleton (no mpirun).
struct CommunicatorTests {
    @Test func localCommunicatorIsTheIdentity() throws {
        let c = LocalCommunicator()
        #expect(c.rank == 0 && c.size == 1 && c.isRoot)
        var v: [Float] = [1, 2, 3]
        try v.withUnsafeMutableBufferPointer { try c.allReduceSum($0.baseAddress!, count: 3) }
        #expect(v == [1, 2, 3])
        let g = try v.withUnsafeBufferPointer { try c.allGatherV($0.baseAddress!, count: 2) }
        #expect(g == [1, 2])
    }

    /// MPI_Init without a launcher makes this process rank 0 of 1; collectives are then the
    /// identity too, and initialising twice (concurrent tests) is safe.
    @Test func mpiSingletonIsRankZeroOfOne() throws {
        let a = try MPICommunicator()
        let b = try MPICommunicator()
        #expect(a.rank == 0 && a.size == 1 && b.size == 1)
        var v: [Double] = [0.5, 1.5]
        try v.withUnsafeMutableBufferPointer { try a.allReduceSum($0.baseAddress!, count: 2) }
        #expect(v == [0.5, 1.5])
        try a.barrier()
    }

    @Test func errorsNameTheCallAndRank() {
        let e = CommunicatorError(call: "MPI_Allreduce", rank: 3, message: "MPI_ERR_TRUNCATE")
        #expect(e.description == "MPI_Allreduce failed on rank 3: MPI_ERR_TRUNCATE")
    }
}
