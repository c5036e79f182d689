/// Exact area under the ROC curve of `scores` against 0/1 `labels`, or nil when the split
/// holds only one class (or nothing), where AUC is undefined.
///
/// This is the Mann–Whitney U statistic over all (positive, negative) pairs, a tie in score
/// counting one half — the same number as the trapezoidal area under the full ROC curve,
/// and as scikit-learn's `roc_auc_score` (to within its float64 rounding, about 1e-16 per
/// sample):
///
/// ```
/// AUC = U / (P · N)
/// U   = Σ_{i : y_i = 1} Σ_{j : y_j = 0} ( [s_i > s_j] + ½ [s_i = s_j] )
/// P   = #{i : y_i = 1},   N = #{j : y_j = 0}
/// ```
///
/// - A label counts as positive when `label > 0.5`, otherwise (NaN included) as negative.
/// - `-0` and `+0` are the same score; infinities are ordinary scores.
/// - If any score is NaN (and both classes are present) the result is `.nan`: the ranking
///   is meaningless, but a diverged model should not crash an evaluation.
/// - Cost: O(n) to split the scores by class into order-preserving integer keys, a linear
///   radix sort of each class, and one merge walk counting 2U exactly in `Int`. Extra
///   memory is about two keys per sample (8 bytes for Float scores); no per-sample
///   allocation.
///
/// - Precondition: `scores.count == labels.count`.
public func rocAUC(
    scores: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>
) -> Double? {
    precondition(scores.count == labels.count,
                 "rocAUC: \(scores.count) scores but \(labels.count) labels")
    return MannWhitneyCounts(scores: scores, labels: labels).auc
}

/// Exact ROC AUC of Float64 `scores` against 0/1 `labels`; nil when only one class is present.
///
/// Same definition as the Float overload; Float64 scores are ranked at full precision
/// (they are not rounded to Float, which could create ties).
///
/// ```
/// AUC = U / (P · N)
/// ```
///
/// - Precondition: `scores.count == labels.count`.
public func rocAUC(
    scores: UnsafeBufferPointer<Double>, labels: UnsafeBufferPointer<Float>
) -> Double? {
    precondition(scores.count == labels.count,
                 "rocAUC: \(scores.count) scores but \(labels.count) labels")
    return MannWhitneyCounts(scores: scores, labels: labels).auc
}

/// Exact ROC AUC of `scores` against 0/1 `labels`; nil when only one class is present.
///
/// ```
/// AUC = U / (P · N)
/// ```
///
/// - Precondition: `scores.count == labels.count`.
public func rocAUC(scores: [Float], labels: [Float]) -> Double? {
    precondition(scores.count == labels.count,
                 "rocAUC: \(scores.count) scores but \(labels.count) labels")
    return scores.withUnsafeBufferPointer { s in
        labels.withUnsafeBufferPointer { l in rocAUC(scores: s, labels: l) }
    }
}

/// Exact ROC AUC of Float64 `scores` against 0/1 `labels`; nil when only one class is present.
///
/// ```
/// AUC = U / (P · N)
/// ```
///
/// - Precondition: `scores.count == labels.count`.
public func rocAUC(scores: [Double], labels: [Float]) -> Double? {
    precondition(scores.count == labels.count,
                 "rocAUC: \(scores.count) scores but \(labels.count) labels")
    return scores.withUnsafeBufferPointer { s in
        labels.withUnsafeBufferPointer { l in rocAUC(scores: s, labels: l) }
    }
}

/// The integer counts behind the Mann–Whitney U statistic of one split.
struct MannWhitneyCounts {
    /// Samples with `label > 0.5`.
    var positives: Int
    /// The other samples.
    var negatives: Int
    /// Twice U, so that half-counted ties stay integral (0 when AUC is undefined).
    ///
    /// ```
    /// 2U = Σ over (positive, negative) pairs of 2·[s+ > s−] + [s+ = s−]  ≤ 2·P·N ≤ n²/2
    /// ```
    /// It fits `Int` for every n below 2^32.
    var twiceU: Int
    /// Whether some score was NaN.
    var sawNaN: Bool

    /// U / (P·N); nil with fewer than two classes, NaN after a NaN score.
    var auc: Double? {
        guard positives > 0, negatives > 0 else { return nil }
        if sawNaN { return .nan }
        // P·N < 2^53 up to n ≈ 1.9e8, so the denominator is exact there and the only
        // rounding is the final division.
        return Double(twiceU) / (2 * Double(positives) * Double(negatives))
    }

    /// Counts one split: splits the scores by class into sortable keys, radix-sorts each
    /// class, and walks the two sorted lists once.
    init<Score: OrderedBitsConvertible>(
        scores: UnsafeBufferPointer<Score>, labels: UnsafeBufferPointer<Float>
    ) {
        precondition(scores.count == labels.count,
                     "rocAUC: \(scores.count) scores but \(labels.count) labels")
        let n = scores.count
        var positives = 0
        var sawNaN = false
        for i in 0..<n {
            if labels[i] > 0.5 { positives &+= 1 }
            if scores[i].isNaN { sawNaN = true }
        }
        let negatives = n - positives
        self.positives = positives
        self.negatives = negatives
        self.sawNaN = sawNaN
        self.twiceU = 0
        guard positives > 0, negatives > 0, !sawNaN else { return }

        typealias Key = Score.OrderedBits
        let positiveKeys = UnsafeMutableBufferPointer<Key>.allocate(capacity: positives)
        let negativeKeys = UnsafeMutableBufferPointer<Key>.allocate(capacity: negatives)
        let scratch = UnsafeMutableBufferPointer<Key>.allocate(capacity: max(positives, negatives))
        defer {
            positiveKeys.deallocate()
            negativeKeys.deallocate()
            scratch.deallocate()
        }
        // Keys are trivial integers: plain stores into the allocated memory are fine.
        var p = 0
        var q = 0
        for i in 0..<n {
            let key = scores[i].orderedBits
            if labels[i] > 0.5 {
                positiveKeys[p] = key
                p &+= 1
            } else {
                negativeKeys[q] = key
                q &+= 1
            }
        }
        radixSort(positiveKeys, scratch: scratch)
        radixSort(negativeKeys, scratch: scratch)
        self.twiceU = Self.twiceU(sortedPositives: UnsafeBufferPointer(positiveKeys),
                                  sortedNegatives: UnsafeBufferPointer(negativeKeys))
    }

    /// 2U from the two classes' keys, each sorted ascending: for each run of equal positive
    /// keys, the negatives strictly below count twice and the equal ones once.
    static func twiceU<Key: FixedWidthInteger>(
        sortedPositives pos: UnsafeBufferPointer<Key>, sortedNegatives neg: UnsafeBufferPointer<Key>
    ) -> Int {
        var twiceU = 0
        var below = 0  // negatives with key < the current positive key
        var i = 0
        while i < pos.count {
            let key = pos[i]
            var runEnd = i &+ 1
            while runEnd < pos.count && pos[runEnd] == key { runEnd &+= 1 }
            while below < neg.count && neg[below] < key { below &+= 1 }
            var notAbove = below
            while notAbove < neg.count && neg[notAbove] == key { notAbove &+= 1 }
            twiceU += (runEnd - i) * (below + notAbove)  // 2·below + (notAbove − below)
            below = notAbove
            i = runEnd
        }
        return twiceU
    }
}
