import Collectives
import Foundation
import Kernels
import Layers
@testable import Training
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `EmbeddingExchange`: the ranks' sparse embedding gradients summed, per field by the cheaper
/// of a (row, values) all-gather and a dense all-reduce with touch counts. Alone (a
/// `LocalCommunicator`) it gives back exactly what it was given; over three ranks (threads of
/// this process, `ThreadGroup`) every rank ends with the same rows and sums, a dense field's rows
/// first in row order, then the gathered rows in rank order.
struct EmbeddingExchangeTests {
    /// Ranks as threads sharing memory: each collective deposits this rank's buffer, waits for
    /// all, combines in rank order, and waits again before anyone reuses its buffer.
    final class ThreadGroup: @unchecked Sendable {
        let size: Int
        // Raw storage: every rank writes its own slot concurrently (a Swift array or a stored
        // pthread_barrier_t would be accessed through exclusive `inout`s from several threads).
        let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
        let slots: UnsafeMutablePointer<UnsafeRawPointer?>
        let counts: UnsafeMutablePointer<Int>

        init(size: Int) {
            self.size = size
            slots = .allocate(capacity: size)
            slots.initialize(repeating: nil, count: size)
            counts = .allocate(capacity: size)
            counts.initialize(repeating: 0, count: size)
            pthread_barrier_init(barrier, nil, UInt32(size))
        }

        deinit {
            pthread_barrier_destroy(barrier)
            barrier.deallocate()
            slots.deallocate()
            counts.deallocate()
        }

        func wait() { pthread_barrier_wait(barrier) }
    }

    final class ThreadRank: Communicator, @unchecked Sendable {
        let rank: Int
        let group: ThreadGroup
        var size: Int { group.size }
        init(rank: Int, group: ThreadGroup) { self.rank = rank; self.group = group }

        func sum<T: BinaryFloatingPoint>(_ buffer: UnsafeMutablePointer<T>, count: Int) {
            group.slots[rank] = UnsafeRawPointer(buffer)
            group.wait()
            var total = [T](repeating: 0, count: count)
            for r in 0..<size {
                let p = group.slots[r]!.assumingMemoryBound(to: T.self)
                for i in 0..<count { total[i] += p[i] }
            }
            group.wait()
            for i in 0..<count { buffer[i] = total[i] }
        }

        func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws { sum(buffer, count: count) }
        func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws { sum(buffer, count: count) }
        func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {
            try broadcast(bytes: UnsafeMutableRawPointer(buffer), count: count * 4, root: root)
        }
        func broadcast(bytes buffer: UnsafeMutableRawPointer, count: Int, root: Int) throws {
            group.slots[rank] = UnsafeRawPointer(buffer)
            group.wait()
            if rank != root { buffer.copyMemory(from: group.slots[root]!, byteCount: count) }
            group.wait()
        }
        func allGatherV(_ send: UnsafePointer<Float>, count: Int) throws -> [Float] {
            var out = [Float](repeating: 0, count: count * size * 4 + 1)
            var counts = [Int32](repeating: 0, count: size)
            let n = try allGatherV(send, count: count, into: &out, capacity: out.count, counts: &counts)
            return Array(out[0..<n])
        }
        func allGatherV(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>,
                        capacity: Int, counts: UnsafeMutablePointer<Int32>) throws -> Int {
            group.slots[rank] = UnsafeRawPointer(send)
            group.counts[rank] = count
            group.wait()
            var total = 0
            for r in 0..<size {
                counts[r] = Int32(group.counts[r])
                if total + group.counts[r] <= capacity {
                    (receive + total).update(from: group.slots[r]!.assumingMemoryBound(to: Float.self), count: group.counts[r])
                }
                total += group.counts[r]
            }
            group.wait()
            guard total <= capacity else {
                throw CommunicatorError(call: "allGatherV", rank: rank, message: "\(total) floats into \(capacity)")
            }
            return total
        }
        func allGather(bytes send: UnsafeRawPointer, count: Int, into receive: UnsafeMutableRawPointer) throws {
            group.slots[rank] = send
            group.wait()
            for r in 0..<size { (receive + r * count).copyMemory(from: group.slots[r]!, byteCount: count) }
            group.wait()
        }
        func barrier() throws { group.wait() }
        func abort(code: Int32, message: String) -> Never { fatalError(message) }
    }

    /// Two fields: field 0 has vocabulary 1 (2 rows with its OOV row), field 1 vocabulary 50
    /// (51 rows), E = 3. Global rows: field 0 is 0...1, field 1 is 2...52.
    static func embeddings() -> FieldEmbeddings { FieldEmbeddings(vocabularySizes: [1, 50], dim: 3) }
    static let globalBatch = 12

    /// A gradient holding `rows` (in that touch order) with values row·10 + rank + j/4 (exact
    /// in Float, so sums in any order are exact).
    static func gradient(_ rows: [Int], rank: Int) -> SparseRowGradient {
        let g = SparseRowGradient(rowCount: 53, dim: 3, capacity: globalBatch * 2)
        for row in rows {
            let v: [Float] = (0..<3).map { Float(row * 10 + rank) + Float($0) / 4 }
            v.withUnsafeBufferPointer { g.add(row: Int32(row), $0.baseAddress!) }
        }
        return g
    }

    /// The gradient's rows in order, each with its values.
    static func contents(_ g: SparseRowGradient) -> [(row: Int, values: [Float])] {
        (0..<g.count).map { s in (Int(g.rows[s]), (0..<3).map { g.values[s * 3 + $0] }) }
    }

    /// One rank: the exchange is the identity (rows, their order and values, bit for bit),
    /// whatever the fields; a field never goes dense alone (it would need more touches than rows).
    @Test func aloneItGivesBackItsOwnGradient() throws {
        let exchange = EmbeddingExchange(communicator: LocalCommunicator(), embeddings: Self.embeddings(),
                                         globalBatch: Self.globalBatch)
        let g = Self.gradient([40, 1, 7, 0, 52], rank: 0)
        let before = Self.contents(g)
        try exchange.exchange(g)
        let after = Self.contents(g)
        #expect(after.map(\.row) == [40, 1, 7, 0, 52])
        #expect(zip(before, after).allSatisfy { $0.values == $1.values })
        #expect(!exchange.useDense[0] && !exchange.useDense[1])
    }

    /// Runs one exchange on each of three ranks with the given rows; returns each rank's result.
    static func exchangeOnThreeRanks(_ rows: [[Int]]) -> [[(row: Int, values: [Float])]] {
        let group = ThreadGroup(size: 3)
        final class Results: @unchecked Sendable {
            var byRank: [[(row: Int, values: [Float])]] = [[], [], []]
            var dense: [[Bool]] = [[], [], []]
            let lock = NSLock()
        }
        let results = Results()
        let done = DispatchSemaphore(value: 0)
        for rank in 0..<3 {
            let thread = Thread {
                let exchange = EmbeddingExchange(communicator: ThreadRank(rank: rank, group: group),
                                                 embeddings: Self.embeddings(), globalBatch: Self.globalBatch)
                let g = Self.gradient(rows[rank], rank: rank)
                try! exchange.exchange(g)
                results.lock.lock()
                results.byRank[rank] = Self.contents(g)
                results.dense[rank] = [exchange.useDense[0], exchange.useDense[1]]
                results.lock.unlock()
                done.signal()
            }
            thread.start()
        }
        for _ in 0..<3 { done.wait() }
        #expect(results.dense.allSatisfy { $0 == results.dense[0] }, "every rank makes the same choice")
        return results.byRank
    }

    /// The expected sum of row `row` over the ranks that touched it.
    static func sum(_ row: Int, _ rows: [[Int]]) -> [Float] {
        (0..<3).map { j in (0..<3).filter { rows[$0].contains(row) }.reduce(Float(0)) { $0 + Float(row * 10 + $1) + Float(j) / 4 } }
    }

    /// Field 0 touched 6 times over 3 ranks, more than twice its 2 rows (and 2·2 < the global
    /// batch of 12): it goes dense, and its rows come first in row order; field 1's rows follow
    /// as gathered, rank 0's first, each row once with the sum over the ranks that touched it.
    @Test func aSmallFieldTouchedOftenGoesDense() throws {
        let rows = [[1, 30, 0], [0, 30, 12], [44, 1, 0]]
        let results = Self.exchangeOnThreeRanks(rows)
        let expectedOrder = [0, 1, 30, 12, 44]
        for (rank, got) in results.enumerated() {
            #expect(got.map(\.row) == expectedOrder, "rank \(rank)")
            for entry in got { #expect(entry.values == Self.sum(entry.row, rows), "rank \(rank) row \(entry.row)") }
        }
    }

    /// Field 0 touched 4 times, not more than twice its rows: everything is gathered, and the
    /// rows are merged in rank order (rank 0's touch order, then rows new in rank 1, then 2).
    @Test func otherwiseRowsAreGatheredInRankOrder() throws {
        let rows = [[30, 1, 0], [12, 0, 30], [1, 44]]
        let results = Self.exchangeOnThreeRanks(rows)
        for (rank, got) in results.enumerated() {
            #expect(got.map(\.row) == [30, 1, 0, 12, 44], "rank \(rank)")
            for entry in got { #expect(entry.values == Self.sum(entry.row, rows), "rank \(rank) row \(entry.row)") }
        }
    }
}
