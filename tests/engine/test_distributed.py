"""Distributed training equals single-process training; evaluation over 2 ranks equals 1 rank.

``tools/train_ava.py --num-gpus 2`` on the CPU (two gloo processes, Detectron2's launch)
with SOLVER.IMS_PER_BATCH 4 (2 clips per rank) against one process with the same total
batch, FrozenBN and no dropout, random flips / crops / colour jitter on: same weights within
1e-5 after the run, and the same frame-mAP, exactly, from a 2-rank evaluation of the
1-process weights.
"""

import json
import os

import pytest
from tiny_ava_run import (
    load_weights,
    make_tiny_ava,
    max_weight_diff,
    run_train,
    tiny_cfg,
    write_cfg,
)

from slowfast_det.data.samplers import ResumableTrainingSampler


@pytest.mark.parametrize("world,batch", [(2, 2), (3, 1), (4, 3)])
def test_rank_shards_cover_the_one_process_batches(monkeypatch, world, batch):
    """Step t of W ranks with b clips each = step t of one process with b W clips (same items,
    same per-sample seeds), from any start position (resume)."""
    import itertools

    from detectron2.utils import comm

    def take(rank, w, b, steps, start):
        monkeypatch.setattr(comm, "get_rank", lambda: rank)
        monkeypatch.setattr(comm, "get_world_size", lambda: w)
        s = ResumableTrainingSampler(7, seed=3, start=start)
        items = list(itertools.islice(iter(s), b * steps))
        return [items[i * b : (i + 1) * b] for i in range(steps)]

    for start in (0, 5 * world * batch):
        single = take(0, 1, world * batch, 6, start)
        shards = [take(r, world, batch, 6, start) for r in range(world)]
        for t in range(6):
            assert sorted(x for r in range(world) for x in shards[r][t]) == sorted(single[t])
    # positions are consecutive per step and every epoch is a permutation of the dataset
    flat = [x for step in take(0, 1, 7, 3, 0) for x in step]
    assert [p for _, _, p in flat] == list(range(21))
    for e in range(3):
        assert sorted(i for i, _, _ in flat[7 * e : 7 * e + 7]) == list(range(7))
    assert [i for i, _, _ in flat[:7]] != [i for i, _, _ in flat[7:14]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    datasets = tmp / "datasets"
    make_tiny_ava(datasets / "ava")
    overrides = {
        "MODEL.SLOWFAST.NORM": "FrozenBN",
        "MODEL.ROI_ACTION_HEAD.DROPOUT_RATE": 0.0,
        "SOLVER.IMS_PER_BATCH": 4,
        "SOLVER.MAX_ITER": 3,
        "SOLVER.CHECKPOINT_PERIOD": 2,
    }
    cfg_file = write_cfg(tiny_cfg(tmp / "one", **overrides), tmp / "cfg.yaml")
    # 1 process with 2 DataLoader workers; 2 processes with none: the stream is the same
    one = run_train(cfg_file, datasets, "DATALOADER.NUM_WORKERS", 2)
    two = run_train(
        cfg_file, datasets, "--num-gpus", 2, "--dist-url", "auto", "OUTPUT_DIR", tmp / "two"
    )
    return tmp, datasets, cfg_file, one, two


def test_two_processes_give_the_one_process_weights(runs):
    tmp, _, _, _, two = runs
    assert (
        "World size: 2" in two.stdout
        and "Making batched data loader with batch_size=2" in two.stdout
    ), two.stdout[-3000:]
    assert os.path.exists(tmp / "two" / "log.txt.rank1"), os.listdir(
        tmp / "two"
    )  # the second process logged too
    one_w = load_weights(tmp / "one" / "model_final.pth")
    two_w = load_weights(tmp / "two" / "model_final.pth")
    diff = max_weight_diff(one_w, two_w)
    print(f"max |w(1 process) - w(2 processes)| = {diff:.3g}")
    assert diff <= 1e-5, f"max |w1 - w2| = {diff}"
    # the comparison is not vacuous: the last step alone moved the weights by far more
    moved = max_weight_diff(one_w, load_weights(tmp / "one" / "model_0000001.pth"))
    assert moved > 1e-3, f"the last step moved the weights by only {moved}"


def test_two_rank_evaluation_gives_the_single_process_map(runs):
    tmp, datasets, cfg_file, _, _ = runs
    weights = tmp / "one" / "model_final.pth"
    out = run_train(
        cfg_file,
        datasets,
        "--num-gpus",
        2,
        "--dist-url",
        "auto",
        "--eval-only",
        "MODEL.WEIGHTS",
        weights,
        "OUTPUT_DIR",
        tmp / "eval2",
    )
    assert "World size: 2" in out.stdout
    one = json.loads((tmp / "one" / "final_metrics.json").read_text())
    two = json.loads((tmp / "eval2" / "final_metrics.json").read_text())
    print(f"frame-mAP: 1 rank {one['frame-mAP@0.5IOU']!r}, 2 ranks {two['frame-mAP@0.5IOU']!r}")
    assert 0.0 < one["frame-mAP@0.5IOU"] < 1.0
    assert two == one  # the mAP and every per-class AP, exactly
    csv_one = (
        (tmp / "one" / "inference" / "ava_v2.2_val" / "ava_detections.csv").read_text().splitlines()
    )
    csv_two = (
        (tmp / "eval2" / "inference" / "ava_v2.2_val" / "ava_detections.csv")
        .read_text()
        .splitlines()
    )
    assert len(csv_one) > 0 and sorted(csv_two) == sorted(
        csv_one
    )  # every keyframe once, same scores


def test_syncbn_on_cpu_processes_is_a_clear_error(monkeypatch, tmp_path):
    """torch's SyncBatchNorm only runs on GPUs: refused up front, not at the first forward."""
    from detectron2.utils import comm

    from slowfast_det.engine.trainer import AVATrainer

    monkeypatch.setattr(comm, "get_world_size", lambda: 2)
    cfg = tiny_cfg(tmp_path, **{"MODEL.SLOWFAST.NORM": "SyncBN"})
    with pytest.raises(ValueError, match=r"MODEL.SLOWFAST.NORM='SyncBN' needs GPUs"):
        AVATrainer(cfg)
