#if canImport(Glibc)
import Glibc
#endif

/// The communicator of a single process (size 1): every collective is the identity.
public final class LocalCommunicator: Communicator, @unchecked Sendable {
    public let rank = 0
    public let size = 1

    /// Creates the single-process communicator.
    public init() {}

    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {}
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {}
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {}
    public func broadcast(bytes buffer: UnsafeMutableRawPointer, count: Int, root: Int) throws {}
    public func allGatherV(_ send: UnsafePointer<Float>, count: Int) throws -> [Float] {
        Array(UnsafeBufferPointer(start: send, count: count))
    }
    public func allGatherV(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>,
                           capacity: Int, counts: UnsafeMutablePointer<Int32>) throws -> Int {
        precondition(count <= capacity, "allGatherV: \(count) floats into \(capacity)")
        receive.update(from: send, count: count)
        counts[0] = Int32(count)
        return count
    }
    public func allGather(bytes send: UnsafeRawPointer, count: Int, into receive: UnsafeMutableRawPointer) throws {
        receive.copyMemory(from: send, byteCount: count)
    }
    public func barrier() throws {}
    public func abort(code: Int32, message: String) -> Never {
        writeStandardError(message + "\n")
        exit(code)
    }
}
