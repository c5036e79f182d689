#if canImport(Glibc)
import Glibc
#endif

/// The communicator of a single process (size 1): every collective is the identity.
public final class LocalCommunicator: Communicator, @unchecked Sendable {
    /// Always 0.
    public let rank = 0
    /// Always 1.
    public let size = 1

    /// Creates the single-process communicator.
    public init() {}

    /// Leaves `buffer` as it is (the sum over one rank). Never throws.
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {}
    /// Leaves `buffer` as it is (the sum over one rank). Never throws.
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {}
    /// Leaves `buffer` as it is (this rank is the root). Never throws.
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {}
    /// Leaves `buffer` as it is (this rank is the root). Never throws.
    public func broadcast(bytes buffer: UnsafeMutableRawPointer, count: Int, root: Int) throws {}
    /// A copy of this rank's `count` floats. Never throws.
    public func allGatherV(_ send: UnsafePointer<Float>, count: Int) throws -> [Float] {
        Array(UnsafeBufferPointer(start: send, count: count))
    }
    /// Copies this rank's `count` floats into `receive` and sets `counts[0]`; a `count` over
    /// `capacity` is a programmer error (precondition). Never throws.
    public func allGatherV(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>,
                           capacity: Int, counts: UnsafeMutablePointer<Int32>) throws -> Int {
        precondition(count <= capacity, "allGatherV: \(count) floats into \(capacity)")
        receive.update(from: send, count: count)
        counts[0] = Int32(count)
        return count
    }
    /// Copies this rank's `count` bytes into `receive`. Never throws.
    public func allGather(bytes send: UnsafeRawPointer, count: Int, into receive: UnsafeMutableRawPointer) throws {
        receive.copyMemory(from: send, byteCount: count)
    }
    /// Returns at once (no other rank to wait for). Never throws.
    public func barrier() throws {}
    /// Prints `message` on standard error and exits the process with `code`.
    public func abort(code: Int32, message: String) -> Never {
        writeStandardError(message + "\n")
        exit(code)
    }
}
