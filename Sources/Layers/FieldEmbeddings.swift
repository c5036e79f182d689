import Kernels

/// One embedding table per sparse field, all stored in one row-major arena.
///
/// ```
/// x[b, f·E ..< (f+1)·E] = table_f[id[b, f]]      id: (B, F)   x: (B, F·E)
/// ```
/// Field f has `vocabularySizes[f] + 1` rows: the last is the out-of-vocabulary row.
/// Global row of (f, id) = `rowOffsets[f] + id`. Gradients are sparse (`SparseRowGradient`).
/// Initialised N(0, `initStd`²), torch-rechub's default being std 1e-4.
public final class FieldEmbeddings: @unchecked Sendable {
    /// In-vocabulary ids per field (the table has one more row for OOV).
    public let vocabularySizes: [Int]
    /// Embedding width E.
    public let dim: Int
    /// First global row of each field's table.
    public let rowOffsets: [Int]
    /// Total rows over all fields.
    public let rowCount: Int
    /// The tables, (rowCount, E).
    public let weights: FloatBuffer
    /// Standard deviation of the initial values.
    public let initStd: Float
    private let offsetTable: UnsafeMutablePointer<Int32>

    /// Number of fields F.
    public var numFields: Int { vocabularySizes.count }

    /// Allocates the tables (zeros until `initialize`).
    public init(vocabularySizes: [Int], dim: Int, initStd: Float = 1e-4) {
        precondition(!vocabularySizes.isEmpty && dim > 0, "embeddings need fields and a positive dim, got \(vocabularySizes.count), \(dim)")
        precondition(vocabularySizes.allSatisfy { $0 >= 0 }, "negative vocabulary size in \(vocabularySizes)")
        self.vocabularySizes = vocabularySizes
        self.dim = dim
        self.initStd = initStd
        var offsets: [Int] = []
        var next = 0
        for v in vocabularySizes {
            offsets.append(next)
            next += v + 1
        }
        precondition(next < Int(Int32.max), "embedding rows \(next) exceed Int32 range")
        rowOffsets = offsets
        rowCount = next
        weights = FloatBuffer(count: next * dim)
        offsetTable = .allocate(capacity: offsets.count)
        for (i, o) in offsets.enumerated() { offsetTable[i] = Int32(o) }
    }

    deinit { offsetTable.deallocate() }

    /// The field a global row belongs to (binary search over the F row offsets).
    @inline(__always)
    public func field(ofRow row: Int) -> Int {
        var lo = 0, hi = rowOffsets.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if rowOffsets[mid] <= row { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Draws every row from N(0, initStd²).
    public func initialize(rng: inout SeededRandom) {
        for i in 0..<weights.count { weights.base[i] = Float(rng.nextGaussian()) * initStd }
    }

    /// The global row of each id: `rows[b·F + f] = rowOffsets[f] + ids[b·F + f]`.
    /// - ids: (B, F), already mapped into 0...vocab[f].
    @inline(__always)
    public func globalRows(ids: UnsafePointer<Int32>, batch: Int, into rows: UnsafeMutablePointer<Int32>) {
        let f = numFields
        for b in 0..<batch {
            for j in 0..<f { rows[b * f + j] = offsetTable[j] + ids[b * f + j] }
        }
    }

    /// Gathers the rows into `x` (B, F·E) with row stride `ldx`.
    /// - rows: (B, F) global rows from `globalRows`.
    @inline(__always)
    public func forward(output x: UnsafeMutablePointer<Float>, ldx: Int, rows: UnsafePointer<Int32>, batch: Int) {
        let f = numFields
        let e = dim
        let w = weights.base
        for b in 0..<batch {
            let xr = x + b * ldx
            for j in 0..<f {
                (xr + j * e).update(from: w + Int(rows[b * f + j]) * e, count: e)
            }
        }
    }

    /// Adds the gradient of `x` (B, F·E, row stride `lddx`) into the sparse row gradient.
    @inline(__always)
    public func backward(dOutput dx: UnsafePointer<Float>, lddx: Int, rows: UnsafePointer<Int32>, batch: Int,
                         into grad: SparseRowGradient) {
        let f = numFields
        for b in 0..<batch {
            let dr = dx + b * lddx
            for j in 0..<f { grad.add(row: rows[b * f + j], dr + j * dim) }
        }
    }
}

/// A sparse gradient over the rows of an embedding arena: the touched rows and their sums.
///
/// A slot table of one Int32 per row (−1 = untouched) makes `add` O(E) with no hashing;
/// `reset` clears only the touched slots, so a step costs O(touched), not O(rows).
public final class SparseRowGradient: @unchecked Sendable {
    /// Embedding width E.
    public let dim: Int
    /// The most distinct rows one step can touch.
    public let capacity: Int
    /// The touched global rows, in first-touch order: `rows[0..<count]`.
    public let rows: UnsafeMutablePointer<Int32>
    /// The gradient rows: `values[i·E ..< (i+1)·E]` belongs to `rows[i]`.
    public let values: FloatBuffer
    /// How many rows are touched.
    public private(set) var count = 0
    private let slots: Int32Buffer

    /// Allocates for an arena of `rowCount` rows and up to `capacity` touched rows per step.
    public init(rowCount: Int, dim: Int, capacity: Int) {
        self.dim = dim
        self.capacity = capacity
        rows = .allocate(capacity: max(capacity, 1))
        values = FloatBuffer(count: capacity * dim)
        slots = Int32Buffer(count: rowCount, repeating: -1)
    }

    deinit { rows.deallocate() }

    /// Adds the E-vector `g` to row `row`'s gradient.
    @inline(__always)
    public func add(row: Int32, _ g: UnsafePointer<Float>) {
        let v = values.base + slot(touching: row) * dim
        for i in 0..<dim { v[i] += g[i] }
    }

    /// Adds `a · g` to row `row`'s gradient.
    @inline(__always)
    public func add(row: Int32, scaled a: Float, _ g: UnsafePointer<Float>) {
        let v = values.base + slot(touching: row) * dim
        for i in 0..<dim { v[i] += a * g[i] }
    }

    /// The slot of `row`, giving it a zeroed one on its first touch this step.
    @inline(__always)
    private func slot(touching row: Int32) -> Int {
        var s = slots.base[Int(row)]
        if s < 0 {
            precondition(count < capacity, "sparse gradient capacity \(capacity) exceeded")
            s = Int32(count)
            slots.base[Int(row)] = s
            rows[count] = row
            (values.base + count * dim).update(repeating: 0, count: dim)
            count += 1
        }
        return Int(s)
    }

    /// The slot of `row`, or nil when untouched.
    public func slot(of row: Int32) -> Int? {
        let s = slots.base[Int(row)]
        return s < 0 ? nil : Int(s)
    }

    /// Forgets every touched row.
    public func reset() {
        for i in 0..<count { slots.base[Int(rows[i])] = -1 }
        count = 0
    }
}
