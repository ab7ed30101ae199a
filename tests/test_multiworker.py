"""Multi-worker training: two processes on 127.0.0.1 train in lockstep; only the chief writes."""
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deepdeconv import rundir
from deepdeconv.cli import train as train_cli

WORKER = Path(__file__).with_name("multiworker_worker.py")
TIMEOUT_S = 150  # both workers together; a hung collective must fail the test, not stall the suite
STEPS = 3
# The generator's batch norm is synchronised across the workers; the discriminator has none, so
# that its weights compare without the null directions a bias before batch norm has (see
# test_distribute.py).
OPTIONS = ["--data", "digits", "--d-norm", "none", "--resolution", "32", "--width", "0.125", "--z-dim", "16",
           "--batch", "8", "--steps", str(STEPS), "--sample-every", "2", "--checkpoint-every", "2",
           "--log-every", "1", "--grid-size", "4", "--augment", "translation,cutout", "--no-progress",
           "--no-mixed-precision"]  # float32: the single-device comparison must not depend on the CPU


def _checkpoint(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_workers(tmp_path, outdir):
    """Starts both workers, waits for them within TIMEOUT_S, always ends them; returns outputs."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    repo = str(Path(__file__).resolve().parents[1])
    procs = []
    try:
        for index in range(2):
            env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                                      "index": index}}),
                       PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
            argv = [sys.executable, str(WORKER), str(tmp_path / f"weights-{index}.npz"), "--outdir", str(outdir),
                    "--strategy", "multiworker", *OPTIONS]
            procs.append(subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + TIMEOUT_S
        outputs = [p.communicate(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for index, (p, (out, err)) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f"worker {index} exited with {p.returncode}:\n{out}\n{err[-3000:]}"
    return outputs


@pytest.mark.slow
def test_two_workers_hold_identical_weights_and_only_the_chief_writes(tmp_path):
    outdir = tmp_path / "runs"
    _run_workers(tmp_path, outdir)

    weights = [dict(np.load(tmp_path / f"weights-{i}.npz")) for i in range(2)]
    assert int(weights[0]["step"]) == int(weights[1]["step"]) == STEPS
    assert weights[0].keys() == weights[1].keys()
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])  # all-reduced updates: bit-identical

    # One run directory (the chief's); the other worker's scratch folder is gone.
    entries = sorted(p.name for p in outdir.iterdir() if p.name != ".cache")
    assert len(entries) == 1 and re.match(r"^\d{5}-digits$", entries[0]), entries
    run = outdir / entries[0]
    assert [p.name for p in rundir.list_checkpoints(run / rundir.CHECKPOINTS)] == \
        [rundir.checkpoint_path(run, s).name for s in (2, STEPS)]
    assert sorted(p.name for p in (run / rundir.SAMPLES).iterdir()) == \
        [f"grid-{s:09d}.png" for s in (0, 2, STEPS)]
    records = [json.loads(line) for line in (run / rundir.LOG).read_text().splitlines()]
    assert [r["step"] for r in records if "step" in r] == list(range(1, STEPS + 1))  # one writer, not two

    # The chief's checkpoint holds what the workers trained ...
    got = _checkpoint(rundir.checkpoint_path(run, STEPS))
    generator = {k: v for k, v in got.items() if k.startswith("generator/")}
    assert generator and all(np.array_equal(v, weights[0][k]) for k, v in generator.items())
    # ... which is what one device trains on the same global batch: each worker got its own
    # part of every batch (DiffAugment is on, so a different split would show).
    assert train_cli.main([*OPTIONS, "--outdir", str(tmp_path / "single"), "--strategy", "default"]) == 0
    single = next((tmp_path / "single").glob("00000-*"))
    want, before = (_checkpoint(rundir.checkpoint_path(single, s)) for s in (STEPS, 2))
    for group in ("generator/", "discriminator/", "generator_ema/"):
        keys = [k for k in want if k.startswith(group)]
        change = np.sqrt(sum(np.sum((want[k] - before[k]) ** 2.0) for k in keys))
        error = np.sqrt(sum(np.sum((got[k] - want[k]) ** 2.0) for k in keys))
        assert change > 0 and error < 1e-3 * change, (group, error, change)
