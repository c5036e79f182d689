import Kernels
import Layers

/// Builds the model input from embeddings and dense values, and routes its gradient back
/// to the sparse embedding gradient; every model starts with one.
///
/// ```
/// x = [ table_f[id[b,f]] for f in 0..<F | dense[b] ]        x: (B, F·E + D)
/// ```
public final class ModelInput: @unchecked Sendable {
    /// The features this input reads.
    public let features: Features
    /// The embedding tables (shared by all tasks).
    public let embeddings: FieldEmbeddings
    /// The largest batch the buffers hold.
    public private(set) var capacity = 0
    /// The assembled input (B, F·E + D).
    public private(set) var x = FloatBuffer(count: 0)
    /// The gradient of the input (B, F·E + D), filled by the model's backward pass.
    public private(set) var dx = FloatBuffer(count: 0)
    /// Global embedding rows of the batch (B, F).
    public private(set) var rows = Int32Buffer(count: 0)

    /// Creates the embedding tables for `features`.
    public init(features: Features, embeddingInitStd: Float = 1e-4) {
        self.features = features
        embeddings = FieldEmbeddings(vocabularySizes: features.vocabularySizes, dim: features.embeddingDim,
                                     initStd: embeddingInitStd)
    }

    /// The input width, F·E + D.
    public var width: Int { features.inputWidth }
    /// The columns of the input that carry embeddings, F·E (first in each row): the only
    /// part of `dx` that `backward` reads.
    public var embeddingWidth: Int { features.numSparse * features.embeddingDim }

    /// Allocates the buffers for up to `batch` rows.
    public func prepare(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        x = FloatBuffer(count: batch * width)
        dx = FloatBuffer(count: batch * width)
        rows = Int32Buffer(count: batch * features.numSparse)
    }

    /// Gathers embeddings and copies dense values into `x`.
    /// - sparse: (B, F) ids in 0...vocab[f];  dense: (B, D).
    @inline(__always)
    public func forward(sparse: UnsafePointer<Int32>, dense: UnsafePointer<Float>, batch: Int) {
        precondition(batch <= capacity, "batch \(batch) exceeds the input capacity \(capacity)")
        embeddings.globalRows(ids: sparse, batch: batch, into: rows.base)
        embeddings.forward(output: x.base, ldx: width, rows: rows.base, batch: batch)
        let fe = features.numSparse * features.embeddingDim
        let d = features.numDense
        if d > 0 {
            Ops.copyBlock(from: dense, lds: d, to: x.base + fe, ldd: width, rows: batch, cols: d)
        }
    }

    /// Adds the embedding part of `dx` into the sparse gradient.
    @inline(__always)
    public func backward(batch: Int, into grad: SparseRowGradient) {
        embeddings.backward(dOutput: dx.base, lddx: width, rows: rows.base, batch: batch, into: grad)
    }
}
