#!/usr/bin/env python3
"""Reference training-throughput benchmark: torch-rechub MMoE on PyTorch CPU.

Used to compare RecHub (Swift) against torch-rechub 0.9. Needs a Python
environment with torch and torch-rechub==0.9.0 (plus pandas<3); it is not
part of the Swift build.

Input: a CSV in the Ali-CCP layout used by torch-rechub's examples:
    click,purchase,<23 sparse id columns: 101,121,...,301,109_14,...>,<8 dense D* columns>
Sparse features are the non-label columns whose names do not start with "D",
dense features are the columns whose names start with "D". Each sparse field
gets vocab_size = max id + 1 + --vocab-spare.

Two measurements at the same batch size, each on a freshly built model:
  step     a tight loop over pre-built batch tensors: forward, BCE per task
           combined like MTLTrainer does (mean over tasks by default), backward,
           Adam step. --warmup steps are run first and not timed.
  trainer  torch-rechub's own MTLTrainer.fit for one epoch over a DataLoader
           built with torch-rechub's DataGenerator (per-sample dataset,
           shuffle=True, default collate). samples/s is reported for the
           training epoch alone (train_one_epoch) and for the whole fit call
           (which also runs validation on a small slice and saves the model).

Prints exactly one JSON line on stdout; everything torch-rechub prints goes
to stderr.

Examples:
    python Tools/torch_rechub_bench.py --csv data.csv \
        --expert-units 256,128 --num-experts 8 --tower-units 64,32 --embed-dim 16
    python Tools/torch_rechub_bench.py --csv data.csv \
        --expert-units 16 --num-experts 8 --tower-units 8 --embed-dim 4
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

LABELS = ("click", "purchase")


def parse_units(text):
    text = text.strip()
    if not text:
        return []
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Measure torch-rechub MMoE training throughput (samples/s) on CPU.")
    p.add_argument("--csv", required=True, help="Ali-CCP layout CSV file")
    p.add_argument("--rows", type=int, default=None, help="read at most this many data rows")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads value")
    p.add_argument("--expert-units", default="256,128", help="expert MLP hidden sizes, comma separated")
    p.add_argument("--num-experts", type=int, default=8)
    p.add_argument("--tower-units", default="64,32", help="tower MLP hidden sizes (a Linear(.,1) is appended)")
    p.add_argument("--embed-dim", type=int, default=16, help="embedding size of every sparse field")
    p.add_argument("--vocab-spare", type=int, default=1, help="extra rows per embedding table beyond max id + 1")
    p.add_argument("--dropout", type=float, default=0.0, help="MLP dropout (torch-rechub default 0)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-5,
                   help="Adam weight_decay (MTLTrainer default 1e-5; its ali-ccp example passes 1e-4)")
    p.add_argument("--adam-impl", choices=("default", "foreach", "fused"), default="default",
                   help="torch.optim.Adam implementation; 'default' is what MTLTrainer gets")
    p.add_argument("--loss-reduce", choices=("mean", "sum"), default="mean",
                   help="combine the two task losses; MTLTrainer uses mean (sum/n_task)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps before the step measurement")
    p.add_argument("--steps", type=int, default=100, help="timed steps in the step measurement")
    p.add_argument("--mode", choices=("both", "step", "trainer"), default="both")
    p.add_argument("--val-rows", type=int, default=4096,
                   help="rows (taken from the data) for the validation pass that MTLTrainer.fit requires")
    p.add_argument("--seed", type=int, default=2022)
    args = p.parse_args(argv)
    args.expert_units = parse_units(args.expert_units)
    args.tower_units = parse_units(args.tower_units)
    if not args.expert_units:
        p.error("--expert-units needs at least one size")
    if args.batch_size <= 0 or args.steps <= 0 or args.warmup < 0:
        p.error("--batch-size and --steps must be positive, --warmup non-negative")
    return args


def load_table(path, rows):
    import numpy as np
    import pandas as pd

    df = pd.read_csv(path, nrows=rows)
    missing = [name for name in LABELS if name not in df.columns]
    if missing:
        raise SystemExit(f"{path}: missing label column(s) {missing}")
    feature_cols = [c for c in df.columns if c not in LABELS]
    sparse_cols = [c for c in feature_cols if not c.startswith("D")]
    dense_cols = [c for c in feature_cols if c.startswith("D")]
    sparse = {c: df[c].to_numpy(dtype=np.int64) for c in sparse_cols}
    for c, values in sparse.items():
        if values.size and values.min() < 0:
            raise SystemExit(f"{path}: column {c} has negative ids")
    dense = {c: df[c].to_numpy(dtype=np.float64) for c in dense_cols}
    labels = df[list(LABELS)].to_numpy(dtype=np.int64)
    return sparse_cols, dense_cols, sparse, dense, labels


def build_model(args, sparse_cols, dense_cols, vocab_sizes):
    # Fresh feature objects for every model: torch-rechub's SparseFeature caches
    # its nn.Embedding on the feature object, so reusing the list would make two
    # models share embedding tables.
    from torch_rechub.basic.features import DenseFeature, SparseFeature
    from torch_rechub.models.multi_task import MMOE

    features = [SparseFeature(c, vocab_sizes[c], embed_dim=args.embed_dim) for c in sparse_cols]
    features += [DenseFeature(c) for c in dense_cols]
    mlp_common = {"dropout": args.dropout, "activation": "relu"}
    expert_params = dict(mlp_common, dims=list(args.expert_units))
    tower_params = [dict(mlp_common, dims=list(args.tower_units)) for _ in LABELS]
    task_types = ["classification"] * len(LABELS)
    model = MMOE(features, task_types, args.num_experts,
                 expert_params=expert_params, tower_params_list=tower_params)
    return model, task_types


def optimizer_params(args):
    params = {"lr": args.lr, "weight_decay": args.weight_decay}
    if args.adam_impl == "foreach":
        params["foreach"] = True
    elif args.adam_impl == "fused":
        params["fused"] = True
    return params


def count_params(model):
    total = sum(p.numel() for p in model.parameters())
    emb = 0
    import torch.nn as nn
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            emb += m.weight.numel()
    return total, emb


def bench_step(args, sparse_cols, dense_cols, sparse, dense, labels, vocab_sizes):
    import torch

    torch.manual_seed(args.seed)
    model, _ = build_model(args, sparse_cols, dense_cols, vocab_sizes)
    model.train()
    opt = torch.optim.Adam(model.parameters(), **optimizer_params(args))
    bce = torch.nn.BCELoss()

    n = labels.shape[0]
    bs = args.batch_size
    n_batches = n // bs
    if n_batches == 0:
        raise SystemExit(f"need at least --batch-size={bs} rows for the step measurement, have {n}")

    # Pre-built contiguous batch tensors (no DataLoader, no per-sample work).
    all_x = {c: torch.from_numpy(sparse[c]) for c in sparse_cols}
    all_x.update({c: torch.from_numpy(dense[c]).float() for c in dense_cols})
    all_y = torch.from_numpy(labels).float()
    batches = []
    for b in range(n_batches):
        lo, hi = b * bs, (b + 1) * bs
        x = {c: t[lo:hi].contiguous() for c, t in all_x.items()}
        batches.append((x, all_y[lo:hi].contiguous()))

    n_task = len(LABELS)

    def one_step(i):
        x, y = batches[i % n_batches]
        pred = model(x)
        losses = [bce(pred[:, t], y[:, t]) for t in range(n_task)]
        loss = sum(losses)
        if args.loss_reduce == "mean":
            loss = loss / n_task
        model.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for i in range(args.warmup):
        one_step(i)
    step_times = []
    last = None
    t_start = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        t0 = time.perf_counter()
        last = one_step(i)
        step_times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_start
    median = statistics.median(step_times)
    total_params, emb_params = count_params(model)
    return {
        "samples_per_s": round(args.steps * bs / wall, 1),
        "samples_per_s_median_step": round(bs / median, 1),
        "ms_per_step_mean": round(1000 * wall / args.steps, 3),
        "ms_per_step_median": round(1000 * median, 3),
        "ms_per_step_min": round(1000 * min(step_times), 3),
        "steps": args.steps,
        "warmup": args.warmup,
        "distinct_batches": n_batches,
        "final_loss": round(float(last.detach()), 6),
    }, total_params, emb_params


def bench_trainer(args, sparse_cols, dense_cols, sparse, dense, labels, vocab_sizes):
    import torch
    from torch_rechub.trainers import MTLTrainer
    from torch_rechub.utils.data import DataGenerator

    torch.manual_seed(args.seed)
    model, task_types = build_model(args, sparse_cols, dense_cols, vocab_sizes)

    # Same kind of input as torch-rechub's ali-ccp example: dict of numpy columns.
    x = {c: sparse[c] for c in sparse_cols}
    x.update({c: dense[c] for c in dense_cols})
    n = labels.shape[0]
    n_val = max(1, min(args.val_rows, n))
    x_val = {c: v[:n_val] for c, v in x.items()}
    y_val = labels[:n_val]
    dg = DataGenerator(x, labels)
    train_dl, val_dl, _ = dg.generate_dataloader(
        x_val=x_val, y_val=y_val, x_test=x_val, y_test=y_val, batch_size=args.batch_size)

    model_dir = tempfile.mkdtemp(prefix="rechub_bench_")
    try:
        trainer = MTLTrainer(model, task_types=task_types, optimizer_params=optimizer_params(args),
                             n_epoch=1, earlystop_patience=1, device="cpu", model_path=model_dir)
        epoch_times = []
        original = trainer.train_one_epoch

        def timed_epoch(data_loader):
            t0 = time.perf_counter()
            out = original(data_loader)
            epoch_times.append(time.perf_counter() - t0)
            return out

        trainer.train_one_epoch = timed_epoch
        fit_error = None
        log = []
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(sys.stderr):
                log = trainer.fit(train_dl, val_dl)
        except ValueError as exc:
            # e.g. roc_auc_score on a validation slice with one class only; the
            # training epoch (what we time) has completed by then.
            if not epoch_times:
                raise
            fit_error = str(exc)
        fit_wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)

    epoch = epoch_times[0]
    first = log[0] if log else []
    out = {
        "samples_per_s": round(n / epoch, 1),
        "epoch_s": round(epoch, 3),
        "fit_samples_per_s": round(n / fit_wall, 1),
        "fit_wall_s": round(fit_wall, 3),
        "samples": n,
        "batches": len(train_dl),
        "val_rows": n_val,
        "train_losses": [round(float(v), 6) for v in first[:len(task_types)]],
        "val_auc": [round(float(v), 6) for v in first[len(task_types):]],
    }
    if fit_error is not None:
        out["fit_error"] = fit_error
    return out


def main(argv=None):
    args = parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    import torch_rechub
    try:
        from importlib.metadata import version
        rechub_version = version("torch-rechub")
    except Exception:
        rechub_version = getattr(torch_rechub, "__version__", "unknown")

    t0 = time.perf_counter()
    sparse_cols, dense_cols, sparse, dense, labels = load_table(args.csv, args.rows)
    load_s = time.perf_counter() - t0
    vocab_sizes = {c: int(sparse[c].max()) + 1 + args.vocab_spare if sparse[c].size else 1 + args.vocab_spare
                   for c in sparse_cols}

    result = {
        "bench": "torch_rechub_mmoe_train",
        "torch": torch.__version__,
        "torch_rechub": rechub_version,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "rows": int(labels.shape[0]),
        "n_sparse": len(sparse_cols),
        "n_dense": len(dense_cols),
        "vocab_total": sum(vocab_sizes.values()),
        "vocab_max": max(vocab_sizes.values()) if vocab_sizes else 0,
        "embed_dim": args.embed_dim,
        "expert_units": args.expert_units,
        "num_experts": args.num_experts,
        "tower_units": args.tower_units,
        "dropout": args.dropout,
        "optimizer": {"name": "Adam", "lr": args.lr, "weight_decay": args.weight_decay, "impl": args.adam_impl},
        "loss_reduce": args.loss_reduce,
        "click_rate": round(float(labels[:, 0].mean()), 5),
        "purchase_rate": round(float(labels[:, 1].mean()), 5),
        "load_s": round(load_s, 3),
    }

    if args.mode in ("both", "step"):
        step, total_params, emb_params = bench_step(args, sparse_cols, dense_cols, sparse, dense, labels, vocab_sizes)
        result["params"] = total_params
        result["embedding_params"] = emb_params
        result["step"] = step
    if args.mode in ("both", "trainer"):
        result["trainer"] = bench_trainer(args, sparse_cols, dense_cols, sparse, dense, labels, vocab_sizes)
    try:
        result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass

    print(json.dumps(result, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
