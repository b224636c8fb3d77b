"""Fixtures for the model tests: tiny SlowFast configs and inputs (CPU, a few ms each)."""

import pytest
import torch
from detectron2.structures import Boxes, Instances


def tiny(cfg, num_classes=5):
    """Shrink a config to a tiny SlowFast: 1 block per stage, width 8."""
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 1, 1, 1]
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.SLOWFAST.STEM_OUT_CHANNELS = 8
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = num_classes
    return cfg


@pytest.fixture
def tiny_cfg(cfg):
    return tiny(cfg)


def _make_input(h, w, boxes, *, t=8, num_classes=5, labels=None, height=None, width=None, seed=0):
    """One mapper-style input dict: a uint8 RGB clip (3, t, h, w) (the model splits the
    pathways)."""
    g = torch.Generator().manual_seed(seed)
    clip = torch.randint(0, 256, (3, t, h, w), generator=g, dtype=torch.uint8)
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    inst = Instances((h, w), proposal_boxes=Boxes(boxes))
    if labels is not None:
        inst.gt_labels = torch.as_tensor(labels, dtype=torch.float32).reshape(-1, num_classes)
    d = {"clip": clip, "instances": inst, "image_id": f"vid,{seed:04d}"}
    if height is not None:
        d["height"], d["width"] = height, width
    return d


@pytest.fixture
def make_input():
    """The :func:`_make_input` factory."""
    return _make_input
