import Kernels
import Layers
import Glibc
import Foundation

/// How embedding rows are updated.
public enum EmbeddingUpdate: String, Sendable, Codable, CaseIterable {
    /// Row-wise lazy Adam: only the rows a step touched move, and only their moments decay
    /// (PyTorch's `SparseAdam` semantics, plus weight decay on the touched rows).
    case lazy
    /// Dense Adam over every row, untouched rows seeing a zero gradient: exact parity with
    /// `torch.optim.Adam` on `nn.Embedding`, at a cost proportional to the vocabulary.
    case dense
}
