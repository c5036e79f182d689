"""Generates the model fixtures in Tests/ModelsTests/Fixtures/<case>.json.

Run from the repository root (CPU only, a few seconds, single thread):
    /work/venvs/torch/bin/python Tools/reference/make_fixtures.py
    /work/venvs/torch/bin/python Tools/reference/make_fixtures.py --cases mmoe esmm   # a subset
Written against torch 2.15.0 (+cu132 wheel, run on CPU) and numpy 2.4; the torch version used is
recorded in every fixture as `torch_version`.

For every case: a fixed numpy seed draws all weights and a batch (B=5, F=3 fields with
vocabularies [4, 6, 3] -> tables of 5, 7, 4 rows, E=4, D=2), the reference model in
rechub_models.py runs forward in training mode in float32 and (from the very same float32
weight values) in float64, the spec's losses are summed into the total loss, backward gives
every parameter's gradient, and everything is written by name. Before writing, the script
asserts (in float64) that autograd matches central finite differences for EVERY parameter
entry, that the logits match a naive numpy forward written from the spec, that the f32 and f64
runs agree, and a few model-specific facts (SharedBottom vs stock torch.nn modules, ESMM's
BCELoss, AITM's calibrator). Seeds are fixed in CASES; `--search` finds seeds whose draws keep
every ReLU input >= 1e-4 from 0 and few dead units (see make_case). Output is deterministic.
The Swift tests only read the JSON files; they never run Python.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.dont_write_bytecode = True  # keep Tools/reference free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rechub_models as rm  # noqa: E402

torch.set_num_threads(1)

B = 5
VOCAB = [4, 6, 3]
E = 4
D = 2
OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                        "Tests", "ModelsTests", "Fixtures"))

BASE = dict(embedding_dim=E, vocabulary_sizes=VOCAB, embedding_rows=[v + 1 for v in VOCAB], dense_count=D,
            batch_size=B, activation="relu", batchnorm=False, dropout=0.0)

# name, model, seed, config (merged over BASE), funnel labels (task t positive => task t-1 positive).
# Seeds: the first >= a base seed accepted by the suitability checks (`--search` finds them).
CASES = [
    ("shared_bottom", "shared_bottom", 106, dict(num_tasks=2, hidden_units=[8, 6], tower_units=[5]), False),
    ("shared_bottom_bn", "shared_bottom", 102,
     dict(num_tasks=2, hidden_units=[8, 6], tower_units=[5], batchnorm=True), False),
    ("mmoe", "mmoe", 109, dict(num_tasks=2, expert_units=[8, 6], num_experts=3, tower_units=[5]), False),
    ("mmoe_tanh", "mmoe", 104,
     dict(num_tasks=2, expert_units=[8, 6], num_experts=3, tower_units=[5], activation="tanh"), False),
    ("esmm", "esmm", 107, dict(num_tasks=2, tower_units=[8, 4]), True),
    ("ple", "ple", 212, dict(num_tasks=2, expert_units=[6, 5], num_experts=2, num_shared_experts=1, num_layers=2,
                             tower_units=[4]), False),
    ("cgc", "ple", 113, dict(num_tasks=2, expert_units=[6, 5], num_experts=2, num_shared_experts=1, num_layers=1,
                             tower_units=[4]), False),
    ("ple_3tasks", "ple", 724, dict(num_tasks=3, expert_units=[6, 5], num_experts=2, num_shared_experts=1,
                                    num_layers=2, tower_units=[4]), False),
    ("aitm", "aitm", 126, dict(num_tasks=2, tower_units=[8, 6], alpha=0.6), True),
    ("aitm_3tasks", "aitm", 113, dict(num_tasks=3, tower_units=[8, 6], alpha=0.6), True),
]


class Unsuitable(Exception):
    """The drawn weights/batch make a poor fixture (near a kink, calibrator all one-sided, ...)."""


# --------------------------------------------------------------------------- data

def draw_inputs(rng, num_tasks, funnel):
    """Sparse ids in [0, V_f] (V_f = the OOV row); every table keeps at least one unused row and
    at least one OOV id occurs. Labels: both classes in every task column."""
    while True:
        sparse = np.stack([rng.integers(0, v + 1, size=B) for v in VOCAB], axis=1).astype(np.int64)
        unused_everywhere = all(len(set(sparse[:, f].tolist())) < v + 1 for f, v in enumerate(VOCAB))
        has_oov = any((sparse[:, f] == v).any() for f, v in enumerate(VOCAB))
        if unused_everywhere and has_oov:
            break
    dense = rng.uniform(0.0, 1.0, size=(B, D)).astype(np.float32)
    while True:
        y = (rng.uniform(size=(B, num_tasks)) < 0.55).astype(np.int64)
        if funnel:
            for t in range(1, num_tasks):
                y[:, t] &= y[:, t - 1]
        if all(0 < y[:, t].sum() < B for t in range(num_tasks)):
            break
    return sparse, dense, y


def draw_weights(rng, model):
    out = {}
    for name, shape, kind in model.param_specs():
        if kind == rm.EMBEDDING:
            w = rng.normal(0.0, 0.3, size=shape)
        elif kind == rm.BN_W:
            w = rng.uniform(0.5, 1.5, size=shape)
        elif kind == rm.BN_B:
            w = rng.uniform(-0.2, 0.2, size=shape)
        else:  # Linear weights/biases, stacked experts, gates
            w = rng.uniform(-0.5, 0.5, size=shape)
        out[name] = w.astype(np.float32)
    return out


# --------------------------------------------------------------------------- running

def run(model, weights, sparse, dense, labels, dtype):
    p = {n: torch.tensor(w, dtype=dtype).requires_grad_(True) for n, w in weights.items()}
    buffers = model.new_buffers(dtype)
    s = torch.tensor(sparse)
    logits = model.forward(p, s, torch.tensor(dense).to(dtype), buffers, training=True)
    losses = model.losses(logits, torch.tensor(labels).to(dtype))
    total = losses[0]
    for l in losses[1:]:
        total = total + l
    total.backward()
    return dict(logits=logits.detach(), losses=[l.detach() for l in losses], total=total.detach(),
                grads={n: t.grad.detach().clone() for n, t in p.items()}, buffers=buffers)


def total_loss_f64(model, p64, sparse, dense64, labels64):
    with torch.no_grad():
        logits = model.forward(p64, sparse, dense64, model.new_buffers(torch.float64), training=True)
        return float(sum(model.losses(logits, labels64)))


def finite_difference_check(case, model, weights, sparse, dense, labels, grads64, h=1e-6):
    """Central differences in float64 for every entry of every parameter."""
    p64 = {n: torch.tensor(w, dtype=torch.float64) for n, w in weights.items()}
    s = torch.tensor(sparse)
    d64 = torch.tensor(dense).double()
    y64 = torch.tensor(labels).double()
    worst = 0.0
    checked = 0
    for name, t in p64.items():
        flat = t.view(-1)
        g = grads64[name].reshape(-1)
        for i in range(flat.numel()):
            old = float(flat[i])
            flat[i] = old + h
            fp = total_loss_f64(model, p64, s, d64, y64)
            flat[i] = old - h
            fm = total_loss_f64(model, p64, s, d64, y64)
            flat[i] = old
            num = (fp - fm) / (2 * h)
            ana = float(g[i])
            err = abs(ana - num)
            assert err <= 1e-7 + 1e-5 * abs(num), \
                f"{case}: d total / d {name}[{i}]: autograd {ana!r} vs finite difference {num!r}"
            worst = max(worst, err)
            checked += 1
    return worst, checked


# --------------------------------------------------------------------------- extra checks

def check_against_torch_nn(model, weights, sparse, dense, labels, out64):
    """SharedBottom rebuilt from stock torch.nn modules (Embedding, Linear, BatchNorm1d) with the
    same weights: logits, losses, grads and BN running stats must agree with the functional model."""
    cfg_bn = model.bottom.batchnorm
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[model.bottom.activation]

    def seq(mlp):
        layers, prev = [], mlp.in_dim
        for h in mlp.units:
            layers.append(nn.Linear(prev, h))
            if cfg_bn:
                layers.append(nn.BatchNorm1d(h, eps=1e-5, momentum=0.1))
            layers.append(act())
            prev = h
        if mlp.output:
            layers.append(nn.Linear(prev, 1))
        return nn.Sequential(*layers)

    def load(mlp, s):
        i = 0
        for l, _ in enumerate(mlp.units):
            s[i].weight.data = torch.tensor(weights[f"{mlp.name}.{l}.weight"]).double()
            s[i].bias.data = torch.tensor(weights[f"{mlp.name}.{l}.bias"]).double()
            i += 1
            if cfg_bn:
                s[i].weight.data = torch.tensor(weights[f"{mlp.name}.{l}.bn.weight"]).double()
                s[i].bias.data = torch.tensor(weights[f"{mlp.name}.{l}.bn.bias"]).double()
                i += 1
            i += 1
        if mlp.output:
            n = len(mlp.units)
            s[i].weight.data = torch.tensor(weights[f"{mlp.name}.{n}.weight"]).double()
            s[i].bias.data = torch.tensor(weights[f"{mlp.name}.{n}.bias"]).double()

    embs = [nn.Embedding(v + 1, E).double() for v in VOCAB]
    for f, emb in enumerate(embs):
        emb.weight.data = torch.tensor(weights[f"embeddings.{f}"]).double()
    bottom = seq(model.bottom).double()
    load(model.bottom, bottom)
    towers = [seq(tw).double() for tw in model.towers]
    for tw, s in zip(model.towers, towers):
        load(tw, s)
    for m in [bottom, *towers]:
        m.train()
    s = torch.tensor(sparse)
    x = torch.cat([embs[f](s[:, f]) for f in range(len(VOCAB))] + [torch.tensor(dense).double()], dim=1)
    h = bottom(x)
    logits = torch.cat([tw(h) for tw in towers], dim=1)
    y = torch.tensor(labels).double()
    bce = nn.BCEWithLogitsLoss()
    total = sum(bce(logits[:, t], y[:, t]) for t in range(logits.shape[1]))
    total.backward()
    assert torch.allclose(logits, out64["logits"], rtol=0, atol=1e-12)
    assert abs(float(total.detach()) - float(out64["total"])) < 1e-12
    for f, emb in enumerate(embs):
        assert torch.allclose(emb.weight.grad, out64["grads"][f"embeddings.{f}"], rtol=0, atol=1e-12)
    for mlp, sq in [(model.bottom, bottom)] + list(zip(model.towers, towers)):
        i = 0
        for l, _ in enumerate(mlp.units):
            assert torch.allclose(sq[i].weight.grad, out64["grads"][f"{mlp.name}.{l}.weight"], rtol=0, atol=1e-12)
            assert torch.allclose(sq[i].bias.grad, out64["grads"][f"{mlp.name}.{l}.bias"], rtol=0, atol=1e-12)
            i += 1
            if cfg_bn:
                bn = sq[i]
                assert torch.allclose(bn.weight.grad, out64["grads"][f"{mlp.name}.{l}.bn.weight"], rtol=0, atol=1e-12)
                assert torch.allclose(bn.bias.grad, out64["grads"][f"{mlp.name}.{l}.bn.bias"], rtol=0, atol=1e-12)
                assert torch.allclose(bn.running_mean, out64["buffers"][f"{mlp.name}.{l}.bn.running_mean"],
                                      rtol=0, atol=1e-12)
                assert torch.allclose(bn.running_var, out64["buffers"][f"{mlp.name}.{l}.bn.running_var"],
                                      rtol=0, atol=1e-12)
                i += 1
            i += 1


def check_esmm(out, labels):
    """L_ctcvr is torch.nn.BCELoss on pCTR*pCVR with clamped logs; verify against a hand formula."""
    z = out["logits"]
    click = torch.tensor(labels[:, 0]).to(z.dtype)
    purchase = torch.tensor(labels[:, 1]).to(z.dtype)
    p = torch.sigmoid(z[:, 0]) * torch.sigmoid(z[:, 1])
    manual = rm.bce_prob_mean_manual(p, click * purchase)
    torch_loss = nn.BCELoss()(p, click * purchase)
    assert abs(float(manual) - float(out["losses"][1])) < 1e-12, (manual, out["losses"][1])
    assert abs(float(torch_loss) - float(out["losses"][1])) < 1e-12
    assert (labels[:, 1] <= labels[:, 0]).all(), "purchase must imply click"


def check_aitm(model, out):
    """Calibrator on sigmoid outputs; at least one active and one inactive hinge, none near the kink."""
    yhat = 1.0 / (1.0 + np.exp(-out["logits"].numpy()))
    gaps = yhat[:, 1:] - yhat[:, :-1]
    cal = model.alpha * np.maximum(gaps, 0.0).sum(axis=1).mean()
    assert abs(cal - float(out["losses"][-1])) < 1e-12, (cal, out["losses"][-1])
    if not ((gaps > 0).any() and (gaps < 0).any() and np.abs(gaps).min() > 1e-4):
        raise Unsuitable(f"calibrator gaps {gaps.reshape(-1)}")
    return int((gaps > 0).sum()), int(gaps.size)


def numpy_logits(model_kind, cfg, w, sparse, dense):
    """A second, deliberately naive forward (numpy float64, explicit loops over samples, experts
    and gate entries) written straight from the spec, to cross-check the torch logits."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    act = {"relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh}[cfg["activation"]]
    T = cfg["num_tasks"]
    nb = sparse.shape[0]

    def x_of(b):
        parts = [w[f"embeddings.{f}"][sparse[b, f]] for f in range(len(VOCAB))]
        return np.concatenate(parts + [dense[b].astype(np.float64)])

    def linear(name, v):
        W, bias = w[f"{name}.weight"], w[f"{name}.bias"]
        return np.array([sum(W[o, i] * v[i] for i in range(len(v))) + bias[o] for o in range(W.shape[0])])

    def mlp_batch(name, X, units, output):
        # batched only because BatchNorm needs the batch statistics
        H = X
        for l in range(len(units)):
            H = np.stack([linear(f"{name}.{l}", H[b]) for b in range(nb)])
            if cfg["batchnorm"]:
                mu = H.mean(axis=0)
                var = ((H - mu) ** 2).mean(axis=0)
                H = (H - mu) / np.sqrt(var + 1e-5) * w[f"{name}.{l}.bn.weight"] + w[f"{name}.{l}.bn.bias"]
            H = act(H)
        if output:
            H = np.stack([linear(f"{name}.{len(units)}", H[b]) for b in range(nb)])
        return H

    def expert(prefix, k, v, units):
        for l in range(len(units)):
            W, bias = w[f"{prefix}.{l}.weight"][k], w[f"{prefix}.{l}.bias"][k]
            v = act(np.array([sum(W[o, i] * v[i] for i in range(len(v))) + bias[o] for o in range(W.shape[0])]))
        return v

    def softmax(s):
        e = np.exp(s - max(s))
        return e / e.sum()

    def mix(gate_name, v, outs):
        G = w[gate_name]
        g = softmax(np.array([sum(G[k, i] * v[i] for i in range(len(v))) for k in range(G.shape[0])]))
        return sum(g[k] * outs[k] for k in range(len(outs)))

    X = np.stack([x_of(b) for b in range(nb)])
    if model_kind == "shared_bottom":
        Hb = mlp_batch("bottom", X, cfg["hidden_units"], False)
        return np.concatenate([mlp_batch(f"towers.{t}", Hb, cfg["tower_units"], True) for t in range(T)], axis=1)
    if model_kind == "esmm":
        return np.concatenate([mlp_batch(f"towers.{t}", X, cfg["tower_units"], True) for t in range(2)], axis=1)
    if model_kind == "mmoe":
        K, eu = cfg["num_experts"], cfg["expert_units"]
        Fs = [np.zeros((nb, eu[-1])) for _ in range(T)]
        for b in range(nb):
            outs = [expert("experts", k, X[b], eu) for k in range(K)]
            for t in range(T):
                Fs[t][b] = mix(f"gates.{t}.weight", X[b], outs)
        return np.concatenate([mlp_batch(f"towers.{t}", Fs[t], cfg["tower_units"], True) for t in range(T)], axis=1)
    if model_kind == "ple":
        ne, ns, L, eu = cfg["num_experts"], cfg["num_shared_experts"], cfg["num_layers"], cfg["expert_units"]
        Fs = [np.zeros((nb, eu[-1])) for _ in range(T)]
        for b in range(nb):
            tin, sin = [X[b]] * T, X[b]
            for j in range(L):
                te = [[expert(f"levels.{j}.tasks.{k}.experts", i, tin[k], eu) for i in range(ne)] for k in range(T)]
                se = [expert(f"levels.{j}.shared.experts", i, sin, eu) for i in range(ns)]
                new = [mix(f"levels.{j}.gates.{k}.weight", tin[k], te[k] + se) for k in range(T)]
                if j < L - 1:
                    sin = mix(f"levels.{j}.shared_gate.weight", sin, [e for k in range(T) for e in te[k]] + se)
                tin = new
            for t in range(T):
                Fs[t][b] = tin[t]
        return np.concatenate([mlp_batch(f"towers.{t}", Fs[t], cfg["tower_units"], True) for t in range(T)], axis=1)
    if model_kind == "aitm":
        d = cfg["tower_units"][-1]
        Q = [mlp_batch(f"towers.{t}", X, cfg["tower_units"], False) for t in range(T)]
        out = np.zeros((nb, T))
        for b in range(nb):
            z = Q[0][b]
            out[b, 0] = linear("heads.0", z)[0]
            for t in range(1, T):
                pt = np.maximum(linear(f"transfer.{t}", z), 0.0)
                us = [pt, Q[t][b]]
                sc = [np.dot(linear(f"ait.{t}.query", u), linear(f"ait.{t}.key", u)) / math.sqrt(d) for u in us]
                a = softmax(np.array(sc))
                z = a[0] * linear(f"ait.{t}.value", us[0]) + a[1] * linear(f"ait.{t}.value", us[1])
                out[b, t] = linear(f"heads.{t}", z)[0]
        return out
    raise ValueError(model_kind)


def check_bn_formula():
    """batch_norm_train against torch's BatchNorm1d (forward, grads and running stats)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)
    bn = nn.BatchNorm1d(3).double().train()
    bn.weight.data = torch.rand(3, generator=g, dtype=torch.float64) + 0.5
    bn.bias.data = torch.rand(3, generator=g, dtype=torch.float64) - 0.5
    x1 = x.clone().requires_grad_(True)
    ref = bn(x1)
    gamma = bn.weight.detach().clone().requires_grad_(True)
    beta = bn.bias.detach().clone().requires_grad_(True)
    rm_, rv_ = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    x2 = x.clone().requires_grad_(True)
    mine = rm.batch_norm_train(x2, gamma, beta, rm_, rv_, True)
    w = torch.randn(5, 3, generator=g, dtype=torch.float64)
    (ref * w).sum().backward()
    (mine * w).sum().backward()
    for a, b_ in [(ref, mine), (x1.grad, x2.grad), (bn.weight.grad, gamma.grad), (bn.bias.grad, beta.grad),
                  (bn.running_mean, rm_), (bn.running_var, rv_)]:
        assert torch.allclose(a, b_, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- output

def f32list(t):
    return [float(v) for v in np.asarray(t, dtype=np.float32).reshape(-1)]


def f64list(t):
    return [float(v) for v in np.asarray(t, dtype=np.float64).reshape(-1)]


def dump(obj, indent=0):
    """JSON with one line per key and every list on a single line (floats via repr)."""
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f'{pad}  {json.dumps(k)}: {dump(v, indent + 2)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, float):
        assert math.isfinite(obj)
        return repr(obj)
    if isinstance(obj, list):
        return "[" + ", ".join(dump(v, indent) for v in obj) + "]"
    return json.dumps(obj)


def make_case(name, model_kind, seed, cfg_extra, funnel, fd=True, write=True):
    cfg = dict(BASE)
    cfg.update(cfg_extra)
    model = rm.build(model_kind, cfg)
    T = model.num_tasks
    rng = np.random.default_rng(seed)
    weights = draw_weights(rng, model)
    sparse, dense, labels = draw_inputs(rng, T, funnel)

    o32 = run(model, weights, sparse, dense, labels, torch.float32)
    rm.RELU_WATCH = []
    o64 = run(model, weights, sparse, dense, labels, torch.float64)
    relu_margin = min(rm.RELU_WATCH, default=float("inf"))
    rm.RELU_WATCH = None
    # No ReLU input within 1e-4 of its kink, so float32 rounding cannot flip a ReLU.
    if not relu_margin > 1e-4:
        raise Unsuitable(f"ReLU input {relu_margin:.1e} from 0")

    # Untouched embedding rows get exactly zero gradient.
    for f in range(len(VOCAB)):
        used = set(sparse[:, f].tolist())
        for r in range(VOCAB[f] + 1):
            if r not in used:
                assert (o32["grads"][f"embeddings.{f}"][r] == 0).all()
                assert (o64["grads"][f"embeddings.{f}"][r] == 0).all()

    notes = {}
    # Share of exactly-zero gradient entries outside the embeddings (dead ReLUs), for information.
    body = [n for n in weights if not n.startswith("embeddings.")]
    zeros = sum(int((o64["grads"][n] == 0).sum()) for n in body)
    notes["zero_grad_share"] = zeros / sum(o64["grads"][n].numel() for n in body)
    # Keep dead ReLUs from hiding whole paths: at most 35% zero entries overall and at least
    # a third of every tensor's entries non-zero.
    if notes["zero_grad_share"] > 0.35:
        raise Unsuitable(f"{notes['zero_grad_share']:.0%} of the gradient entries are zero")
    for n in body:
        if float((o64["grads"][n] != 0).double().mean()) < 1 / 3:
            raise Unsuitable(f"{n}: over two thirds of the gradient entries are zero")
    naive = numpy_logits(model_kind, cfg, weights, sparse, dense)
    assert np.abs(naive - o64["logits"].numpy()).max() < 1e-12, (name, naive, o64["logits"])
    if model_kind == "shared_bottom":
        check_against_torch_nn(model, weights, sparse, dense, labels, o64)
    if model_kind == "esmm":
        check_esmm(o32, labels)
        check_esmm(o64, labels)
    if model_kind == "aitm":
        active, total = check_aitm(model, o64)
        notes["calibrator_active_terms"] = f"{active} of {total}"

    fd_worst, fd_count = finite_difference_check(name, model, weights, sparse, dense, labels,
                                                 o64["grads"]) if fd else (float("nan"), 0)

    # float32 vs float64
    dl = float((o32["logits"].double() - o64["logits"]).abs().max())
    rel = float(((o32["logits"].double() - o64["logits"]).abs() / o64["logits"].abs().clamp(min=1.0)).max())
    dL = max(abs(float(a) - float(b)) for a, b in zip(o32["losses"], o64["losses"]))
    dg = max(float((o32["grads"][n].double() - o64["grads"][n]).abs().max()) for n in weights)
    assert rel < 1e-5, (name, rel)
    assert dL < 1e-5 and dg < 1e-5, (name, dL, dg)

    if not write:
        return None
    shapes = {n: list(s) for n, s, _ in model.param_specs()}
    doc = {
        "case": name,
        "model": model_kind,
        "seed": seed,
        "torch_version": torch.__version__,
        "config": cfg,
        "batch_size": B,
        "num_tasks": T,
        "param_names": [n for n, _, _ in model.param_specs()],
        "shapes": shapes,
        "roles": model.roles(),
        "sparse": [int(v) for v in sparse.reshape(-1)],
        "dense": f32list(dense),
        "labels": [int(v) for v in labels.reshape(-1)],
        "weights": {n: f32list(w) for n, w in weights.items()},
        "logits": f32list(o32["logits"]),
        "losses": [float(np.float32(l)) for l in o32["losses"]],
        "total_loss": float(np.float32(o32["total"])),
        "grads": {n: f32list(o32["grads"][n]) for n in weights},
        "logits_f64": f64list(o64["logits"]),
        "losses_f64": [float(l) for l in o64["losses"]],
        "total_loss_f64": float(o64["total"]),
        "grads_f64": {n: f64list(o64["grads"][n]) for n in weights},
    }
    if cfg["batchnorm"]:
        doc["bn_running"] = {n: f32list(v) for n, v in o32["buffers"].items()}
        doc["bn_running_f64"] = {n: f64list(v) for n, v in o64["buffers"].items()}
    path = os.path.join(OUT_DIR, f"{name}.json")
    with open(path, "w") as fh:
        fh.write(dump(doc) + "\n")
    return dict(case=name, logits=dl, logits_rel=rel, losses=dL, grads=dg, fd_worst=fd_worst, fd_entries=fd_count,
                **notes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="*", help="subset of case names")
    ap.add_argument("--no-fd", action="store_true", help="skip the finite-difference check")
    ap.add_argument("--search", action="store_true",
                    help="for each case, print the first seed >= its listed seed that makes a suitable fixture")
    args = ap.parse_args()
    os.makedirs(OUT_DIR, exist_ok=True)
    check_bn_formula()
    print(f"torch {torch.__version__}, writing to {OUT_DIR}")
    print(f"{'case':18s} {'|dlogit|':>10s} {'|dloss|':>10s} {'|dgrad|':>10s}  (max |f32 - f64|)   FD check")
    for name, kind, seed, cfg, funnel in CASES:
        if args.cases and name not in args.cases:
            continue
        if args.search:
            s = seed
            while True:
                try:
                    make_case(name, kind, s, cfg, funnel, fd=False, write=False)
                    break
                except Unsuitable as e:
                    print(f"  {name} seed {s}: {e}")
                    s += 1
            print(f"{name}: seed {s}")
            continue
        r = make_case(name, kind, seed, cfg, funnel, fd=not args.no_fd)
        extra = f"  zero body grads {r['zero_grad_share']:.0%}"
        extra += f"  calibrator active {r['calibrator_active_terms']}" if "calibrator_active_terms" in r else ""
        print(f"{name:18s} {r['logits']:10.3e} {r['losses']:10.3e} {r['grads']:10.3e}   "
              f"{r['fd_entries']} entries, worst |err| {r['fd_worst']:.2e}{extra}")


if __name__ == "__main__":
    main()
