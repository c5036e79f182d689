#!/usr/bin/env python3
"""Reference training-throughput benchmark: torch-rechub 0.9 models on PyTorch CPU.

Used to compare RecHub (Swift, `rechub bench`) against torch-rechub 0.9. Needs a Python
environment with torch and torch-rechub==0.9.0 (plus pandas<3); it is not part of the
Swift build.

Models (--model): mmoe, shared_bottom, esmm, ple, with the shape flags of `rechub bench`.
Task weighting (--strategy): fixed, gradnorm, metabalance (mmoe, shared_bottom, ple; ESMM's
loss is fixed: CTR + CTCVR).

Input: a CSV in the Ali-CCP layout used by torch-rechub's examples:
    click,purchase,<23 sparse id columns: 101,121,...,301,109_14,...>,<8 dense D* columns>
Sparse features are the non-label columns whose names do not start with "D",
dense features are the columns whose names start with "D". Each sparse field
gets vocab_size = max id + 1 + --vocab-spare. ESMM in torch-rechub takes sparse
features only (user fields, then item fields, as in its Ali-CCP example), so its
towers read 23 x E inputs where RecHub's read 23 x E + 8 dense.

Two measurements at the same batch size, each on a freshly built model:
  step     a tight loop over pre-built batch tensors: forward, BCE per task, the
           update of MTLTrainer.train_one_epoch for the strategy, Adam. fixed: the
           tasks' mean loss (ESMM: CTR + CTCVR), one backward. gradnorm and
           metabalance: torch-rechub's own `gradnorm()` and `MetaBalance` (from
           torch_rechub.utils.mtl) with the trainer's parameter split, optimizers
           and weight renormalisation, copied line for line from train_one_epoch.
           GradNorm's W is the last 2-D shared parameter (the last expert's last
           Linear weight), what the trainer's comment means; its loop, indexing
           share_layers[-i] from i = 0, actually picks the first embedding table
           (--gradnorm-layer trainer reproduces that).
  trainer  torch-rechub's own MTLTrainer.fit for one epoch over a DataLoader
           built with torch-rechub's DataGenerator (per-sample dataset,
           shuffle=True, default collate). samples/s is reported for the
           training epoch alone (train_one_epoch) and for the whole fit call
           (which also runs validation on a small slice and saves the model).
           Fixed weights only: for gradnorm and metabalance torch-rechub 0.9's
           train_one_epoch never assigns `loss` (UnboundLocalError), so the
           step loop above is the measurement for them.

Prints exactly one JSON line on stdout; everything torch-rechub prints goes
to stderr.

Examples:
    python Tools/torch_rechub_bench.py --csv data.csv \
        --expert-units 256,128 --num-experts 8 --tower-units 64,32 --embed-dim 16
    python Tools/torch_rechub_bench.py --csv data.csv --model mmoe --strategy metabalance
    python Tools/torch_rechub_bench.py --csv data.csv --model ple \
        --expert-units 256,128 --num-experts 2 --num-shared-experts 2 --num-layers 2
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
MODELS = ("mmoe", "shared_bottom", "esmm", "ple")
STRATEGIES = ("fixed", "gradnorm", "metabalance")
# torch-rechub's Ali-CCP example: these are user fields, the other sparse fields item fields (ESMM).
USER_FIELDS = ("101", "121", "122", "124", "125", "126", "127", "128", "129")


def parse_units(text):
    text = text.strip()
    if not text:
        return []
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Measure torch-rechub multi-task training throughput (samples/s) on CPU.")
    p.add_argument("--csv", required=True, help="Ali-CCP layout CSV file")
    p.add_argument("--rows", type=int, default=None, help="read at most this many data rows")
    p.add_argument("--model", choices=MODELS, default="mmoe")
    p.add_argument("--strategy", choices=STRATEGIES, default="fixed", help="task weighting")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads value")
    p.add_argument("--expert-units", default="256,128", help="expert MLP hidden sizes (mmoe, ple)")
    p.add_argument("--num-experts", type=int, default=8, help="mmoe: experts; ple: experts per task")
    p.add_argument("--num-shared-experts", type=int, default=1, help="ple: shared experts per level")
    p.add_argument("--num-layers", type=int, default=1, help="ple: extraction levels")
    p.add_argument("--hidden-units", default="256,128", help="shared_bottom: bottom MLP hidden sizes")
    p.add_argument("--tower-units", default="64,32", help="tower MLP hidden sizes (a Linear(.,1) is appended)")
    p.add_argument("--embed-dim", "--embedding-dim", dest="embed_dim", type=int, default=16,
                   help="embedding size of every sparse field")
    p.add_argument("--vocab-spare", type=int, default=1, help="extra rows per embedding table beyond max id + 1")
    p.add_argument("--dropout", type=float, default=0.0, help="MLP dropout (torch-rechub default 0)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-5,
                   help="Adam weight_decay (MTLTrainer default 1e-5; its ali-ccp example passes 1e-4)")
    p.add_argument("--adam-impl", choices=("default", "foreach", "fused"), default="default",
                   help="torch.optim.Adam implementation; 'default' is what MTLTrainer gets")
    p.add_argument("--loss-reduce", choices=("mean", "sum"), default="mean",
                   help="fixed weights: combine the task losses; MTLTrainer uses mean (sum/n_task)")
    p.add_argument("--gradnorm-alpha", type=float, default=1.5,
                   help="GradNorm's alpha (RecHub's config default; MTLTrainer's own default is 0.16)")
    p.add_argument("--gradnorm-layer", choices=("last", "trainer"), default="last",
                   help="GradNorm's W: the last 2-D shared parameter, or what MTLTrainer's loop picks")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps before the step measurement")
    p.add_argument("--steps", type=int, default=100, help="timed steps in the step measurement")
    p.add_argument("--mode", choices=("both", "step", "trainer"), default="both")
    p.add_argument("--val-rows", type=int, default=4096,
                   help="rows (taken from the data) for the validation pass that MTLTrainer.fit requires")
    p.add_argument("--seed", type=int, default=2022)
    args = p.parse_args(argv)
    for name in ("expert_units", "hidden_units", "tower_units"):
        setattr(args, name, parse_units(getattr(args, name)))
    if args.model in ("mmoe", "ple") and not args.expert_units:
        p.error("--expert-units needs at least one size")
    if args.model == "shared_bottom" and not args.hidden_units:
        p.error("--hidden-units needs at least one size")
    if args.model == "esmm" and args.strategy != "fixed":
        p.error("--strategy: torch-rechub's shared_task_layers does not support ESMM (its loss is fixed)")
    if min(args.num_experts, args.num_shared_experts, args.num_layers) < 1:
        p.error("--num-experts, --num-shared-experts and --num-layers must be at least 1")
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


def task_types(args):
    """MTLTrainer's task types: ESMM predicts [CVR, CTR, CTCVR], the others one per label."""
    return ["classification"] * (3 if args.model == "esmm" else len(LABELS))


def trainer_labels(args, labels):
    """Label columns in the model's output order (ESMM: purchase as CVR label, click, purchase as CTCVR)."""
    import numpy as np
    if args.model == "esmm":
        click, purchase = labels[:, 0], labels[:, 1]
        return np.stack([purchase, click, purchase], axis=1)
    return labels


def build_model(args, sparse_cols, dense_cols, vocab_sizes):
    # Fresh feature objects for every model: torch-rechub's SparseFeature caches
    # its nn.Embedding on the feature object, so reusing the list would make two
    # models share embedding tables.
    from torch_rechub.basic.features import DenseFeature, SparseFeature
    from torch_rechub.models.multi_task import ESMM, MMOE, PLE, SharedBottom

    sparse = [SparseFeature(c, vocab_sizes[c], embed_dim=args.embed_dim) for c in sparse_cols]
    features = sparse + [DenseFeature(c) for c in dense_cols]
    mlp_common = {"dropout": args.dropout, "activation": "relu"}
    n_task = len(LABELS)
    towers = [dict(mlp_common, dims=list(args.tower_units)) for _ in range(n_task)]
    if args.model == "mmoe":
        return MMOE(features, task_types(args), args.num_experts,
                    expert_params=dict(mlp_common, dims=list(args.expert_units)), tower_params_list=towers)
    if args.model == "shared_bottom":
        return SharedBottom(features, task_types(args), bottom_params=dict(mlp_common, dims=list(args.hidden_units)),
                            tower_params_list=towers)
    if args.model == "ple":
        return PLE(features, task_types(args), n_level=args.num_layers, n_expert_specific=args.num_experts,
                   n_expert_shared=args.num_shared_experts, expert_params=dict(mlp_common, dims=list(args.expert_units)),
                   tower_params_list=towers)
    user = [f for f in sparse if f.name in USER_FIELDS] or sparse[:len(sparse) // 2]
    item = [f for f in sparse if f not in user]
    tower = dict(mlp_common, dims=list(args.tower_units))
    return ESMM(user, item, cvr_params=dict(tower), ctr_params=dict(tower))


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


def make_step(args, model):
    """One training step on (x, y) as MTLTrainer.train_one_epoch does it for the strategy;
    returns the step function (it returns the mean task loss)."""
    import torch
    import torch.nn as nn
    from torch_rechub.utils.mtl import MetaBalance, gradnorm, shared_task_layers

    bce = nn.BCELoss()
    n_task = len(LABELS)

    def task_losses(x, y):
        pred = model(x)
        if args.model == "esmm":
            # Output [CVR, CTR, CTCVR]: the trainer's ESMM loss is CTR + CTCVR.
            return [bce(pred[:, 1], y[:, 0]), bce(pred[:, 2], y[:, 1])]
        return [bce(pred[:, t], y[:, t]) for t in range(n_task)]

    if args.strategy == "fixed":
        opt = torch.optim.Adam(model.parameters(), **optimizer_params(args))

        def step(x, y):
            losses = task_losses(x, y)
            loss = sum(losses)
            if args.model != "esmm" and args.loss_reduce == "mean":
                loss = loss / n_task
            model.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step

    if args.strategy == "gradnorm":
        loss_weight = nn.ParameterList(nn.Parameter(torch.ones(1)) for _ in range(n_task))
        model.add_module("loss weight", loss_weight)
        share_layers = shared_task_layers(model)[0]
        if args.gradnorm_layer == "trainer":
            last = next(share_layers[-i] for i in range(len(share_layers)) if share_layers[-i].ndim == 2)
        else:
            last = next(p for p in reversed(share_layers) if p.ndim == 2)
        opt = torch.optim.Adam(model.parameters(), **optimizer_params(args))
        initial = []

        def step(x, y):
            losses = task_losses(x, y)
            opt.zero_grad()
            if not initial:
                initial.extend(l.item() for l in losses)
            gradnorm(losses, loss_weight, last, initial, args.gradnorm_alpha)
            opt.step()
            coeff = len(loss_weight) / sum(w.item() for w in loss_weight)
            for w in loss_weight:
                w.data = w.data * coeff
            return sum(l.detach() for l in losses) / n_task
        return step

    share_layers, task_layers = shared_task_layers(model)
    meta = MetaBalance(share_layers)
    share_opt = torch.optim.Adam(share_layers, **optimizer_params(args))
    task_opt = torch.optim.Adam(task_layers, **optimizer_params(args))

    def step(x, y):
        losses = task_losses(x, y)
        share_opt.zero_grad()
        task_opt.zero_grad()
        meta.step(losses)
        share_opt.step()
        task_opt.step()
        return sum(l.detach() for l in losses) / n_task
    return step


def bench_step(args, sparse_cols, dense_cols, sparse, dense, labels, vocab_sizes):
    import torch

    torch.manual_seed(args.seed)
    model = build_model(args, sparse_cols, dense_cols, vocab_sizes)
    model.train()
    one_batch = make_step(args, model)

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

    def one_step(i):
        x, y = batches[i % n_batches]
        return one_batch(x, y)

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
    model = build_model(args, sparse_cols, dense_cols, vocab_sizes)
    types = task_types(args)
    y = trainer_labels(args, labels)

    # Same kind of input as torch-rechub's ali-ccp example: dict of numpy columns.
    x = {c: sparse[c] for c in sparse_cols}
    x.update({c: dense[c] for c in dense_cols})
    n = y.shape[0]
    n_val = max(1, min(args.val_rows, n))
    x_val = {c: v[:n_val] for c, v in x.items()}
    y_val = y[:n_val]
    dg = DataGenerator(x, y)
    train_dl, val_dl, _ = dg.generate_dataloader(
        x_val=x_val, y_val=y_val, x_test=x_val, y_test=y_val, batch_size=args.batch_size)

    model_dir = tempfile.mkdtemp(prefix="rechub_bench_")
    try:
        trainer = MTLTrainer(model, task_types=types, optimizer_params=optimizer_params(args),
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
        "train_losses": [round(float(v), 6) for v in first[:len(types)]],
        "val_auc": [round(float(v), 6) for v in first[len(types):]],
    }
    if fit_error is not None:
        out["fit_error"] = fit_error
    return out


def shape(args):
    """The shape settings the model reads, under RecHub's config names."""
    if args.model == "mmoe":
        return {"expert_units": args.expert_units, "num_experts": args.num_experts, "tower_units": args.tower_units}
    if args.model == "ple":
        return {"expert_units": args.expert_units, "num_experts": args.num_experts,
                "num_shared_experts": args.num_shared_experts, "num_layers": args.num_layers,
                "tower_units": args.tower_units}
    if args.model == "shared_bottom":
        return {"hidden_units": args.hidden_units, "task_hidden_units": args.tower_units}
    return {"tower_units": args.tower_units}


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
        "bench": f"torch_rechub_{args.model}_train",
        "model": args.model,
        "strategy": args.strategy,
        "torch": torch.__version__,
        "torch_rechub": rechub_version,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "rows": int(labels.shape[0]),
        "n_sparse": len(sparse_cols),
        "n_dense": len(dense_cols) if args.model != "esmm" else 0,
        "vocab_total": sum(vocab_sizes.values()),
        "vocab_max": max(vocab_sizes.values()) if vocab_sizes else 0,
        "embed_dim": args.embed_dim,
        **shape(args),
        "dropout": args.dropout,
        "optimizer": {"name": "Adam", "lr": args.lr, "weight_decay": args.weight_decay, "impl": args.adam_impl},
        "loss_reduce": args.loss_reduce,
        "click_rate": round(float(labels[:, 0].mean()), 5),
        "purchase_rate": round(float(labels[:, 1].mean()), 5),
        "load_s": round(load_s, 3),
    }
    if args.strategy == "gradnorm":
        result["gradnorm"] = {"alpha": args.gradnorm_alpha, "layer": args.gradnorm_layer}

    if args.mode in ("both", "step"):
        step, total_params, emb_params = bench_step(args, sparse_cols, dense_cols, sparse, dense, labels, vocab_sizes)
        result["params"] = total_params
        result["embedding_params"] = emb_params
        result["step"] = step
    if args.mode in ("both", "trainer"):
        if args.strategy == "fixed":
            result["trainer"] = bench_trainer(args, sparse_cols, dense_cols, sparse, dense, labels, vocab_sizes)
        else:
            result["trainer"] = {"skipped": "torch-rechub 0.9's MTLTrainer.train_one_epoch never assigns `loss` "
                                            f"for {args.strategy} (UnboundLocalError); the step loop is the measurement"}
    try:
        result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass

    print(json.dumps(result, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
