/// Mean squared error of `predictions` against real-valued `labels`, for regression tasks.
///
/// ```
/// MSE = (1/n) Σ_i (ŷ_i − y_i)²
/// ```
///
/// - Each difference is taken after widening both Floats to Float64 (so it is exact) and
///   the squares are summed in a `Double`; this matches scikit-learn's
///   `mean_squared_error` on the same values as float64.
/// - An empty input gives NaN (0/0), as `logLoss` does.
///
/// - Precondition: `predictions.count == labels.count`.
public func meanSquaredError(
    predictions: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>
) -> Double {
    precondition(predictions.count == labels.count,
                 "meanSquaredError: \(predictions.count) predictions but \(labels.count) labels")
    var sum = 0.0
    for i in 0..<predictions.count {
        let d = Double(predictions[i]) - Double(labels[i])
        sum += d * d
    }
    return sum / Double(predictions.count)
}

/// Mean squared error of `predictions` against real-valued `labels`.
///
/// ```
/// MSE = (1/n) Σ_i (ŷ_i − y_i)²
/// ```
///
/// - Precondition: `predictions.count == labels.count`.
public func meanSquaredError(predictions: [Float], labels: [Float]) -> Double {
    precondition(predictions.count == labels.count,
                 "meanSquaredError: \(predictions.count) predictions but \(labels.count) labels")
    return predictions.withUnsafeBufferPointer { p in
        labels.withUnsafeBufferPointer { l in meanSquaredError(predictions: p, labels: l) }
    }
}
