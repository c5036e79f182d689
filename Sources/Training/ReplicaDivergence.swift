import Collectives
import Foundation
import Datasets
import Kernels
import Layers
import Models

/// The ranks' parameters differ: a replica diverged (a bug, or a rank fed different data).
public struct ReplicaDivergence: Error, CustomStringConvertible, Sendable {
    /// The step after which the checksums were compared.
    public var step: Int
    /// The first rank whose checksum differs from rank 0's.
    public var rank: Int
    /// Every rank's checksum.
    public var checksums: [UInt64]

    public var description: String {
        "replicas diverged at step \(step): rank \(rank)'s parameter checksum differs from rank 0's "
            + "(\(checksums.map { String($0, radix: 16) }.joined(separator: ", ")))"
    }
}
