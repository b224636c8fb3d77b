"""tools/gpu_check.sh on the CPU: every step of the device check (environment, synthetic
data, train, eval, demo, model benchmark) with --quick sizes, and its results file.

The quick run takes 40-65 s on 2 shared cores, so it is left out of the default suite; run it
with ``SLOWFAST_TEST_GPU_CHECK=1 .venv/bin/python -m pytest tests/tools/test_gpu_check.py``,
or the script itself: ``bash tools/gpu_check.sh --device cpu --quick``. The failure path
(--device cuda without a GPU) always runs (5 s).
"""

import json
import os
import subprocess
import sys

import pytest

from slowfast_det.utils.cpu_features import cpu_has_native_bf16

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "tools", "gpu_check.sh")


def run(tmp_path, *args):
    env = dict(os.environ, OUT=str(tmp_path / "out"))
    proc = subprocess.run(
        ["bash", SCRIPT, "--python", sys.executable, "--work", str(tmp_path / "work"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    res = tmp_path / "out" / "gpu_check"
    results = (
        json.loads((res / "results.json").read_text()) if (res / "results.json").exists() else None
    )
    return proc, results, res


@pytest.mark.skipif(
    os.environ.get("SLOWFAST_TEST_GPU_CHECK") != "1",
    reason="60 s; set SLOWFAST_TEST_GPU_CHECK=1 "
    "(or run bash tools/gpu_check.sh --device cpu --quick)",
)
def test_quick_cpu_run_records_every_step(tmp_path):
    proc, results, res = run(tmp_path, "--device", "cpu", "--quick")
    assert proc.returncode == 0, proc.stdout[-3000:]
    steps = results["steps"]
    assert list(steps) == ["env", "data", "train", "eval", "multigrid", "demo", "benchmark"]
    assert all(s["status"] == "ok" and s["seconds"] > 0 for s in steps.values()), steps
    assert results["device"] == "cpu" and results["quick"] and results["train iterations"] == 4
    assert steps["env"]["numbers"]["cuda available"] is False
    train, ev = steps["train"]["numbers"], steps["eval"]["numbers"]
    assert (
        0 <= train["frame-mAP@0.5IOU"] <= 1
        and train["median seconds / iteration (detectron2 metrics.json)"] > 0
    )
    assert (
        results["eval equals train's final evaluation"] is True
        and ev["frame-mAP@0.5IOU"] == train["frame-mAP@0.5IOU"]
    )
    mg = steps["multigrid"]["numbers"]
    assert (
        0 <= mg["frame-mAP@0.5IOU"] <= 1
        and mg["median seconds / iteration (detectron2 metrics.json)"] > 0
    )
    done, default = (int(v) for v in mg["multigrid iterations / default iterations"].split(" / "))
    assert default == 4 and 1 <= done
    # mixed precision on the CPU (bfloat16 autocast) only where the CPU has it natively
    assert mg["SOLVER.AMP.ENABLED"] is (cpu_has_native_bf16() is True)
    demo = steps["demo"]["numbers"]
    assert demo["frames"] == 120 and demo["keyframes"] == 4 and demo["throughput frames/s"] > 0
    bench = steps["benchmark"]["numbers"]
    diff = next(
        v
        for k, v in bench.items()
        if k.startswith("compare: max abs score difference") and "[unit]" not in k
    )
    assert diff <= 1e-4 and bench["device"] == "cpu"
    md = (res / "results.md").read_text()
    assert "| train | ok |" in md and "compare: ours latency" in md
    assert "=== gpu_check step benchmark: ok" in (res / "gpu_check.log").read_text()
    assert sorted(os.listdir(res)) == ["gpu_check.log", "results.json", "results.md"]


def test_cuda_without_gpu_fails_clearly(tmp_path):
    env_cuda = os.environ.get("CUDA_VISIBLE_DEVICES")
    assert env_cuda == ""  # tests/conftest.py hides any GPU
    proc, results, _ = run(tmp_path, "--device", "cuda", "--quick")
    assert proc.returncode == 1
    assert "--device cuda but torch sees no GPU" in proc.stdout
    assert (
        list(results["steps"]) == ["env"] and results["steps"]["env"]["status"] == "failed (exit 1)"
    )
