"""benchmarks.multigrid (tools/benchmark.py --task multigrid): the standard and the multigrid
run of a tiny detector config back to back, scored at the chosen points with the training
clock stopped, and the plot (no speed or accuracy targets)."""

import argparse
import json

import pytest
from tiny_ava_run import make_tiny_ava, tiny_cfg, write_cfg

from benchmarks import multigrid as benchmark_multigrid


@pytest.fixture
def tiny_sets(tmp_path):
    from slowfast_det.data import datasets

    root = make_tiny_ava(tmp_path / "ava")
    names = ("bench_mg_train", "bench_mg_val")
    for name, split in zip(names, ("train", "val")):
        datasets.register_ava_dataset(name, str(root), split)
    yield names
    for name in names:
        datasets.unregister_ava_dataset(name)


def test_benchmark_multigrid_tiny(tmp_path, tiny_sets):
    train, val = tiny_sets
    cfg = tiny_cfg(
        tmp_path / "unused",
        train=train,
        test=val,
        **{
            "SOLVER.MAX_ITER": 4,
            "SOLVER.IMS_PER_BATCH": 2,
            "SOLVER.MULTIGRID.LONG_CYCLE_FACTORS": [[0.5, 0.5**0.5], [1.0, 1.0]],
            "TEST.PRECISE_BN.ENABLED": True,
            "TEST.PRECISE_BN.NUM_ITER": 1,
        },
    )
    parser = argparse.ArgumentParser()
    benchmark_multigrid.add_arguments(parser)
    plot, out = tmp_path / "curve.png", tmp_path / "curves.json"
    args = parser.parse_args(
        ["--config-file", write_cfg(cfg, tmp_path / "cfg.yaml"), "--points", "2"]
        + ["--workdir", str(tmp_path / "work"), "--plot", str(plot), "--json", str(out)]
    )
    rows = {r[0]: r[1] for r in benchmark_multigrid.main(args)}
    assert 0 <= rows["standard round 1: final frame-mAP@0.5IOU"] <= 1  # the task's headline
    assert rows["standard round 1: iterations / clips"] == "4 / 8"
    curves = json.loads(out.read_text())
    mg = curves["multigrid_0"]
    assert [p[1] for p in mg["curve"]][-1] == mg["iterations"]
    assert [p[1] for p in curves["standard_0"]["curve"]] == [2, 4]
    seconds = [p[0] for p in mg["curve"]]
    assert seconds == sorted(seconds) and seconds[0] > 0
    assert rows["multigrid round 1: of which waiting for data"] <= seconds[-1]
    assert plot.stat().st_size > 1000
