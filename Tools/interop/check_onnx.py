#!/usr/bin/env python3
"""ONNX interop check: `rechub export` against onnxruntime, for every model config in Configs/.

For each config (plus batch-norm, dropout and CGC variants), train a few hundred steps on small
generated data, export the checkpoint with `rechub export`, take 1,000 test rows with about a
tenth of their sparse ids replaced by ids past the field's vocabulary, and compare
`rechub predict` with onnxruntime on them. Prints one line per config:

    PASS onnx <config>: max |diff| click 1.2e-07, purchase 3.0e-08 (...)
    FAIL onnx <config>: <why>

A config passes when every task's largest absolute difference is at most 1e-5. Configs whose
data lives outside the repository (../shared) run on the generated data too (their CSV keys set to null).
Run by Tools/check_interop.sh with the virtualenv's python (onnxruntime, numpy):

    python check_onnx.py --rechub .build/release/rechub --work /tmp/empty --repo .
"""
import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-5
ROWS = 1000

# Small shapes where a config's own would train too slowly for a 15 s budget on 2 cores are
# not needed: the configs' shapes run as written, on 16,000 rows in batches of 64 (250 steps).
COMMON = [
    "data.generate.rows=16000", "data.generate.val_rows=1000", "data.generate.test_rows=2000",
    "data.generate.scale=0.01", "batch_size=64", "epochs=1", "threads=1", "log_every=1000",
    "checkpoint_every=0", "eval_batch_size=1024",
]

# Extra runs beside the configs: batch norm (running statistics in the graph), dropout (left
# out at inference) and CGC (PLE with one level).
VARIANTS = {
    "default.yaml": [("batch_norm+dropout", ["batch_norm=true", "dropout=0.2", "drop_last=true"])],
    "ple.yaml": [("cgc+batch_norm", ["num_layers=1", "batch_norm=true", "drop_last=true"])],
    "aitm.yaml": [("batch_norm", ["batch_norm=true", "drop_last=true"])],
    "shared_bottom.yaml": [("batch_norm+tanh", ["batch_norm=true", "activation=tanh", "drop_last=true"])],
    "esmm.yaml": [("batch_norm+sigmoid", ["batch_norm=true", "activation=sigmoid", "drop_last=true"])],
}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def uses_outside_data(path):
    text = open(path).read()
    return "../shared" in text


def newest_checkpoint(folder):
    files = sorted(f for f in glob.glob(os.path.join(folder, "*.rhck")) if not f.endswith("best.rhck"))
    return files[-1] if files else None


def make_oov_rows(test_csv, out_csv, sparse, vocab, rng):
    """The first ROWS rows of test_csv with ~10 % of the sparse ids moved past the vocabulary."""
    with open(test_csv) as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for _, r in zip(range(ROWS), reader)]
    col = {name: header.index(name) for name in sparse}
    replaced = 0
    for r in rows:
        for f, name in enumerate(sparse):
            if rng.random() < 0.1:
                r[col[name]] = str(vocab[f] + int(rng.integers(0, 1000)))
                replaced += 1
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return header, rows, replaced


def check(name, config, sets, args, data_dir, rng):
    out = os.path.join(args.work, name.replace("/", "_").replace("+", "_"))
    os.makedirs(out, exist_ok=True)
    overrides = COMMON + [f"data.generate.dir={data_dir}", f"output_dir={out}/run"] + sets
    if uses_outside_data(config):
        # Its own CSVs off: it trains on the generated data set (data.generate does not mix with them).
        overrides += ["data.train=null", "data.val=null", "data.test=null", "data.cache=true"]
    cmd = [args.rechub, "train", "--config", config]
    for s in overrides:
        cmd += ["--set", s]
    t0 = time.monotonic()
    r = run(cmd, cwd=args.repo)
    train_seconds = time.monotonic() - t0
    if r.returncode != 0:
        return f"FAIL onnx {name}: training failed: {r.stderr.strip()[-400:]}"
    ckpt = newest_checkpoint(os.path.join(out, "run", "checkpoints"))
    if ckpt is None:
        return f"FAIL onnx {name}: no checkpoint in {out}/run/checkpoints"
    model_path = os.path.join(out, "model.onnx")
    t0 = time.monotonic()
    r = run([args.rechub, "export", "--checkpoint", ckpt, "--out", model_path])
    export_seconds = time.monotonic() - t0
    if r.returncode != 0:
        return f"FAIL onnx {name}: export failed: {r.stderr.strip()[-400:]}"
    size = os.path.getsize(model_path)

    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    tasks = json.loads(meta["rechub.tasks"])
    sparse = json.loads(meta["rechub.sparse_features"])
    dense = json.loads(meta["rechub.dense_features"])
    vocab = [int(v) for v in json.loads(meta["rechub.vocabulary_sizes"])]
    test_csv = os.path.join(out, "test_oov.csv")
    header, rows, replaced = make_oov_rows(os.path.join(data_dir, "test.csv"), test_csv, sparse, vocab, rng)

    pred_csv = os.path.join(out, "predict.csv")
    r = run([args.rechub, "predict", "--checkpoint", ckpt, "--data", test_csv, "--out", pred_csv])
    if r.returncode != 0:
        return f"FAIL onnx {name}: predict failed: {r.stderr.strip()[-400:]}"
    with open(pred_csv) as f:
        reader = csv.reader(f)
        pred_header = next(reader)
        expected = np.array([[float(v) for v in row] for row in reader], dtype=np.float64)
    if pred_header != tasks:
        return f"FAIL onnx {name}: predict's columns {pred_header} differ from the ONNX tasks {tasks}"

    feeds = {"sparse_ids": np.array([[int(r[header.index(c)]) for c in sparse] for r in rows], dtype=np.int64)}
    if dense:
        feeds["dense"] = np.array([[float(r[header.index(c)]) for c in dense] for r in rows], dtype=np.float32)
    names = [o.name for o in sess.get_outputs()]
    outputs = dict(zip(names, sess.run(None, feeds)))
    got = outputs["predictions"].astype(np.float64)
    if got.shape != expected.shape:
        return f"FAIL onnx {name}: onnxruntime gave {got.shape}, predict {expected.shape}"
    diffs = np.abs(got - expected).max(axis=0)
    extra = ""
    if "pcvr" in outputs:
        # ESMM: pCTCVR = pCTR × pCVR within the graph.
        pcvr = outputs["pcvr"][:, 0].astype(np.float64)
        d = np.abs(got[:, 0] * pcvr - got[:, 1]).max()
        extra = f", pcvr·pctr vs pctcvr {d:.1e}"
        if d > TOLERANCE:
            diffs = np.append(diffs, d)
    spread = float(expected.max() - expected.min())
    per_task = ", ".join(f"{t} {d:.1e}" for t, d in zip(tasks, diffs))
    detail = (f"({len(rows)} rows, {replaced} ids past the vocabulary; train {train_seconds:.1f} s, "
              f"export {export_seconds:.2f} s, {size / 1e6:.2f} MB{extra})")
    if not np.all(diffs <= TOLERANCE) or not np.isfinite(diffs).all():
        return f"FAIL onnx {name}: max |diff| {per_task} over {TOLERANCE} {detail}"
    if spread < 1e-6:
        return f"FAIL onnx {name}: predictions are constant ({spread}), the comparison proves nothing"
    return f"PASS onnx {name}: max |diff| {per_task} {detail}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rechub", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--only", nargs="*", help="config file names to run (default: all)")
    args = p.parse_args()
    args.rechub = os.path.abspath(args.rechub)
    args.work = os.path.abspath(args.work)
    os.makedirs(args.work, exist_ok=True)
    data_dir = os.path.join(args.work, "data")
    rng = np.random.default_rng(7)
    failed = 0
    for config in sorted(glob.glob(os.path.join(args.repo, "Configs", "*.yaml"))):
        base = os.path.basename(config)
        if args.only and base not in args.only:
            continue
        for name, sets in [(base, [])] + [(f"{base}+{v}", s) for v, s in VARIANTS.get(base, [])]:
            try:
                line = check(name, config, sets, args, data_dir, rng)
            except Exception as e:  # one config's crash is its FAIL line, the others still run
                line = f"FAIL onnx {name}: {type(e).__name__}: {e}"
            failed += line.startswith("FAIL")
            print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
