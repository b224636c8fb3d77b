"""Crash safety: SIGKILL at a random moment, then ``--resume``, reaches the uninterrupted weights.

A tiny config (BN, dropout 0.5, random scale / crop / flip / colour jitter, SEED 7) trains
8 iterations with a checkpoint every 2. The killed run is killed with SIGKILL at a random
moment of its training (the delay is drawn from [0, the reference run's time from the start
of training to its final checkpoint) and printed); every checkpoint file it left loads
completely, the restart with ``--resume`` continues from the iteration after the last
complete checkpoint, and its final weights equal the uninterrupted run's.
"""

import os
import random
import re
import signal
import subprocess
import threading
import time

import pytest
import torch
from tiny_ava_run import (
    child_env,
    load_weights,
    make_tiny_ava,
    max_weight_diff,
    run_train,
    tiny_cfg,
    train_cmd,
    write_cfg,
)

from slowfast_det.checkpoint import safe_torch_load

MAX_ITER = 8
STARTED = "Starting training from iteration"


def _popen(cfg_file, datasets, *args):
    return subprocess.Popen(
        train_cmd(cfg_file, *args),
        env=child_env(datasets),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )


def _training_time(cfg_file, datasets, out):
    """Run to the end; seconds from the 'Starting training' line to the final checkpoint's."""
    proc = _popen(cfg_file, datasets, "OUTPUT_DIR", out)
    started, final, lines = None, None, []
    for line in proc.stdout:
        lines.append(line)
        if started is None and STARTED in line:
            started = time.monotonic()
        if final is None and "Saving checkpoint to" in line and "model_final.pth" in line:
            final = time.monotonic()
    assert proc.wait(timeout=240) == 0, "".join(lines[-80:])
    assert started is not None and final is not None
    return final - started


def _run_and_kill(cfg_file, datasets, out, delay):
    """Start training, SIGKILL it ``delay`` s after training started; returns (returncode, log)."""
    proc = _popen(cfg_file, datasets, "OUTPUT_DIR", out)
    lines, started = [], threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line)
            if STARTED in line:
                started.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert started.wait(timeout=240), "".join(lines[-80:])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    return rc, "".join(lines)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    datasets = tmp / "datasets"
    make_tiny_ava(datasets / "ava")
    cfg = tiny_cfg(
        tmp / "unused", test=None, **{"SOLVER.MAX_ITER": MAX_ITER, "SOLVER.CHECKPOINT_PERIOD": 2}
    )
    return tmp, datasets, write_cfg(cfg, tmp / "cfg.yaml")


def test_sigkill_then_resume_reaches_the_uninterrupted_weights(setup):
    tmp, datasets, cfg_file = setup
    duration = _training_time(cfg_file, datasets, tmp / "reference")
    reference = load_weights(tmp / "reference" / "model_final.pth")

    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    killed = tmp / "killed"
    for attempt in range(3):  # a kill that came after the run's end is retried earlier
        delay = rng.uniform(0, duration) / (1 + attempt)
        rc, log = _run_and_kill(cfg_file, datasets, killed, delay)
        if rc == -signal.SIGKILL:
            break
    context = (
        f"kill delay {delay:.3f} s of {duration:.3f} s (random seed {seed}), attempt {attempt}"
    )
    assert rc == -signal.SIGKILL, f"the run ended before the kill: {context}\n{log[-3000:]}"

    # Whatever was on disk at the kill is complete: every .pth loads, last_checkpoint names one.
    names = sorted(os.listdir(killed))
    for name in names:
        if name.endswith(".pth"):
            state = safe_torch_load(str(killed / name))
            assert set(state["model"]) == set(reference), name
    tagged = (killed / "last_checkpoint").read_text() if "last_checkpoint" in names else None
    if tagged is not None:
        assert tagged in names, context
        resumed_from = int(torch.load(killed / tagged, weights_only=True)["iteration"]) + 1
    else:
        resumed_from = 0

    print(f"{context}; last complete checkpoint: {tagged}; resuming at iteration {resumed_from}")
    proc = run_train(cfg_file, datasets, "--resume", "OUTPUT_DIR", killed)
    started = re.findall(rf"{STARTED} (\d+)", proc.stdout)
    assert started == [str(resumed_from)], (
        f"{context}: last checkpoint {tagged}, log says {started}"
    )
    diff = max_weight_diff(load_weights(killed / "model_final.pth"), reference)
    print(f"max |w(resumed) - w(uninterrupted)| = {diff:.3g}")
    assert diff <= 1e-6, (
        f"{context}: resumed from iteration {resumed_from}, max |w - w_ref| = {diff}"
    )
