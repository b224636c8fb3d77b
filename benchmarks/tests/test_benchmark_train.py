"""benchmarks.train (tools/benchmark.py --task train): a few iterations of a tiny
model on the tiny AVA folder, and the reading of Detectron2's per-iteration metrics (no speed
targets)."""

import argparse
import os

import pytest
from ava_tiny import make_ava_root  # tests/helpers (pytest.ini pythonpath)
from detectron2.utils.events import EventStorage

from benchmarks import train as benchmark_train


def test_iteration_metrics_pairs_time_and_data_time_by_iteration():
    with EventStorage(0) as storage:
        for it in range(6):
            storage.iter = it
            storage.put_scalar("data_time", 0.1 * it)
            if it >= 2:  # IterationTimer skips its warm-up iterations
                storage.put_scalar("time", 1.0 + it)
    times, data_times = benchmark_train.iteration_metrics(storage, first_iter=3)
    assert times == [4.0, 5.0, 6.0]
    assert data_times == pytest.approx([0.3, 0.4, 0.5])
    with EventStorage(0) as empty:
        with pytest.raises(RuntimeError, match="no 'time' metric"):
            benchmark_train.iteration_metrics(empty, 0)


@pytest.fixture
def tiny_train_set(tmp_path):
    from slowfast_det.data import datasets

    name = "benchmark_train_tiny"
    datasets.register_ava_dataset(name, make_ava_root(tmp_path / "ava"), "train")
    yield name
    datasets.unregister_ava_dataset(name)


def test_benchmark_train_tiny(tmp_path, tiny_train_set):
    name = tiny_train_set
    parser = argparse.ArgumentParser()
    benchmark_train.add_arguments(parser)
    args = parser.parse_args(
        [
            "--iters",
            "2",
            "--warmup",
            "3",
            "--threads",
            "1",
            "--workers",
            "0",
            "--device",
            "cpu",
            "--output-dir",
            str(tmp_path / "out"),
            "--opts",
            "DATASETS.TRAIN",
            f"('{name}',)",
            "AVA.GENERATE_SYNTHETIC_IF_MISSING",
            "False",
            "MODEL.ROI_HEADS.NUM_CLASSES",
            "80",
            "INPUT.NUM_FRAMES",
            "8",
            "INPUT.SAMPLING_RATE",
            "2",
            "INPUT.TRAIN_JITTER_SCALES",
            "[32, 40]",
            "INPUT.TRAIN_CROP_SIZE",
            "32",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "MODEL.SLOWFAST.WIDTH_PER_GROUP",
            "8",
            "MODEL.SLOWFAST.STEM_OUT_CHANNELS",
            "8",
        ]
    )
    rows = {r[0]: r[1] for r in benchmark_train.main(args)}
    assert rows["iterations measured (after 3 warm-up)"] == 2
    med = rows["median iteration time"]
    assert rows["iterations per second (1 / median iteration time)"] == pytest.approx(1 / med)
    assert rows["clips per second"] == pytest.approx(2 / med)
    assert 0 <= rows["median data wait (detectron2 data_time)"] <= med
    assert 0 <= rows["data-wait share of the iteration time"] <= 1
    assert rows["data loading is the bottleneck (share > 0.1)"] in ("yes", "no")
    assert os.path.exists(tmp_path / "out" / "model_final.pth")
