#!/usr/bin/env python3
"""Prints the scikit-learn reference values for the Evaluation tests as a Swift file.

Usage (from the package root, with scikit-learn and NumPy installed):

    python3 Tools/evaluation_fixtures.py > Tests/EvaluationTests/SklearnFixtures.swift

The tests never run Python: this script is run by hand when a fixture changes, and its
output is committed. All inputs are Float32 (what RecHub's models produce); each one is
printed as a Swift literal that denotes exactly that Float32 value (a short decimal when
the decimal is exact, otherwise a hexadecimal float literal), so Swift and NumPy see the
very same numbers.

Log loss: RecHub's `logLoss` clips probabilities to [eps, 1 - eps] with
eps = np.finfo(np.float32).eps = 2**-23, which is what scikit-learn does for float32
input (eps='auto' became the default in 1.2 and the only behaviour in 1.5), and then
computes in float64. So the value printed as `reference` is sklearn's `log_loss` on the
float32-clipped values cast to float64 (sklearn's own float64 clip at 2**-52 is then a
no-op); `sklearnFloat32` is sklearn's `log_loss` on the raw float32 array, which clips
identically but does its arithmetic in float32, so it agrees with `reference` only to
float32 precision (the script asserts how closely).
"""

import math
import platform
import sys
import warnings
from fractions import Fraction

import numpy as np
import sklearn
from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score

F32 = np.float32
EPS32 = float(np.finfo(np.float32).eps)
assert EPS32 == 2.0**-23

# The float32-path log loss may differ from the float64 reference by at most this much
# (relative); the Swift test uses the same bound. float32 has a unit roundoff of 2**-24
# (6e-8); log and the pairwise sum over <= 200 terms add a few roundings each.
FLOAT32_PATH_RTOL = 1e-6


def swift_float(x):
    """A Swift literal that denotes exactly the float32 value `x`."""
    x = F32(x)
    assert math.isfinite(float(x)), x
    if float(x) == 0.0:
        return "-0.0" if math.copysign(1.0, float(x)) < 0 else "0"
    if float(x).is_integer() and abs(float(x)) < 2**24:
        return str(int(x))
    short = np.format_float_positional(x, unique=True, trim="-")
    if Fraction(short) == Fraction(float(x)):
        return short
    h = float(x).hex()  # e.g. 0x1.99999a0000000p-4 (exact: float32 -> float64 is exact)
    mantissa, exponent = h.split("p")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}p{exponent}"


def swift_double(x):
    if x is None:
        return "nil"
    return repr(float(x))


def swift_array(values, indent=12, width=96):
    """A Swift array literal, on one line when short, else wrapped at `width` columns."""
    items = [swift_float(v) for v in values]
    one_line = "[" + ", ".join(items) + "]"
    if len(one_line) <= width - 30:
        return one_line
    pad = " " * indent
    lines, line = [], ""
    for item in items:
        candidate = f"{line} {item}," if line else f"{item},"
        if len(pad) + len(candidate) > width:
            lines.append(line)
            candidate = f"{item},"
        line = candidate
    lines.append(line)
    return "[\n" + "\n".join(pad + l for l in lines) + "\n" + " " * (indent - 4) + "]"


def exact_auc(scores, labels):
    """Mann-Whitney U / (P N) as an exact fraction, by brute force over all pairs."""
    s = [float(v) for v in scores]
    pos = [v for v, y in zip(s, labels) if y > 0.5]
    neg = [v for v, y in zip(s, labels) if y <= 0.5]
    if not pos or not neg:
        return None
    twice_u = sum(2 * (p > n) + (p == n) for p in pos for n in neg)
    return Fraction(twice_u, 2 * len(pos) * len(neg))


def sklearn_auc(scores, labels):
    if len(set(int(y) for y in labels)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return float(roc_auc_score(np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=F32)))


def log_loss_reference(probabilities, labels):
    p32 = np.asarray(probabilities, dtype=F32)
    clipped = np.clip(p32, F32(EPS32), F32(1.0) - F32(EPS32)).astype(np.float64)
    y = np.asarray(labels, dtype=np.int64)
    return float(log_loss(y, clipped, labels=[0, 1]))


def log_loss_float32_path(probabilities, labels):
    p32 = np.asarray(probabilities, dtype=F32)
    y = np.asarray(labels, dtype=np.int64)
    return float(log_loss(y, p32, labels=[0, 1]))


# MARK: - ROC AUC fixtures

def auc_fixtures():
    rng = np.random.default_rng(20240611)
    cases = [
        ("four distinct scores", [0.125, 0.5, 0.375, 0.75], [0, 0, 1, 1]),
        ("ties across classes", [0.5, 0.5, 0.25, 0.75, 0.5, 0.25], [1, 0, 0, 1, 1, 0]),
        ("all scores tied", [0.5] * 7, [1, 0, 0, 1, 0, 1, 0]),
        ("perfectly separated", [0.0625, 0.125, 0.25, 0.5, 0.625, 0.875], [0, 0, 0, 1, 1, 1]),
        ("perfectly reversed", [0.0625, 0.125, 0.25, 0.5, 0.625, 0.875], [1, 1, 1, 0, 0, 0]),
        ("logits with signed zeros", [-2.5, -0.0, 0.0, 1.75, -2.5, 3.0, 0.0, -1.0],
         [0, 1, 0, 1, 1, 1, 0, 0]),
        ("one positive among many", [0.25, 0.5, 0.75, 0.5, 1.0, 0.0, 0.5], [0, 0, 0, 1, 0, 0, 0]),
    ]
    # ~200 samples on 17 score levels (k / 16, exact in binary): many ties in and across
    # classes; positives more likely at high scores.
    k = rng.integers(0, 17, size=200)
    scores = (k / 16.0).astype(F32)
    labels = (rng.random(200) < 0.15 + 0.7 * k / 16.0).astype(np.int64)
    cases.append(("random 200 on 17 levels", scores.tolist(), labels.tolist()))
    # Unrounded float32 scores from a logistic model: few ties, typical CTR magnitudes.
    logits = rng.normal(-1.5, 1.2, size=150)
    scores = (1.0 / (1.0 + np.exp(-logits))).astype(F32)
    labels = (rng.random(150) < scores).astype(np.int64)
    cases.append(("random 150 sigmoid scores", scores.tolist(), labels.tolist()))

    out = []
    for name, scores, labels in cases:
        ref = sklearn_auc(scores, labels)
        exact = exact_auc(np.asarray(scores, dtype=F32), labels)
        assert ref is not None and abs(ref - float(exact)) <= 1e-14, (name, ref, exact)
        out.append((name, scores, labels, ref, exact))
    return out


# MARK: - Log loss fixtures

def log_loss_fixtures():
    rng = np.random.default_rng(7)
    tiny = F32(1e-10)            # inside (0, eps): clipped up to 2**-23
    below_one = F32(1.0 - 2**-24)  # the float32 just below 1: clipped down to 1 - 2**-23
    cases = [
        ("hand probabilities", [0.875, 0.25, 0.5, 0.0625, 0.75], [1, 0, 1, 0, 0]),
        ("exact zeros and ones", [0.0, 1.0, 0.0, 1.0, 0.5], [0, 1, 1, 0, 1]),
        ("inside the clipping band",
         [tiny, tiny, below_one, below_one, 2**-24, 2**-23, 1 - 2**-23, 0.5],
         [0, 1, 1, 0, 1, 1, 0, 0]),
        ("only positives", [0.875, 0.25, 1.0, 0.0], [1, 1, 1, 1]),
        ("only negatives", [0.875, 0.25, 1.0, 0.0], [0, 0, 0, 0]),
    ]
    logits = rng.normal(-1.0, 3.0, size=200)
    probabilities = (1.0 / (1.0 + np.exp(-logits))).astype(F32)
    probabilities[[3, 50, 120]] = [0.0, 1.0, 1.0]  # saturated predictions, as float32 sigmoids give
    labels = (rng.random(200) < probabilities).astype(np.int64)
    labels[50] = 0  # one confidently wrong prediction
    cases.append(("random 200 sigmoid probabilities", probabilities.tolist(), labels.tolist()))

    out = []
    worst = 0.0
    for name, probabilities, labels in cases:
        ref = log_loss_reference(probabilities, labels)
        f32 = log_loss_float32_path(probabilities, labels)
        rel = abs(f32 - ref) / abs(ref)
        worst = max(worst, rel)
        assert rel <= FLOAT32_PATH_RTOL, (name, ref, f32, rel)
        out.append((name, probabilities, labels, ref, f32, sklearn_auc(probabilities, labels)))
    return out, worst


# MARK: - Mean squared error fixtures

def mse_fixtures():
    rng = np.random.default_rng(11)
    cases = [
        ("hand regression", [1.5, -0.25, 3.0, 0.0], [1.0, 0.25, 2.5, -0.5]),
        ("exact predictions", [0.125, -7.0, 42.0], [0.125, -7.0, 42.0]),
    ]
    labels = rng.normal(3.0, 2.0, size=100).astype(F32)
    predictions = (labels + rng.normal(0.0, 0.5, size=100)).astype(F32)
    cases.append(("random 100 regression", predictions.tolist(), labels.tolist()))
    out = []
    for name, predictions, labels in cases:
        ref = float(mean_squared_error(np.asarray(labels, dtype=F32).astype(np.float64),
                                       np.asarray(predictions, dtype=F32).astype(np.float64)))
        out.append((name, predictions, labels, ref))
    return out


def main():
    aucs = auc_fixtures()
    losses, worst = log_loss_fixtures()
    mses = mse_fixtures()
    w = sys.stdout.write
    w(f"""// GENERATED by Tools/evaluation_fixtures.py -- do not edit by hand.
// scikit-learn {sklearn.__version__}, NumPy {np.__version__}, Python {platform.python_version()}.
// Regenerate: python3 Tools/evaluation_fixtures.py > Tests/EvaluationTests/SklearnFixtures.swift
//
// Every Float literal below denotes exactly the float32 value NumPy used (hexadecimal
// where no short decimal is exact). Log-loss references clip at eps = 2^-23, as
// scikit-learn does for float32 input; `reference` is computed in float64 on the clipped
// values, `sklearnFloat32` is sklearn's own float32 arithmetic on the raw array (largest
// relative gap between the two over these fixtures: {worst:.2e}).

import Testing

/// One `roc_auc_score` reference case.
struct AUCFixture: Sendable, CustomTestStringConvertible {{
    /// What the case exercises.
    let name: String
    /// Float32 scores.
    let scores: [Float]
    /// 0/1 labels.
    let labels: [Float]
    /// `sklearn.metrics.roc_auc_score(labels, scores)`.
    let sklearnAUC: Double
    /// The exact Mann-Whitney ratio 2U / (2 P N), computed with Python fractions.
    let twiceU: Int
    /// 2 P N, the denominator of `twiceU`.
    let twicePairs: Int

    var testDescription: String {{ name }}
}}

/// One `log_loss` reference case.
struct LogLossFixture: Sendable, CustomTestStringConvertible {{
    /// What the case exercises.
    let name: String
    /// Float32 probabilities of the positive class.
    let probabilities: [Float]
    /// 0/1 labels.
    let labels: [Float]
    /// `log_loss(labels, clip(p32, 2^-23, 1 - 2^-23).astype(float64), labels=[0, 1])`.
    let reference: Double
    /// `log_loss(labels, p32, labels=[0, 1])`: sklearn's float32 arithmetic.
    let sklearnFloat32: Double
    /// `roc_auc_score(labels, p32)`, nil when only one class is present.
    let sklearnAUC: Double?

    var testDescription: String {{ name }}
}}

/// One `mean_squared_error` reference case.
struct MSEFixture: Sendable, CustomTestStringConvertible {{
    /// What the case exercises.
    let name: String
    /// Float32 predictions.
    let predictions: [Float]
    /// Float32 regression targets.
    let labels: [Float]
    /// `mean_squared_error(labels, predictions)` on the float32 values cast to float64.
    let sklearnMSE: Double

    var testDescription: String {{ name }}
}}

""")
    w("/// `roc_auc_score` references.\n")
    w("let aucFixtures: [AUCFixture] = [\n")
    for name, scores, labels, ref, exact in aucs:
        w("    AUCFixture(\n")
        w(f"        name: {name!r},\n".replace("'", '"'))
        w(f"        scores: {swift_array(scores)},\n")
        w(f"        labels: {swift_array(labels)},\n")
        w(f"        sklearnAUC: {swift_double(ref)},\n")
        n_pos = sum(1 for y in labels if y > 0.5)
        twice_pairs = 2 * n_pos * (len(labels) - n_pos)
        twice_u = exact * twice_pairs
        assert twice_u.denominator == 1
        w(f"        twiceU: {twice_u.numerator},\n")
        w(f"        twicePairs: {twice_pairs}\n")
        w("    ),\n")
    w("]\n\n")
    w("/// `log_loss` references (eps = 2^-23).\n")
    w("let logLossFixtures: [LogLossFixture] = [\n")
    for name, probabilities, labels, ref, f32, auc in losses:
        w("    LogLossFixture(\n")
        w(f"        name: {name!r},\n".replace("'", '"'))
        w(f"        probabilities: {swift_array(probabilities)},\n")
        w(f"        labels: {swift_array(labels)},\n")
        w(f"        reference: {swift_double(ref)},\n")
        w(f"        sklearnFloat32: {swift_double(f32)},\n")
        w(f"        sklearnAUC: {swift_double(auc)}\n")
        w("    ),\n")
    w("]\n\n")
    w("/// `mean_squared_error` references.\n")
    w("let mseFixtures: [MSEFixture] = [\n")
    for name, predictions, labels, ref in mses:
        w("    MSEFixture(\n")
        w(f"        name: {name!r},\n".replace("'", '"'))
        w(f"        predictions: {swift_array(predictions)},\n")
        w(f"        labels: {swift_array(labels)},\n")
        w(f"        sklearnMSE: {swift_double(ref)}\n")
        w("    ),\n")
    w("]\n")


if __name__ == "__main__":
    main()
