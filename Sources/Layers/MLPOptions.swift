/// Options of every MLP a model builds (towers, bottoms, experts).
public struct MLPOptions: Sendable, Equatable, Codable {
    /// Batch normalisation after each hidden linear layer, before the activation (as torch-rechub's MLP).
    public var batchNorm: Bool
    /// Dropout probability after each hidden activation, training only.
    public var dropout: Float

    /// No batch normalisation, no dropout (the default).
    public init(batchNorm: Bool = false, dropout: Float = 0) {
        self.batchNorm = batchNorm
        self.dropout = dropout
    }
}
