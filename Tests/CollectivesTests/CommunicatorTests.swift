import Collectives
import Testing

/// The local communicator. MPI itself is tested in child processes under mpirun
/// (`RecHubCLITests.MPITests`): MPI_Init inside this test process, which also starts child
/// processes for other suites, left one of those children unreaped and its test waiting forever.
struct CommunicatorTests {
    @Test func localCommunicatorIsTheIdentity() throws {
        let c = LocalCommunicator()
        #expect(c.rank == 0 && c.size == 1 && c.isRoot)
        var v: [Float] = [1, 2, 3]
        try v.withUnsafeMutableBufferPointer { try c.allReduceSum($0.baseAddress!, count: 3) }
        #expect(v == [1, 2, 3])
        let g = try v.withUnsafeBufferPointer { try c.allGatherV($0.baseAddress!, count: 2) }
        #expect(g == [1, 2])
        // Alone there is nothing to share: the caller allocates its own arena.
        #expect(c.allocateReductionBuffer(count: 1000) == nil && c.gradientReduction == nil)
    }

    @Test func errorsNameTheCallAndRank() {
        let e = CommunicatorError(call: "MPI_Allreduce", rank: 3, message: "MPI_ERR_TRUNCATE")
        #expect(e.description == "MPI_Allreduce failed on rank 3: MPI_ERR_TRUNCATE")
    }
}
