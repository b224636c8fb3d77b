"""benchmarks.train (tools/benchmark.py --task train): a few iterations of a tiny
model on the tiny AVA folder, and the reading of Detectron2's per-iteration metrics (no speed
targets)."""

import argparse
import collections
import contextlib
import os
import random

import pytest
import torch
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


def _args(argv):
    """``tools/benchmark.py --task train`` arguments from ``argv``."""
    parser = argparse.ArgumentParser()
    benchmark_train.add_arguments(parser)
    return parser.parse_args(argv)


def test_benchmark_train_tiny(tmp_path, tiny_train_set):
    name = tiny_train_set
    args = _args(
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


def test_step_and_peer_parts_tiny(tmp_path):
    """The bare-step parts on tiny shapes: both layouts and both models train one step, the
    rows are consistent, and the profile shares add up to 1."""
    pytest.importorskip("pytorchvideo")
    args = _args(
        ["--parts", "step", "peer", "--steps", "2", "--warmup-steps", "0", "--threads", "1"]
        + ["--peer-input-size", "4", "32", "32", "--peer-batch-size", "1", "--num-boxes", "2"]
        + ["--device", "cpu", "--opts", "SOLVER.IMS_PER_BATCH", "2", "INPUT.NUM_FRAMES", "4"]
        + ["INPUT.TEST_SIZE", "32", "MODEL.SLOWFAST.WIDTH_PER_GROUP", "8"]
        + ["MODEL.SLOWFAST.STEM_OUT_CHANNELS", "8"]
    )
    rows = benchmark_train.main(args)
    by_name = {r[0]: r[1] for r in rows}
    assert by_name["step: model and batch"] == "SLOWFAST_synthetic.yaml, 2 x 4x32x43, 2 boxes"
    cl = next(v for k, v in by_name.items() if k.startswith("step: channels-last step time"))
    assert cl > 0
    assert by_name["step: channels-last clips/s (batch 2 / median)"] == pytest.approx(2 / cl)
    shares = [r[1] for r in rows if r[0].startswith("step: profile")]
    assert sum(shares) == pytest.approx(1.0) and any(
        r[0].endswith("convolution backward") for r in rows
    )
    ours = next(v for k, v in by_name.items() if k.startswith("peer: ours step time"))
    theirs = next(v for k, v in by_name.items() if k.startswith("peer: pytorchvideo step time"))
    assert by_name["peer: training throughput ours / pytorchvideo (median)"] == pytest.approx(
        theirs / ours
    )


def test_levers_part_tiny(tmp_path, monkeypatch):
    """The levers part: every lever off in turn really turns that path off (and only that
    one), and the ratios are the medians' ratios."""
    from slowfast_det.modeling import batch_norm, fast_ops, roi_align

    monkeypatch.setattr(fast_ops, "_cpu_has_avx512", lambda: False)  # the CPU levers apply
    seen = collections.Counter()  # (variant, path) -> calls
    current = [None]
    from benchmarks import train_step

    lever_off = train_step._lever_off

    @contextlib.contextmanager
    def tracked(name):
        current[0] = name or "all on"
        with lever_off(name):
            yield

    monkeypatch.setattr(train_step, "_lever_off", tracked)

    def count(key, fn):
        def wrapped(*a, **k):
            seen[current[0], key] += 1
            return fn(*a, **k)

        return wrapped

    monkeypatch.setattr(fast_ops, "taps_conv3d", count("taps", fast_ops.taps_conv3d))
    monkeypatch.setattr(fast_ops, "gemm_conv3d", count("gemm", fast_ops.gemm_conv3d))
    monkeypatch.setattr(batch_norm, "batch_norm_nthwc", count("nthwc", batch_norm.batch_norm_nthwc))
    monkeypatch.setattr(
        roi_align, "roi_align_matrix", count("roi matrix", roi_align.roi_align_matrix)
    )
    args = _args(
        ["--parts", "levers", "--steps", "2", "--warmup-steps", "0", "--threads", "1"]
        + ["--device", "cpu", "--num-boxes", "2", "--opts", "SOLVER.IMS_PER_BATCH", "2"]
        + ["INPUT.NUM_FRAMES", "4", "INPUT.TEST_SIZE", "32"]
        + ["MODEL.SLOWFAST.WIDTH_PER_GROUP", "8", "MODEL.SLOWFAST.STEM_OUT_CHANNELS", "8"]
    )
    rows = benchmark_train.main(args)
    by_name = {r[0]: r[1] for r in rows}
    # 2 steps each; per variant, the paths its lever turns off are not taken, the others are
    off = {
        "Fast stem as F.conv3d": "taps",
        "PyTorch batch norm": "nthwc",
        "torchvision ROIAlign": "roi matrix",
    }
    for name in train_step.LEVERS:
        assert seen[name, "taps"] == (0 if off.get(name) == "taps" else 2), name
        assert (seen[name, "nthwc"] == 0) == (off.get(name) == "nthwc"), name
        assert seen[name, "roi matrix"] == (0 if off.get(name) == "roi matrix" else 4), name
        if name != "pointwise as products":  # the inference size rule: more products
            assert seen[name, "gemm"] < seen["pointwise as products", "gemm"], name
    med = {}
    for name in train_step.LEVERS:
        med[name] = next(v for k, v in by_name.items() if k.startswith(f"levers: {name} step time"))
    for name in train_step.LEVERS[1:]:
        ratio = by_name[f"levers: step time with {name} / all on (median)"]
        assert ratio == pytest.approx(med[name] / med["all on"])


def test_shapes_part_tiny(monkeypatch):
    """The shapes part trains one model on a batch of every short side of the jitter range,
    whole 4:3 frames, in the seeded order, and times the second half of the steps."""
    from benchmarks import train_step

    heights, models = [], set()
    make_step = train_step.ours_step

    def recording(model, inputs):
        step = make_step(model, inputs)
        clip = inputs[0]["clip"]
        assert clip.shape[-1] == round(clip.shape[-2] * 4 / 3)
        assert len({tuple(i["clip"].shape) for i in inputs}) == 1  # one size a batch

        def run():
            heights.append(clip.shape[-2])
            models.add(id(model))
            step()

        return run

    monkeypatch.setattr(train_step, "ours_step", recording)
    args = _args(
        ["--parts", "shapes", "--shape-steps", "6", "--threads", "1", "--num-boxes", "2"]
        + ["--device", "cpu", "--opts", "SOLVER.IMS_PER_BATCH", "2", "INPUT.NUM_FRAMES", "4"]
        + ["INPUT.TRAIN_JITTER_SCALES", "[30, 33]", "MODEL.SLOWFAST.WIDTH_PER_GROUP", "8"]
        + ["MODEL.SLOWFAST.STEM_OUT_CHANNELS", "8"]
    )
    rows = benchmark_train.main(args)
    by_name = {r[0]: r[1] for r in rows}
    assert heights == random.Random(0).choices([30, 31, 32, 33], k=6)
    assert len(models) == 1
    assert "s in 30..33 (4 shapes" in by_name["shapes: model and batches"]
    mean = next(v for k, v in by_name.items() if k.startswith("shapes: mean step of the last 3"))
    assert mean > 0


def test_reported_wait_policy_names_the_spin_count(monkeypatch):
    """libgomp's GOMP_SPINCOUNT overrides the wait policy's spin, so a report that names the
    policy names the spin count too when one is set."""
    from benchmarks.machine import omp_policy, omp_row

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert omp_policy() == "PASSIVE"
    monkeypatch.setenv("GOMP_SPINCOUNT", "3000")
    assert omp_policy() == "PASSIVE, GOMP_SPINCOUNT=3000"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert omp_policy() == "(unset), GOMP_SPINCOUNT=3000"
    assert omp_row()[1] == "(unset), GOMP_SPINCOUNT=3000"


def test_bf16_part_times_float32_and_bf16_autocast_steps_of_one_weights(monkeypatch):
    from benchmarks import train_bf16

    seen = []  # (bf16_training, dtype of the backbone's output) per step
    make_step = train_bf16.ours_step

    def recording(model, inputs):
        step = make_step(model, inputs)
        model.backbone.register_forward_hook(
            lambda m, i, out: seen.append((model.bf16_training, out["pathway0"].dtype))
        )
        return step

    monkeypatch.setattr(train_bf16, "ours_step", recording)
    args = _args(
        ["--parts", "bf16", "--steps", "2", "--warmup-steps", "1", "--threads", "1"]
        + ["--num-boxes", "2", "--device", "cpu", "--opts", "SOLVER.IMS_PER_BATCH", "2"]
        + ["INPUT.NUM_FRAMES", "4", "INPUT.TEST_SIZE", "32", "MODEL.SLOWFAST.WIDTH_PER_GROUP"]
        + ["8", "MODEL.SLOWFAST.STEM_OUT_CHANNELS", "8"]
    )
    rows = benchmark_train.main(args)
    by_name = {r[0]: r[1] for r in rows}
    # 3 alternating rounds of both models; each autocasts exactly when it is the AMP one
    assert set(seen) == {(False, torch.float32), (True, torch.bfloat16)}
    assert len(seen) == 6
    assert by_name["bf16: model and batch"].endswith("2 x 4x32x43, 2 boxes")
    speedup = by_name["bf16: speed-up of SOLVER.AMP.ENABLED (median float32 / bf16 autocast)"]
    assert speedup > 0
    with pytest.raises(ValueError, match="times bfloat16 autocast in CPU training"):
        train_bf16.part_bf16(_args(["--parts", "bf16", "--device", "cuda"]), [])
