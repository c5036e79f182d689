"""Independent PyTorch reference implementations of the RecHub multi-task models.

Written from the model semantics spec (SharedBottom, MMoE, ESMM, PLE/CGC, AITM); not derived
from torch-rechub. Every model is *functional*: it declares its parameters as an ordered list of
(name, shape, kind) whose names are exactly the spec's strings (`embeddings.0`,
`experts.1.weight`, `levels.1.tasks.0.experts.0.bias`, ...), and its forward pass reads them
from a plain dict name -> tensor. That makes it trivial to run the same weights in float32 and
float64, to perturb single entries for finite differences, and to export everything by name.

Conventions (all from the spec):
- Linear(name, in, out): `name.weight` (out, in), `name.bias` (out,), y = x W^T + b.
- Stacked experts: `prefix.l.weight` (K, H_l, H_{l-1}), `prefix.l.bias` (K, H_l); each expert
  applies the activation after every layer (no output layer).
- Gates: `....weight` (K', in), no bias, softmax(x W^T) over the experts.
- MLP batchnorm: BatchNorm1d `name.l.bn` after hidden Linear l, before the activation. In
  training mode it normalises with the batch mean and the biased batch variance and updates the
  running stats with momentum 0.1 using the *unbiased* batch variance (exactly torch's
  BatchNorm1d). Buffers: `name.l.bn.running_mean`, `name.l.bn.running_var` (init 0 and 1).
- forward(...) returns logits (B, T); losses(...) returns the list of per-spec loss terms
  whose sum is the total loss.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EPS_BN = 1e-5
MOMENTUM_BN = 0.1

# When RELU_WATCH is a list, every ReLU appends min |input| (used to keep fixtures away from kinks).
RELU_WATCH = None


def relu(x):
    if RELU_WATCH is not None:
        RELU_WATCH.append(float(x.detach().abs().min()))
    return torch.relu(x)


ACTIVATIONS = {
    "relu": relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}

# Parameter kinds (used by the fixture script to choose an initial distribution).
EMBEDDING, LINEAR_W, LINEAR_B, EXPERT_W, EXPERT_B, GATE_W, BN_W, BN_B = (
    "embedding", "linear_weight", "linear_bias", "expert_weight", "expert_bias", "gate_weight",
    "bn_weight", "bn_bias")


# --------------------------------------------------------------------------- building blocks

def batch_norm_train(h, gamma, beta, running_mean=None, running_var=None, training=True):
    """BatchNorm1d on (B, H). Training: batch mean, biased batch variance for normalising;
    running stats (if given) updated in place with momentum 0.1 and the unbiased variance."""
    if training:
        n = h.shape[0]
        mean = h.mean(dim=0)
        var = ((h - mean) ** 2).mean(dim=0)  # biased
        if running_mean is not None:
            with torch.no_grad():
                running_mean.mul_(1 - MOMENTUM_BN).add_(MOMENTUM_BN * mean.detach())
                unbiased = var.detach() * (n / (n - 1))
                running_var.mul_(1 - MOMENTUM_BN).add_(MOMENTUM_BN * unbiased)
    else:
        mean, var = running_mean, running_var
    return (h - mean) / torch.sqrt(var + EPS_BN) * gamma + beta


class MLPSpec:
    """MLP(name, in, units, activation, output, batchnorm, dropout) from the spec."""

    def __init__(self, name, in_dim, units, activation="relu", output=False, batchnorm=False,
                 dropout=0.0):
        self.name, self.in_dim, self.units = name, in_dim, list(units)
        self.activation, self.output = activation, output
        self.batchnorm, self.dropout = batchnorm, dropout

    @property
    def out_dim(self):
        return 1 if self.output else self.units[-1]

    def param_specs(self):
        specs, prev = [], self.in_dim
        for l, h in enumerate(self.units):
            specs.append((f"{self.name}.{l}.weight", (h, prev), LINEAR_W))
            specs.append((f"{self.name}.{l}.bias", (h,), LINEAR_B))
            if self.batchnorm:
                specs.append((f"{self.name}.{l}.bn.weight", (h,), BN_W))
                specs.append((f"{self.name}.{l}.bn.bias", (h,), BN_B))
            prev = h
        if self.output:
            n = len(self.units)
            specs.append((f"{self.name}.{n}.weight", (1, prev), LINEAR_W))
            specs.append((f"{self.name}.{n}.bias", (1,), LINEAR_B))
        return specs

    def buffer_specs(self):
        if not self.batchnorm:
            return []
        out = []
        for l, h in enumerate(self.units):
            out.append((f"{self.name}.{l}.bn.running_mean", (h,), 0.0))
            out.append((f"{self.name}.{l}.bn.running_var", (h,), 1.0))
        return out

    def __call__(self, p, x, buffers=None, training=True):
        act = ACTIVATIONS[self.activation]
        h = x
        for l in range(len(self.units)):
            h = F.linear(h, p[f"{self.name}.{l}.weight"], p[f"{self.name}.{l}.bias"])
            if self.batchnorm:
                rm = buffers.get(f"{self.name}.{l}.bn.running_mean") if buffers is not None else None
                rv = buffers.get(f"{self.name}.{l}.bn.running_var") if buffers is not None else None
                h = batch_norm_train(h, p[f"{self.name}.{l}.bn.weight"], p[f"{self.name}.{l}.bn.bias"],
                                     rm, rv, training)
            h = act(h)
            if self.dropout > 0 and training:
                h = F.dropout(h, self.dropout, training=True)
        if self.output:
            n = len(self.units)
            h = F.linear(h, p[f"{self.name}.{n}.weight"], p[f"{self.name}.{n}.bias"])
        return h


class ExpertBankSpec:
    """K experts with identical shapes, weights stacked: `prefix.l.weight` (K, H_l, H_{l-1})."""

    def __init__(self, prefix, count, in_dim, units, activation="relu"):
        self.prefix, self.count, self.in_dim, self.units = prefix, count, in_dim, list(units)
        self.activation = activation

    def param_specs(self):
        specs, prev = [], self.in_dim
        for l, h in enumerate(self.units):
            specs.append((f"{self.prefix}.{l}.weight", (self.count, h, prev), EXPERT_W))
            specs.append((f"{self.prefix}.{l}.bias", (self.count, h), EXPERT_B))
            prev = h
        return specs

    def __call__(self, p, x):
        """x (B, in) -> (K, B, H_n); expert k uses the [k] slices; activation after every layer."""
        act = ACTIVATIONS[self.activation]
        h = None
        for l in range(len(self.units)):
            w, b = p[f"{self.prefix}.{l}.weight"], p[f"{self.prefix}.{l}.bias"]
            if h is None:
                z = torch.einsum("bi,khi->kbh", x, w)
            else:
                z = torch.einsum("kbi,khi->kbh", h, w)
            h = act(z + b[:, None, :])
        return h


def gate_mix(gate_weight, x, stacked):
    """softmax(x W^T) over the experts (rows of W), mixing stacked (K, B, H) -> (B, H)."""
    g = torch.softmax(F.linear(x, gate_weight), dim=1)  # (B, K)
    return torch.einsum("bk,kbh->bh", g, stacked)


def bce_with_logits_mean(logit, y):
    """(1/B) sum_b BCEWithLogits(logit_b, y_b) (torch's stable formulation)."""
    return F.binary_cross_entropy_with_logits(logit, y, reduction="mean")


def bce_prob_mean(p, y):
    """(1/B) sum_b BCE on a probability exactly as torch.nn.BCELoss: each log clamped to >= -100,
    log(1-p) evaluated as log1p(-p). (Backward, as torch: (p-y)/max(p(1-p), 1e-12).)"""
    return F.binary_cross_entropy(p, y, reduction="mean")


def bce_prob_mean_manual(p, y):
    """The same as bce_prob_mean written out, used only as a check of the formula."""
    lp = torch.clamp(torch.log(p), min=-100.0)
    l1p = torch.clamp(torch.log1p(-p), min=-100.0)
    return -(y * lp + (1 - y) * l1p).mean()


# --------------------------------------------------------------------------- models

class RefModel:
    """Common input layer: one table per field `embeddings.f` (V_f + 1, E) and dense columns."""

    model_name = "?"

    def __init__(self, vocabulary_sizes, embedding_dim, dense_count, num_tasks):
        self.vocabulary_sizes = list(vocabulary_sizes)
        self.embedding_dim = embedding_dim
        self.dense_count = dense_count
        self.num_tasks = num_tasks

    @property
    def input_dim(self):
        return len(self.vocabulary_sizes) * self.embedding_dim + self.dense_count

    def embedding_specs(self):
        return [(f"embeddings.{f}", (v + 1, self.embedding_dim), EMBEDDING)
                for f, v in enumerate(self.vocabulary_sizes)]

    def param_specs(self):
        return self.embedding_specs() + self.body_specs()

    def body_specs(self):
        raise NotImplementedError

    def buffer_specs(self):
        return []

    def new_buffers(self, dtype):
        return {n: torch.full(s, v, dtype=dtype) for n, s, v in self.buffer_specs()}

    def embed(self, p, sparse, dense):
        """x = concat(emb_0[id_0], ..., emb_{F-1}[id_{F-1}], dense) -> (B, F*E + D)."""
        parts = [p[f"embeddings.{f}"][sparse[:, f]] for f in range(len(self.vocabulary_sizes))]
        parts.append(dense)
        return torch.cat(parts, dim=1)

    def forward(self, p, sparse, dense, buffers=None, training=True):
        raise NotImplementedError

    def losses(self, logits, labels):
        """Independent tasks: [L_t] with L_t = mean_b BCEWithLogits(logit[b,t], y[b,t])."""
        return [bce_with_logits_mean(logits[:, t], labels[:, t]) for t in range(self.num_tasks)]

    def roles(self):
        """name -> -1 for shared parameters, t for task t's (spec 'Roles')."""
        out = {}
        for name, _, _ in self.param_specs():
            parts = name.split(".")
            role = -1
            if parts[0] in ("towers", "gates", "transfer", "ait", "heads"):
                role = int(parts[1])
            elif parts[0] == "levels" and parts[2] in ("tasks", "gates"):
                role = int(parts[3])
            out[name] = role
        return out


class SharedBottom(RefModel):
    model_name = "shared_bottom"

    def __init__(self, vocabulary_sizes, embedding_dim, dense_count, num_tasks, hidden_units,
                 tower_units, activation="relu", batchnorm=False, dropout=0.0):
        super().__init__(vocabulary_sizes, embedding_dim, dense_count, num_tasks)
        self.bottom = MLPSpec("bottom", self.input_dim, hidden_units, activation, False, batchnorm, dropout)
        self.towers = [MLPSpec(f"towers.{t}", hidden_units[-1], tower_units, activation, True, batchnorm,
                               dropout) for t in range(num_tasks)]

    def body_specs(self):
        return self.bottom.param_specs() + [s for tw in self.towers for s in tw.param_specs()]

    def buffer_specs(self):
        return self.bottom.buffer_specs() + [s for tw in self.towers for s in tw.buffer_specs()]

    def forward(self, p, sparse, dense, buffers=None, training=True):
        x = self.embed(p, sparse, dense)
        h = self.bottom(p, x, buffers, training)
        return torch.cat([tw(p, h, buffers, training) for tw in self.towers], dim=1)


class MMoE(RefModel):
    model_name = "mmoe"

    def __init__(self, vocabulary_sizes, embedding_dim, dense_count, num_tasks, expert_units,
                 num_experts, tower_units, activation="relu", batchnorm=False, dropout=0.0):
        super().__init__(vocabulary_sizes, embedding_dim, dense_count, num_tasks)
        self.experts = ExpertBankSpec("experts", num_experts, self.input_dim, expert_units, activation)
        self.num_experts = num_experts
        self.towers = [MLPSpec(f"towers.{t}", expert_units[-1], tower_units, activation, True, batchnorm,
                               dropout) for t in range(num_tasks)]

    def body_specs(self):
        specs = self.experts.param_specs()
        specs += [(f"gates.{t}.weight", (self.num_experts, self.input_dim), GATE_W)
                  for t in range(self.num_tasks)]
        specs += [s for tw in self.towers for s in tw.param_specs()]
        return specs

    def buffer_specs(self):
        return [s for tw in self.towers for s in tw.buffer_specs()]

    def forward(self, p, sparse, dense, buffers=None, training=True):
        x = self.embed(p, sparse, dense)
        e = self.experts(p, x)  # (K, B, H)
        outs = []
        for t, tw in enumerate(self.towers):
            f_t = gate_mix(p[f"gates.{t}.weight"], x, e)
            outs.append(tw(p, f_t, buffers, training))
        return torch.cat(outs, dim=1)


class ESMM(RefModel):
    model_name = "esmm"

    def __init__(self, vocabulary_sizes, embedding_dim, dense_count, tower_units, activation="relu",
                 batchnorm=False, dropout=0.0):
        super().__init__(vocabulary_sizes, embedding_dim, dense_count, 2)
        self.towers = [MLPSpec(f"towers.{t}", self.input_dim, tower_units, activation, True, batchnorm,
                               dropout) for t in range(2)]

    def body_specs(self):
        return [s for tw in self.towers for s in tw.param_specs()]

    def buffer_specs(self):
        return [s for tw in self.towers for s in tw.buffer_specs()]

    def forward(self, p, sparse, dense, buffers=None, training=True):
        x = self.embed(p, sparse, dense)
        return torch.cat([tw(p, x, buffers, training) for tw in self.towers], dim=1)  # [z_ctr, z_cvr]

    def losses(self, logits, labels):
        click, purchase = labels[:, 0], labels[:, 1]
        ctcvr = click * purchase  # click AND purchase
        l_ctr = bce_with_logits_mean(logits[:, 0], click)
        p_ctcvr = torch.sigmoid(logits[:, 0]) * torch.sigmoid(logits[:, 1])
        l_ctcvr = bce_prob_mean(p_ctcvr, ctcvr)
        return [l_ctr, l_ctcvr]


class PLE(RefModel):
    model_name = "ple"

    def __init__(self, vocabulary_sizes, embedding_dim, dense_count, num_tasks, expert_units,
                 num_experts, num_shared_experts, num_layers, tower_units, activation="relu",
                 batchnorm=False, dropout=0.0):
        super().__init__(vocabulary_sizes, embedding_dim, dense_count, num_tasks)
        self.expert_units = list(expert_units)
        self.num_experts, self.num_shared_experts, self.num_layers = num_experts, num_shared_experts, num_layers
        self.levels = []
        for j in range(num_layers):
            in_dim = self.input_dim if j == 0 else expert_units[-1]
            tasks = [ExpertBankSpec(f"levels.{j}.tasks.{k}.experts", num_experts, in_dim, expert_units, activation)
                     for k in range(num_tasks)]
            shared = ExpertBankSpec(f"levels.{j}.shared.experts", num_shared_experts, in_dim, expert_units,
                                    activation)
            self.levels.append((in_dim, tasks, shared))
        self.towers = [MLPSpec(f"towers.{t}", expert_units[-1], tower_units, activation, True, batchnorm,
                               dropout) for t in range(num_tasks)]

    def body_specs(self):
        specs = []
        for j, (in_dim, tasks, shared) in enumerate(self.levels):
            for bank in tasks:
                specs += bank.param_specs()
            specs += shared.param_specs()
            for k in range(self.num_tasks):
                specs.append((f"levels.{j}.gates.{k}.weight", (self.num_experts + self.num_shared_experts, in_dim),
                              GATE_W))
            if j < self.num_layers - 1:
                specs.append((f"levels.{j}.shared_gate.weight",
                              (self.num_tasks * self.num_experts + self.num_shared_experts, in_dim), GATE_W))
        specs += [s for tw in self.towers for s in tw.param_specs()]
        return specs

    def buffer_specs(self):
        return [s for tw in self.towers for s in tw.buffer_specs()]

    def forward(self, p, sparse, dense, buffers=None, training=True):
        x = self.embed(p, sparse, dense)
        task_in = [x] * self.num_tasks
        shared_in = x
        for j, (_, tasks, shared) in enumerate(self.levels):
            task_e = [bank(p, task_in[k]) for k, bank in enumerate(tasks)]  # each (Ne, B, H)
            shared_e = shared(p, shared_in)  # (Ns, B, H)
            new_task = [gate_mix(p[f"levels.{j}.gates.{k}.weight"], task_in[k],
                                 torch.cat([task_e[k], shared_e], dim=0))
                        for k in range(self.num_tasks)]
            if j < self.num_layers - 1:
                shared_in = gate_mix(p[f"levels.{j}.shared_gate.weight"], shared_in,
                                     torch.cat(task_e + [shared_e], dim=0))
            task_in = new_task
        return torch.cat([tw(p, task_in[t], buffers, training) for t, tw in enumerate(self.towers)], dim=1)


class AITM(RefModel):
    model_name = "aitm"

    def __init__(self, vocabulary_sizes, embedding_dim, dense_count, num_tasks, tower_units, alpha=0.6,
                 activation="relu", batchnorm=False, dropout=0.0):
        super().__init__(vocabulary_sizes, embedding_dim, dense_count, num_tasks)
        self.d = tower_units[-1]
        self.alpha = alpha
        self.towers = [MLPSpec(f"towers.{t}", self.input_dim, tower_units, activation, False, batchnorm, dropout)
                       for t in range(num_tasks)]

    def body_specs(self):
        d = self.d
        specs = [s for tw in self.towers for s in tw.param_specs()]
        for t in range(1, self.num_tasks):
            specs += [(f"transfer.{t}.weight", (d, d), LINEAR_W), (f"transfer.{t}.bias", (d,), LINEAR_B)]
            for part in ("query", "key", "value"):
                specs += [(f"ait.{t}.{part}.weight", (d, d), LINEAR_W), (f"ait.{t}.{part}.bias", (d,), LINEAR_B)]
        for t in range(self.num_tasks):
            specs += [(f"heads.{t}.weight", (1, d), LINEAR_W), (f"heads.{t}.bias", (1,), LINEAR_B)]
        return specs

    def buffer_specs(self):
        return [s for tw in self.towers for s in tw.buffer_specs()]

    def forward(self, p, sparse, dense, buffers=None, training=True):
        x = self.embed(p, sparse, dense)
        q = [tw(p, x, buffers, training) for tw in self.towers]
        z = [q[0]]
        scale = 1.0 / math.sqrt(self.d)
        for t in range(1, self.num_tasks):
            p_t = relu(F.linear(z[t - 1], p[f"transfer.{t}.weight"], p[f"transfer.{t}.bias"]))
            scores, values = [], []
            for u in (p_t, q[t]):  # order: [p_t, q_t]
                qu = F.linear(u, p[f"ait.{t}.query.weight"], p[f"ait.{t}.query.bias"])
                ku = F.linear(u, p[f"ait.{t}.key.weight"], p[f"ait.{t}.key.bias"])
                vu = F.linear(u, p[f"ait.{t}.value.weight"], p[f"ait.{t}.value.bias"])
                scores.append((qu * ku).sum(dim=1) * scale)
                values.append(vu)
            w = torch.softmax(torch.stack(scores, dim=1), dim=1)  # (B, 2)
            z.append(w[:, 0:1] * values[0] + w[:, 1:2] * values[1])
        return torch.cat([F.linear(z[t], p[f"heads.{t}.weight"], p[f"heads.{t}.bias"])
                          for t in range(self.num_tasks)], dim=1)

    def calibrator(self, logits):
        """alpha * (1/B) sum_b sum_{t>=1} max(yhat_t - yhat_{t-1}, 0), yhat = sigmoid(logit)."""
        yhat = torch.sigmoid(logits)
        gaps = torch.relu(yhat[:, 1:] - yhat[:, :-1])  # relu: gradient 0 exactly at the kink
        return self.alpha * gaps.sum(dim=1).mean()

    def losses(self, logits, labels):
        return super().losses(logits, labels) + [self.calibrator(logits)]


def build(model, cfg):
    """Builds a reference model from a fixture `config` object."""
    common = dict(vocabulary_sizes=cfg["vocabulary_sizes"], embedding_dim=cfg["embedding_dim"],
                  dense_count=cfg["dense_count"])
    mlp = dict(activation=cfg["activation"], batchnorm=cfg["batchnorm"], dropout=cfg["dropout"])
    if model == "shared_bottom":
        return SharedBottom(num_tasks=cfg["num_tasks"], hidden_units=cfg["hidden_units"],
                            tower_units=cfg["tower_units"], **common, **mlp)
    if model == "mmoe":
        return MMoE(num_tasks=cfg["num_tasks"], expert_units=cfg["expert_units"], num_experts=cfg["num_experts"],
                    tower_units=cfg["tower_units"], **common, **mlp)
    if model == "esmm":
        return ESMM(tower_units=cfg["tower_units"], **common, **mlp)
    if model == "ple":
        return PLE(num_tasks=cfg["num_tasks"], expert_units=cfg["expert_units"], num_experts=cfg["num_experts"],
                   num_shared_experts=cfg["num_shared_experts"], num_layers=cfg["num_layers"],
                   tower_units=cfg["tower_units"], **common, **mlp)
    if model == "aitm":
        return AITM(num_tasks=cfg["num_tasks"], tower_units=cfg["tower_units"], alpha=cfg["alpha"], **common, **mlp)
    raise ValueError(model)
