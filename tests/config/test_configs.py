"""The shipped AVA configs merge, build and describe the intended architectures."""

import os

import pytest
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_model

from slowfast_det.config import load_slowfast_cfg

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "AVA")


def load(name):
    return load_slowfast_cfg(
        os.path.join(CONFIGS, name), freeze=False, values={"MODEL.DEVICE": "cpu"}
    )


@pytest.mark.parametrize(
    "name",
    [
        "SLOWFAST_32x2_R50.yaml",
        "SLOWFAST_32x2_R101_50_50.yaml",
        "SLOWFAST_64x2_R101_50_50.yaml",
        "SLOW_8x8_R50.yaml",
    ],
)
def test_common_settings(name):
    cfg = load(name)
    assert cfg.DATASETS.TRAIN == ("ava_v2.2_train",) and cfg.DATASETS.TEST == ("ava_v2.2_val",)
    assert cfg.MODEL.META_ARCHITECTURE == "VideoActionDetector"
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 80
    assert cfg.MODEL.SLOWFAST.SPATIAL_STRIDES == [
        1,
        2,
        2,
        1,
    ] and cfg.MODEL.SLOWFAST.SPATIAL_DILATIONS == [1, 1, 1, 2]


def test_slowfast_32x2_r50():
    cfg = load("SLOWFAST_32x2_R50.yaml")
    sf = cfg.MODEL.SLOWFAST
    assert (sf.ARCH, sf.DEPTH, sf.ALPHA, sf.BETA_INV, sf.FUSION_KERNEL_SZ) == (
        "slowfast",
        50,
        4,
        8,
        7,
    )
    assert (cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE) == (32, 2)
    assert cfg.MODEL.ROI_ACTION_HEAD.ALIGNED is True
    model = build_model(cfg)
    assert model.backbone.output_shape() == {
        "pathway0": ShapeSpec(channels=2048, stride=16),
        "pathway1": ShapeSpec(channels=256, stride=16),
    }
    assert model.roi_heads.predictor.in_features == 2304


@pytest.mark.parametrize(
    "name,frames", [("SLOWFAST_32x2_R101_50_50.yaml", 32), ("SLOWFAST_64x2_R101_50_50.yaml", 64)]
)
def test_slowfast_r101_50_50(name, frames):
    cfg = load(name)
    assert cfg.INPUT.NUM_FRAMES == frames and cfg.MODEL.SLOWFAST.FUSION_KERNEL_SZ == 5
    assert cfg.MODEL.ROI_ACTION_HEAD.ALIGNED is False
    bb = build_model(cfg).backbone
    assert [
        len([m for m in getattr(bb, s).pathway0._modules if not m.startswith("nonlocal")])
        for s in ("res2", "res3", "res4", "res5")
    ] == [3, 4, 23, 3]
    assert [k for k in bb.res4.pathway0._modules if k.startswith("nonlocal")] == [
        "nonlocal6",
        "nonlocal13",
        "nonlocal20",
    ]
    nonlocal_at = [
        (s, p)
        for s in ("res2", "res3", "res4", "res5")
        for p in ("pathway0", "pathway1")
        if any(k.startswith("nonlocal") for k in getattr(getattr(bb, s), p)._modules)
    ]
    assert nonlocal_at == [("res4", "pathway0")]
    assert bb.res4.pathway0.nonlocal6.pool.kernel_size == (2, 2, 2)
    res4_kernels = [getattr(bb.res4.pathway0, str(i)).conv1.kernel_size[0] for i in range(23)]
    assert res4_kernels == [3] * 6 + [1] * 17
    assert bb.res2.fuse.conv.kernel_size == (5, 1, 1)


def test_slow_8x8_r50():
    cfg = load("SLOW_8x8_R50.yaml")
    assert cfg.MODEL.SLOWFAST.ARCH == "slow"
    assert (cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE) == (4, 16)
    assert cfg.AVA.DETECTION_SCORE_THRESH == 0.9
    model = build_model(cfg)
    assert model.backbone.output_shape() == {"pathway0": ShapeSpec(channels=2048, stride=16)}
    assert model.roi_heads.predictor.in_features == 2048
