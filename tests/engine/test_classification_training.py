"""tools/train_net.py trains and evaluates the tiny synthetic classifier (the task from the
config): a few iterations on a tiny generated set, PreciseBN over the classification loader,
the multi-view evaluation (top-1 printed last, final_metrics.json, the predictions CSV), then
``--eval-only`` on the saved weights gives the same numbers, and the trained classifier starts
a synthetic-AVA detector (docs/CLASSIFICATION.md, "From classifier to detector"). The task
switch and the shared command line of tools/train_ava.py."""

import csv
import json
import os
import subprocess
import sys

import pytest
from tiny_ava_run import ROOT, child_env

from slowfast_det.config import load_slowfast_cfg
from slowfast_det.engine.classification_trainer import VideoClassificationTrainer, trainer_class
from slowfast_det.engine.trainer import AVATrainer
from slowfast_det.synthetic import generate
from slowfast_det.synthetic.classification import generate_classification

CONFIG = os.path.join(ROOT, "configs", "synthetic", "SLOWFAST_cls_synthetic.yaml")
TINY_SET = dict(train_per_class=2, val_per_class=1, duration_s=1.2, width=48, height=48)
OVERRIDES = [
    "AVA.GENERATE_SYNTHETIC_IF_MISSING", "False",  # the tiny set below, not the default one
    "MODEL.SLOWFAST.WIDTH_PER_GROUP", "4",
    "MODEL.SLOWFAST.STEM_OUT_CHANNELS", "8",
    "INPUT.TRAIN_JITTER_SCALES", "[48, 52]",
    "INPUT.TRAIN_CROP_SIZE", "48",
    "INPUT.TEST_SIZE", "48",
    "DATALOADER.NUM_WORKERS", "0",
    "SOLVER.IMS_PER_BATCH", "4",
    "SOLVER.MAX_ITER", "4",
    "SOLVER.WARMUP_ITERS", "1",
    "SOLVER.CHECKPOINT_PERIOD", "100",
    "TEST.PRECISE_BN.NUM_ITER", "2",
    "TEST.NUM_TEMPORAL_CLIPS", "2",
]  # fmt: skip


AVA_CONFIG = os.path.join(ROOT, "configs", "synthetic", "SLOWFAST_synthetic.yaml")
TINY_AVA_SET = dict(num_train_videos=1, num_val_videos=1, duration_s=5, width=64, height=48)
AVA_OVERRIDES = [
    *OVERRIDES[:6],  # the classifier's backbone (width, stem) and no generation
    "INPUT.TRAIN_JITTER_SCALES", "[48, 52]",
    "INPUT.TEST_SIZE", "48",
    "DATALOADER.NUM_WORKERS", "0",
    "SOLVER.IMS_PER_BATCH", "2",
    "SOLVER.MAX_ITER", "2",
    "SOLVER.WARMUP_ITERS", "1",
    "SOLVER.CHECKPOINT_PERIOD", "100",
    "AVA.EVAL_PLOTS", "False",
]  # fmt: skip


def run_tool(script, datasets, *args):
    proc = subprocess.run(
        [sys.executable, "-u", os.path.join(ROOT, "tools", script), *map(str, args)],
        env=child_env(datasets),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    return proc.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cls_run")
    datasets = tmp / "datasets"
    generate_classification(str(datasets / "synthetic_cls"), workers=2, progress=False, **TINY_SET)
    out = tmp / "run"
    log = run_tool("train_net.py", datasets, "--config-file", CONFIG, *OVERRIDES, "OUTPUT_DIR", out)
    return datasets, out, log


def test_train_net_trains_and_evaluates_the_synthetic_classifier(trained):
    _, out, log = trained
    last = log.strip().splitlines()[-1]
    assert last.startswith("top1: ") and 0.0 <= float(last.split()[1]) <= 1.0, log[-3000:]
    assert "Running precise-BN for 2 iterations" in log
    assert "copypaste: Task: classification" in log
    metrics = json.loads((out / "final_metrics.json").read_text())
    assert metrics["top1"] == pytest.approx(float(last.split()[1]), abs=5e-5)
    val = metrics["datasets"]["synthetic_cls_val"]
    assert set(val) == {"top1", "top5", "mean_class_accuracy"}
    folder = out / "inference" / "synthetic_cls_val"
    rows = list(csv.reader(open(folder / "classification_predictions.csv")))
    assert len(rows) == 1 + 6 and {r[1] for r in rows[1:]} == {str(c) for c in range(6)}
    report = json.loads((folder / "classification_eval.json").read_text())
    assert report["num_videos"] == 6 and report["metrics"]["top1"] == metrics["top1"]
    assert (out / "model_final.pth").is_file()


def test_eval_only_gives_the_same_results(trained):
    datasets, out, _ = trained
    log = run_tool(
        "train_net.py",
        datasets,
        "--config-file",
        CONFIG,
        "--eval-only",
        *OVERRIDES,
        "MODEL.WEIGHTS",
        out / "model_final.pth",
        "OUTPUT_DIR",
        out / "eval",
    )
    want = json.loads((out / "final_metrics.json").read_text())["top1"]
    assert log.strip().splitlines()[-1] == f"top1: {want:.4f}"


def test_the_trained_classifier_starts_a_synthetic_ava_detector(trained, tmp_path):
    """The documented step: tools/train_ava.py with the synthetic AVA config and MODEL.WEIGHTS
    the classifier's model_final.pth trains and evaluates a detector; its backbone is the
    classifier's (loaded strictly), the classification head is listed once as unused, and
    res5 is dilated (stride 1, dilation 2) on the classifier's res5 weights (stride 2)."""
    import torch
    from detectron2.modeling import build_model

    from slowfast_det.checkpoint import SlowFastCheckpointer

    datasets, out, _ = trained
    generate(str(datasets / "synthetic_ava"), seed=3, workers=2, progress=False, **TINY_AVA_SET)
    weights = out / "model_final.pth"
    log = run_tool(
        "train_ava.py",
        datasets,
        "--config-file",
        AVA_CONFIG,
        *AVA_OVERRIDES,
        "MODEL.WEIGHTS",
        weights,
        "OUTPUT_DIR",
        tmp_path / "det",
    )
    assert log.count("unused classification head (cls_head.predictor.bias (6,)") == 1, log[-4000:]
    assert "has no action head" in log and "does not fit" not in log
    assert log.strip().splitlines()[-1].startswith("frame-mAP@0.5IOU: ")
    # in process: the same config and weights give the classifier's backbone, res5 dilated
    cfg = load_slowfast_cfg(AVA_CONFIG, [*AVA_OVERRIDES, "MODEL.DEVICE", "cpu"])
    classifier = load_slowfast_cfg(CONFIG, [*OVERRIDES, "MODEL.DEVICE", "cpu"])
    assert (
        cfg.MODEL.SLOWFAST.SPATIAL_DILATIONS[3] == 2 and cfg.MODEL.SLOWFAST.SPATIAL_STRIDES[3] == 1
    )
    assert classifier.MODEL.SLOWFAST.SPATIAL_STRIDES[3] == 2
    detector = build_model(cfg)
    SlowFastCheckpointer(detector).load(str(weights))
    saved = torch.load(weights, weights_only=True)["model"]
    backbone = {k: v for k, v in detector.state_dict().items() if k.startswith("backbone.")}
    assert backbone and set(backbone) == {k for k in saved if k.startswith("backbone.")}
    for k, v in backbone.items():
        torch.testing.assert_close(v, saved[k], rtol=0, atol=0, msg=k)
    modules = dict(detector.named_modules())
    for p in ("pathway0", "pathway1"):
        conv2 = modules[f"backbone.res5.{p}.0.conv2"]
        assert (conv2.stride, conv2.dilation) == ((1, 1, 1), (1, 2, 2))


def test_the_task_comes_from_the_config():
    assert trainer_class(load_slowfast_cfg(CONFIG)) is VideoClassificationTrainer
    ava = os.path.join(ROOT, "configs", "synthetic", "SLOWFAST_synthetic.yaml")
    assert trainer_class(load_slowfast_cfg(ava)) is AVATrainer
    assert issubclass(VideoClassificationTrainer, AVATrainer)


def test_train_ava_is_the_same_command_line():
    from script_modules import load_tool

    from slowfast_det.engine import train_cli

    for name in ("train_ava", "train_net"):
        tool = load_tool(name)
        assert tool.main is train_cli.main and tool.setup is train_cli.setup


def test_the_two_synthetic_configs_differ_only_in_the_model_and_its_clip():
    from slowfast_det.modeling.preprocess import pathway_indices

    slowfast = load_slowfast_cfg(CONFIG)
    slow = load_slowfast_cfg(CONFIG.replace("SLOWFAST_cls", "SLOW_cls"))
    for key in ("SOLVER", "DATASETS", "TEST", "DATALOADER", "SEED"):
        assert slowfast[key] == slow[key], key
    assert (slow.MODEL.SLOWFAST.ARCH, slowfast.MODEL.SLOWFAST.ARCH) == ("slow", "slowfast")
    # the Slow-only model sees the frames of SlowFast's Slow pathway: 4 frames 10 apart
    rate = slowfast.INPUT.SAMPLING_RATE
    slow_pathway = pathway_indices(slowfast.INPUT.NUM_FRAMES, slowfast.MODEL.SLOWFAST.ALPHA)
    assert (slow_pathway * rate).tolist() == [0, 10, 20, 30]
    assert (slow.INPUT.NUM_FRAMES, slow.INPUT.SAMPLING_RATE) == (4, 10)
    assert slowfast.INPUT.FLIP_PROB == 0.0 and slowfast.MODEL.VIDEO_HEAD.NUM_CLASSES == 6
