"""The shipped classification configs (configs/Kinetics, configs/Charades) merge, build on the
``meta`` device (shapes only, no compute), give (K,) scores at the training crop and at the
test views, follow the recipe, and describe pytorchvideo's architectures: the same parameter
names (through the converter) and shapes, hence the same count, as its hub models
``slowfast_r50``, ``slow_r50`` and ``slowfast_r101``."""

import glob
import os

import pytest
import torch
from detectron2.modeling import build_model

import slowfast_det.modeling  # noqa: F401  (registers the model components)
from slowfast_det.checkpoint.convert import convert_pytorchvideo
from slowfast_det.config import load_slowfast_cfg

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
LEAVES = sorted(
    os.path.relpath(f, ROOT)
    for folder in ("Kinetics", "Charades")
    for f in glob.glob(os.path.join(ROOT, folder, "*.yaml"))
    if not os.path.basename(f).startswith("Base-")
)


def load(name):
    return load_slowfast_cfg(os.path.join(ROOT, name), freeze=False)


def meta_model(cfg):
    cfg.MODEL.DEVICE = "meta"
    with torch.device("meta"):
        return build_model(cfg).eval()


def test_the_issue_names_are_shipped():
    assert {
        "Kinetics/SLOWFAST_4x16_R50.yaml",
        "Kinetics/SLOWFAST_8x8_R50.yaml",
        "Kinetics/SLOW_8x8_R50.yaml",
        "Kinetics/SLOWFAST_8x8_R101.yaml",
        "Kinetics/SLOWFAST_NLN_8x8_R50.yaml",
        "Charades/SLOWFAST_16x8_R50.yaml",
    } <= set(LEAVES)
    assert os.path.isfile(os.path.join(ROOT, "Kinetics", "Base-SlowFast-Kinetics.yaml"))


@pytest.mark.parametrize("name", LEAVES)
def test_builds_and_scores_at_training_and_test_sizes(name):
    cfg = load(name)
    sf = cfg.MODEL.SLOWFAST
    assert cfg.MODEL.META_ARCHITECTURE == "VideoClassifier"
    assert sf.SPATIAL_STRIDES == [1, 2, 2, 2] and sf.SPATIAL_DILATIONS == [1, 1, 1, 1]
    # the paper's recipe
    assert (cfg.INPUT.TRAIN_CROP_SIZE, cfg.INPUT.TEST_SIZE, cfg.INPUT.FLIP_PROB) == (224, 256, 0.5)
    assert cfg.SOLVER.WEIGHT_DECAY == 1e-4 and cfg.SOLVER.WEIGHT_DECAY_NORM == 0.0
    assert cfg.SOLVER.WARMUP_METHOD == "linear" and cfg.SOLVER.WARMUP_ITERS < cfg.SOLVER.MAX_ITER
    assert cfg.MODEL.VIDEO_HEAD.DROPOUT_RATE == 0.5
    assert cfg.TEST.PRECISE_BN.ENABLED and cfg.TEST.PRECISE_BN.NUM_ITER == 200
    assert (cfg.TEST.NUM_TEMPORAL_CLIPS, cfg.TEST.NUM_SPATIAL_CROPS) == (10, 3)
    model = meta_model(cfg)
    k = cfg.MODEL.VIDEO_HEAD.NUM_CLASSES
    t = cfg.INPUT.NUM_FRAMES
    frames = [t // sf.ALPHA, t] if sf.ARCH == "slowfast" else [t]
    assert model.cls_head.pool_sizes == [(f, 7, 7) for f in frames]
    train_crop = {"clip": torch.zeros(3, t, 224, 224, dtype=torch.uint8, device="meta")}
    test_view = {"clip": torch.zeros(3, t, 256, 256, dtype=torch.uint8, device="meta")}
    with torch.no_grad():
        out = model([train_crop, train_crop]) + model([test_view])
    assert [o["scores"].shape for o in out] == [(k,)] * 3
    logits = model.cls_head.position_logits(model.backbone(model.preprocess_clips([test_view])))
    assert logits.shape == (1, 4, k)  # 8x8 features, 7x7 pool: 2x2 positions at the test crop


@pytest.mark.parametrize("name", [n for n in LEAVES if n.startswith("Kinetics/")])
def test_kinetics_settings(name):
    cfg = load(name)
    assert cfg.DATASETS.TRAIN == ("kinetics400_train",)
    assert cfg.DATASETS.TEST == ("kinetics400_val",)
    assert (cfg.MODEL.VIDEO_HEAD.NUM_CLASSES, cfg.MODEL.VIDEO_HEAD.ACT) == (400, "softmax")
    assert cfg.TEST.ENSEMBLE_METHOD == "mean"
    assert (cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.BASE_LR, cfg.SOLVER.MOMENTUM) == (64, 0.1, 0.9)
    assert cfg.SOLVER.LR_SCHEDULER_NAME == "WarmupCosineLR" and cfg.SOLVER.BASE_LR_END == 0.0
    # 196 epochs, 34 of warm-up from lr 0.01
    assert cfg.SOLVER.MAX_ITER * 34 == cfg.SOLVER.WARMUP_ITERS * 196
    assert cfg.SOLVER.WARMUP_FACTOR == 0.1
    jitter = [256, 340] if "R101" in name else [256, 320]
    assert cfg.INPUT.TRAIN_JITTER_SCALES == jitter
    clip = {
        "SLOWFAST_4x16_R50": (32, 2, 8),
        "SLOWFAST_8x8_R50": (32, 2, 4),
        "SLOW_8x8_R50": (8, 8, 4),
        "SLOWFAST_8x8_R101": (32, 2, 4),
        "SLOWFAST_NLN_8x8_R50": (32, 2, 4),
    }
    stem = os.path.splitext(os.path.basename(name))[0]
    assert (cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE, cfg.MODEL.SLOWFAST.ALPHA) == clip[stem]


def test_charades_is_multi_label_from_a_kinetics_checkpoint():
    cfg = load("Charades/SLOWFAST_16x8_R50.yaml")
    assert cfg.DATASETS.TRAIN == ("charades_train",) and cfg.DATASETS.TEST == ("charades_val",)
    assert (cfg.MODEL.VIDEO_HEAD.NUM_CLASSES, cfg.MODEL.VIDEO_HEAD.ACT) == (157, "sigmoid")
    assert cfg.TEST.ENSEMBLE_METHOD == "max"
    assert "kinetics400" in cfg.MODEL.WEIGHTS
    assert (cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE) == (64, 2)
    assert cfg.INPUT.TRAIN_JITTER_SCALES == [256, 340]
    assert (cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.BASE_LR) == (16, 0.0375)
    assert cfg.SOLVER.MAX_ITER == 24000


def test_nonlocal_variant():
    model = meta_model(load("Kinetics/SLOWFAST_NLN_8x8_R50.yaml"))
    bb = model.backbone
    nonlocal_at = {}
    for s in ("res2", "res3", "res4", "res5"):
        for p in ("pathway0", "pathway1"):
            blocks = [k for k in getattr(getattr(bb, s), p)._modules if k.startswith("nonlocal")]
            if blocks:
                nonlocal_at[s, p] = blocks
    assert nonlocal_at == {
        ("res3", "pathway0"): ["nonlocal1", "nonlocal3"],
        ("res4", "pathway0"): ["nonlocal1", "nonlocal3", "nonlocal5"],
    }
    assert bb.res2.fuse.conv.kernel_size == (5, 1, 1)


pv_slowfast = pytest.importorskip("pytorchvideo.models.slowfast")
pv_resnet = pytest.importorskip("pytorchvideo.models.resnet")

# The pytorchvideo hub models' builder arguments (pytorchvideo/models/hub/{slowfast,resnet}.py).
HUB = {
    "Kinetics/SLOWFAST_8x8_R50.yaml": lambda: pv_slowfast.create_slowfast(
        model_depth=50, slowfast_fusion_conv_kernel_size=(7, 1, 1)
    ),  # slowfast_r50
    "Kinetics/SLOW_8x8_R50.yaml": lambda: pv_resnet.create_resnet(
        stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(8, 7, 7), model_depth=50
    ),  # slow_r50
    "Kinetics/SLOWFAST_8x8_R101.yaml": lambda: pv_slowfast.create_slowfast(
        model_depth=101, slowfast_fusion_conv_kernel_size=(5, 1, 1)
    ),  # slowfast_r101
}


@pytest.mark.parametrize("name", sorted(HUB))
def test_same_parameters_as_pytorchvideo_hub_model(name):
    with torch.device("meta"):
        reference = HUB[name]()
    model = meta_model(load(name))
    ours = {k: tuple(v.shape) for k, v in model.named_parameters()}
    theirs = {
        k: tuple(v.shape)
        for k, v in convert_pytorchvideo(
            dict(reference.named_parameters()), target="classifier"
        ).items()
    }
    assert ours == theirs
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in reference.parameters())
    assert (
        count
        == {
            "Kinetics/SLOWFAST_8x8_R50.yaml": 34_566_488,
            "Kinetics/SLOW_8x8_R50.yaml": 32_454_096,
            "Kinetics/SLOWFAST_8x8_R101.yaml": 62_826_968,
        }[name]
    )
