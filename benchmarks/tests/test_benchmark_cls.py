"""The classification benchmarks on tiny sizes (smoke tests of the measurement code; no speed
targets): ``--task cls_model`` (ours vs pytorchvideo's slowfast_r50 with the same weights,
inference and training steps), ``--task cls_loader`` (mapper vs the decode limit) and
``--task train`` with a classifier config (the task from the config)."""

import argparse

import pytest

from benchmarks import REPO, TASKS
from benchmarks import cls_loader as benchmark_cls_loader
from benchmarks import cls_model as benchmark_cls_model
from benchmarks import train as benchmark_train


def parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def by_suffix(rows):
    return {name.split(": ", 1)[1]: value for name, value, _ in rows if ": " in name}


def test_cls_model_tiny():
    pytest.importorskip("pytorchvideo")
    assert TASKS["cls_model"] == "cls_model"
    args = parse(
        benchmark_cls_model,
        "--input-size 8 64 64 --warmup 0 --iters 1 --train-input-size 8 64 64 "
        "--train-batch-size 2 --train-iters 1 --threads 1 --device cpu".split(),
    )
    rows = by_suffix(benchmark_cls_model.main(args))
    # the same weights give the same probabilities (the headline's correctness condition)
    assert rows["max abs probability difference (target <= 0.0001)"] <= 1e-4
    ours = next(v for k, v in rows.items() if k.startswith("ours latency"))
    theirs = next(v for k, v in rows.items() if k.startswith("pytorchvideo latency"))
    assert rows["throughput ours / pytorchvideo (target >= 1.4)"] == pytest.approx(theirs / ours)
    steps = {k.split(" clips/s")[0]: v for k, v in rows.items() if " clips/s" in k}
    assert set(steps) == {"ours", "pytorchvideo"} and min(steps.values()) > 0
    assert rows["ours / pytorchvideo"] == pytest.approx(steps["ours"] / steps["pytorchvideo"])


def test_cls_loader_tiny(tmp_path):
    assert TASKS["cls_loader"] == "cls_loader"
    args = parse(
        benchmark_cls_loader,
        "--videos 2 --seconds 1.5 --size 64x48 --gop 12 --clips 2 --crops 3 --num-frames 4 "
        "--sampling-rate 2 --test-size 32 --train-jitter 32 40 --train-crop 32 "
        f"--clips-per-video 2 --repeats 1 --workdir {tmp_path}".split(),
    )
    rows = benchmark_cls_loader.main(args)
    names = [r[0] for r in rows]
    for mode, unit in (("train", "clips/s"), ("test", "videos/s")):
        got = {n.split(": ", 1)[1]: (v, u) for n, v, u in rows if n.startswith(f"cls {mode} ")}
        assert got["mapper"][1] == unit and got["mapper"][0] > 0
        assert got["decode limit (the mapper's reads)"][0] > 0
        ratio = got["mapper / decode limit (target >= 0.85)"][0]
        assert ratio == pytest.approx(
            got["mapper"][0] / got["decode limit (the mapper's reads)"][0]
        )
    assert len(names) == 10 and (tmp_path / "v1.mp4").exists()


@pytest.fixture
def tiny_cls_list(tmp_path):
    from slowfast_det.data import register_video_list
    from slowfast_det.data.classification import unregister_video_dataset
    from slowfast_det.synthetic.classification import generate_classification

    root = tmp_path / "synthetic_cls"
    generate_classification(
        str(root), workers=1, progress=False, train_per_class=1, val_per_class=1, duration_s=1.2,
        width=48, height=48,
    )  # fmt: skip
    name = "benchmark_train_cls_tiny"
    register_video_list(
        name, str(root / "train.csv"), str(root), fmt="pyslowfast",
        label_names=str(root / "classnames.json"),
    )  # fmt: skip
    yield name
    unregister_video_dataset(name)


def test_benchmark_train_with_a_classifier_config(tmp_path, tiny_cls_list):
    config = f"{REPO}/configs/synthetic/SLOWFAST_cls_synthetic.yaml"
    args = parse(
        benchmark_train,
        [
            *f"--config-file {config} --iters 2 --warmup 2 --threads 1 --workers 0".split(),
            *("--device", "cpu", "--output-dir", str(tmp_path / "out"), "--opts"),
            *("DATASETS.TRAIN", f"('{tiny_cls_list}',)", "AVA.GENERATE_SYNTHETIC_IF_MISSING"),
            *("False", "SOLVER.IMS_PER_BATCH", "2", "MODEL.SLOWFAST.WIDTH_PER_GROUP", "4"),
            *("INPUT.TRAIN_JITTER_SCALES", "[48, 52]", "INPUT.TRAIN_CROP_SIZE", "48"),
            *("TEST.PRECISE_BN.ENABLED", "False"),
        ],
    )
    rows = {r[0]: r[1] for r in benchmark_train.main(args)}
    assert rows["config"] == "configs/synthetic/SLOWFAST_cls_synthetic.yaml"
    assert rows["iterations measured (after 2 warm-up)"] == 2
    assert rows["clips per second"] == pytest.approx(2 / rows["median iteration time"])
    assert (tmp_path / "out" / "model_final.pth").exists()
