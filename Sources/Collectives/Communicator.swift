/// A failure reported by a collective operation, naming the call and the rank.
public struct CommunicatorError: Error, CustomStringConvertible, Sendable {
    /// The operation that failed, e.g. `MPI_Allreduce`.
    public let call: String
    /// The rank that saw the failure.
    public let rank: Int
    /// The library's explanation.
    public let message: String

    /// Describes the failure of `call` on `rank`.
    public init(call: String, rank: Int, message: String) {
        self.call = call
        self.rank = rank
        self.message = message
    }

    public var description: String { "\(call) failed on rank \(rank): \(message)" }
}

/// The collective operations data-parallel training needs (DESIGN.md §5).
///
/// Every rank calls the same operations in the same order. Sums are reduced in a fixed
/// order by the implementation, so every rank receives bit-identical results.
public protocol Communicator: AnyObject, Sendable {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// Sums `count` floats element-wise over all ranks, in place.
    /// - Throws: `CommunicatorError` naming the call and this rank when the transport fails.
    func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws
    /// Sums `count` doubles element-wise over all ranks, in place.
    /// - Throws: `CommunicatorError` naming the call and this rank when the transport fails.
    func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws
    /// Copies `count` floats from `root` to every rank.
    /// - Throws: `CommunicatorError` naming the call and this rank when the transport fails.
    func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws
    /// Copies `count` bytes from `root` to every rank.
    /// - Throws: `CommunicatorError` naming the call and this rank when the transport fails.
    func broadcast(bytes buffer: UnsafeMutableRawPointer, count: Int, root: Int) throws
    /// Gathers a variable number of floats from every rank onto every rank, in rank order.
    /// - Throws: `CommunicatorError` naming the call and this rank when the transport fails.
    func allGatherV(_ send: UnsafePointer<Float>, count: Int) throws -> [Float]
    /// Gathers a variable number of floats from every rank into `receive` (rank order) without
    /// allocating; `counts` (one per rank) receives each rank's count. Returns the total.
    /// - Throws: `CommunicatorError` naming the call and this rank when the transport fails or
    ///   the ranks' floats together exceed `capacity`.
    func allGatherV(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>,
                    capacity: Int, counts: UnsafeMutablePointer<Int32>) throws -> Int
    /// Gathers `count` bytes from every rank into `receive` (`size × count` bytes, rank order).
    /// - Throws: `CommunicatorError` naming the call and this rank when the transport fails.
    func allGather(bytes send: UnsafeRawPointer, count: Int, into receive: UnsafeMutableRawPointer) throws
    /// Waits until every rank has arrived.
    /// - Throws: `CommunicatorError` naming the call and this rank when the transport fails.
    func barrier() throws
    /// Ends the whole job with `code` (every rank), after printing `message` on this one.
    func abort(code: Int32, message: String) -> Never
    /// Room for `count` floats that `allReduceSum` sums faster than any other buffer (for the
    /// gradient arenas reduced every step): zeroed, 64-byte aligned, alive as long as the
    /// communicator. Collective: every rank asks for the same counts in the same order.
    /// Nil when this communicator has no such memory; the caller then allocates its own.
    func allocateReductionBuffer(count: Int) -> UnsafeMutablePointer<Float>?
    /// How `allReduceSum` sums the buffers `allocateReductionBuffer` gave, for run headers:
    /// e.g. "shared memory, 2 ranks per node on 1 node"; nil alone or before any allocation.
    var gradientReduction: String? { get }
}

/// Whether this is rank 0, the rank that evaluates, prints and writes files.
extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// No faster memory by default: nil, and the caller allocates its own.
    public func allocateReductionBuffer(count: Int) -> UnsafeMutablePointer<Float>? { nil }

    /// Nothing to say by default.
    public var gradientReduction: String? { nil }
}

#if canImport(Glibc)
import Glibc
#endif

/// Writes `text` to the standard error stream with one `write(2)` call.
func writeStandardError(_ text: String) {
    var t = text
    t.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
}
