#!/usr/bin/env python3
"""TensorBoard interop check: a run folder's event files, read by TensorBoard's own reader.

Trains the default MMoE briefly on small generated data (2 epochs of 125 steps, a step line
every 10 steps, gradients monitored every 25, a checkpoint every 20) and loads the output
folder with TensorBoard's EventAccumulator. Checks:

  - fresh run: every record's masked CRC32C (TensorBoard's own masked_crc32c), the version
    record, and per tag the count, the steps and the last value equal train_log.jsonl's
    (values compared as float32, the type of simple_value);
  - killed and resumed: the same run killed with SIGKILL after its checkpoint past step 100,
    then `rechub train --resume`; TensorBoard shows each step once per tag, and every curve
    but the timing ones (samples_per_second) equals the fresh run's, as do train_log.jsonl's
    lines (resume is bit-identical).

Prints one line per check:

    PASS tensorboard <what>: <summary>
    FAIL tensorboard <what>: <why>

Run by Tools/check_interop.sh with the virtualenv's python (tensorboard, numpy):

    python check_tensorboard.py --rechub .build/release/rechub --work /tmp/empty --repo .
"""
import argparse
import glob
import json
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

SETTINGS = [
    "data.generate.rows=8000", "data.generate.val_rows=2000", "data.generate.test_rows=2000",
    "data.generate.scale=0.01", "expert_units=[32,16]", "num_experts=3", "tower_units=[8]",
    "batch_size=64", "epochs=2", "threads=1", "log_every=10", "monitor_every=25",
    "checkpoint_every=20", "keep_last=3", "eval_batch_size=1024",
]
TIMING = ("samples_per_second",)


def train(rechub, work, out, extra=()):
    args = [rechub, "train"]
    for s in SETTINGS + [f"data.generate.dir={work}/data", f"output_dir={work}/{out}"] + list(extra):
        args += ["--set", s]
    return args


def read_lines(folder):
    with open(os.path.join(folder, "train_log.jsonl")) as f:
        text = f.read()
    if text and not text.endswith("\n"):
        raise ValueError("train_log.jsonl does not end with a newline")
    return [json.loads(line) for line in text.splitlines()]


def last_logged_step(folder):
    """The step of train_log.jsonl's last whole line (0 when none)."""
    try:
        with open(os.path.join(folder, "train_log.jsonl"), "rb") as f:
            whole = f.read().rsplit(b"\n", 1)[0].splitlines()
        return json.loads(whole[-1])["step"] if whole else 0
    except (OSError, ValueError, KeyError):
        return 0


def expected_curves(lines):
    """tag -> [(step, value)] as train_log.jsonl's lines imply (RunLog's tag scheme)."""
    out = {}

    def add(tag, step, value):
        out.setdefault(tag, []).append((step, value))

    for line in lines:
        step = line["step"]
        if line["kind"] == "step":
            for prefix, key in (("train/loss/", "losses"), ("train/weight/", "weights"), ("train/cosine/", "cosines")):
                for name, value in line.get(key, {}).items():
                    add(prefix + name, step, value)
            if "samples_per_second" in line:
                add("train/samples_per_second", step, line["samples_per_second"])
        elif line["kind"] == "epoch":
            for name, value in line.get("train_loss", {}).items():
                add("epoch/train_loss/" + name, step, value)
            if "samples_per_second" in line:
                add("epoch/samples_per_second", step, line["samples_per_second"])
            for series, metrics in line.get("validation", {}).items():
                for metric, value in metrics.items():
                    add(f"val/{metric}/{series}", step, value)
        else:
            raise ValueError(f"unknown line kind {line['kind']!r}")
    return out


def tensorboard_curves(folder):
    """tag -> [(step, value)] as TensorBoard's EventAccumulator loads the folder."""
    acc = EventAccumulator(folder, size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def check_records(folder):
    """Every event file's records carry correct masked CRC32Cs (TensorBoard's function); the
    first record of each is the version. Returns the number of records."""
    from tensorboard.compat.proto import event_pb2
    files = sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*")))
    if not files:
        raise ValueError("no events.out.tfevents.* file")
    count = 0
    for path in files:
        data = open(path, "rb").read()
        offset, first = 0, True
        while offset < len(data):
            header = data[offset:offset + 8]
            (length,) = struct.unpack("<Q", header)
            (crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
            if masked_crc32c(header) != crc:
                raise ValueError(f"{os.path.basename(path)}: length CRC of the record at byte {offset}")
            body = data[offset + 12:offset + 12 + length]
            (crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
            if masked_crc32c(body) != crc:
                raise ValueError(f"{os.path.basename(path)}: data CRC of the record at byte {offset}")
            event = event_pb2.Event.FromString(body)
            if first and event.file_version != "brain.Event:2":
                raise ValueError(f"{os.path.basename(path)}: first record is not file_version brain.Event:2")
            first = False
            offset += 16 + length
            count += 1
    return count, len(files)


def compare(tb, expected):
    """Why TensorBoard's curves differ from the log's, or None."""
    if set(tb) != set(expected):
        return f"tags differ: only in TensorBoard {sorted(set(tb) - set(expected))}, only in the log {sorted(set(expected) - set(tb))}"
    for tag, want in expected.items():
        got = tb[tag]
        if len(got) != len(want):
            return f"{tag}: {len(got)} values in TensorBoard, {len(want)} lines in train_log.jsonl"
        if [s for s, _ in got] != [s for s, _ in want]:
            return f"{tag}: steps {[s for s, _ in got][:8]}... vs {[s for s, _ in want][:8]}..."
        if got[-1][1] != float(np.float32(want[-1][1])):
            return f"{tag}: last value {got[-1][1]!r} vs {want[-1][1]!r} in train_log.jsonl"
        if any(a != float(np.float32(b)) for (_, a), (_, b) in zip(got, want)):
            return f"{tag}: a value differs from train_log.jsonl"
    return None


def untimed(lines):
    return [{k: v for k, v in l.items() if k not in ("samples_per_second", "seconds")} for l in lines]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rechub", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--repo", required=True)
    a = p.parse_args()
    work = os.path.abspath(a.work)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    failures = 0

    def report(ok, what, detail):
        nonlocal failures
        print(f"{'PASS' if ok else 'FAIL'} tensorboard {what}: {detail}", flush=True)
        failures += 0 if ok else 1

    # 1. An uninterrupted run.
    r = subprocess.run(train(a.rechub, work, "full"), capture_output=True, text=True, env=env, cwd=a.repo)
    if r.returncode != 0:
        report(False, "fresh run", f"rechub train exited {r.returncode}: {r.stderr.strip()[-400:]}")
        return 1
    full_dir = os.path.join(work, "full")
    try:
        lines = read_lines(full_dir)
        records, files = check_records(full_dir)
        tb = tensorboard_curves(full_dir)
        why = compare(tb, expected_curves(lines))
        steps = sum(1 for l in lines if l["kind"] == "step")
        epochs = sum(1 for l in lines if l["kind"] == "epoch")
        if why is None and (steps == 0 or epochs != 2):
            why = f"{steps} step lines and {epochs} epoch lines (expected some and 2)"
        report(why is None, "fresh run", why or f"{len(tb)} tags, {records} records in {files} file(s) with good CRCs; "
               f"counts, steps and values equal train_log.jsonl's {steps} step and {epochs} epoch lines")
    except Exception as e:  # a file TensorBoard or the check cannot read is a failure, said as such
        report(False, "fresh run", f"{type(e).__name__}: {e}")
        return 1

    # 2. The same run killed after its checkpoint past step 100, then resumed.
    cut_dir = os.path.join(work, "cut")
    proc = subprocess.Popen(train(a.rechub, work, "cut"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=a.repo)
    deadline = time.time() + 120
    killed = False
    while time.time() < deadline and proc.poll() is None:
        # Kill once the newest checkpoint is past step 100 and the log has gone past it, so
        # that the resume has lines and events to drop.
        names = glob.glob(os.path.join(cut_dir, "checkpoints", "step-*.rhck"))
        newest = max((int(os.path.basename(n)[5:13]) for n in names), default=0)
        if newest > 100 and last_logged_step(cut_dir) > newest:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    proc.wait()
    if not killed:
        report(False, "killed and resumed", f"the run ended (status {proc.returncode}) before it could be killed")
        return 1
    logged = last_logged_step(cut_dir)
    r = subprocess.run([a.rechub, "train", "--resume", cut_dir], capture_output=True, text=True, env=env, cwd=a.repo)
    if r.returncode != 0:
        report(False, "killed and resumed", f"rechub train --resume exited {r.returncode}: {r.stderr.strip()[-400:]}")
        return 1
    try:
        resumed_from = next((l for l in r.stdout.splitlines() if l.startswith("resumed from")), "?")
        cut_notes = [l for l in r.stdout.splitlines() if "dropped" in l]
        cut_lines = read_lines(cut_dir)
        records, files = check_records(cut_dir)
        tb = tensorboard_curves(cut_dir)
        why = compare(tb, expected_curves(cut_lines))
        if why is None:
            for tag, points in tb.items():
                steps = [s for s, _ in points]
                if steps != sorted(set(steps)):
                    why = f"{tag}: a step appears twice or out of order"
                    break
        if why is None and files < 2:
            why = f"{files} event file(s); the resumed run should have started its own"
        full_tb = tensorboard_curves(full_dir)
        if why is None:
            for tag in sorted(full_tb):
                if any(t in tag for t in TIMING):
                    continue
                if tb.get(tag) != full_tb[tag]:
                    why = f"{tag}: the resumed run's curve differs from the uninterrupted run's"
                    break
        if why is None and untimed(cut_lines) != untimed(lines):
            why = "train_log.jsonl differs from the uninterrupted run's (timing fields aside)"
        report(why is None, "killed and resumed", why or f"killed with lines up to step {logged}, "
               f"{resumed_from.split(': ', 1)[-1]} ({'; '.join(cut_notes) or 'nothing to drop'}); {files} event files, each step once per tag, and every "
               f"curve (timing aside) and train_log.jsonl line equal the uninterrupted run's")
    except Exception as e:
        report(False, "killed and resumed", f"{type(e).__name__}: {e}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
