/// The inputs a model reads: sparse fields with their vocabularies, and dense columns.
///
/// ```
/// model input x = [ emb_1(id_1) | … | emb_F(id_F) | dense_1 … dense_D ]     (B, F·E + D)
/// ```
public struct Features: Sendable, Equatable, Codable {
    /// Names of the F sparse fields.
    public var sparseNames: [String]
    /// In-vocabulary ids per sparse field; each table has one more row for out-of-vocabulary ids.
    public var vocabularySizes: [Int]
    /// Embedding width E, the same for every field.
    public var embeddingDim: Int
    /// Names of the D dense columns.
    public var denseNames: [String]

    /// Describes the model's inputs.
    public init(sparseNames: [String], vocabularySizes: [Int], embeddingDim: Int, denseNames: [String]) {
        precondition(sparseNames.count == vocabularySizes.count,
                     "\(sparseNames.count) sparse names but \(vocabularySizes.count) vocabulary sizes")
        precondition(!sparseNames.isEmpty, "a model needs at least one sparse field")
        precondition(embeddingDim > 0, "embedding dim must be positive, got \(embeddingDim)")
        self.sparseNames = sparseNames
        self.vocabularySizes = vocabularySizes
        self.embeddingDim = embeddingDim
        self.denseNames = denseNames
    }

    /// F, the number of sparse fields.
    public var numSparse: Int { sparseNames.count }
    /// D, the number of dense columns.
    public var numDense: Int { denseNames.count }
    /// The width of the model input, F·E + D.
    public var inputWidth: Int { numSparse * embeddingDim + numDense }
}
