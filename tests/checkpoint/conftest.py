"""Fixtures for the weight tests: tiny detectors whose every tensor is random (CPU, fast)."""

import pytest
import torch
from detectron2.modeling import build_model


def _tiny_model(cfg, *, nonlocal_=True, num_classes=5, norm="BN", seed=0):
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 2, 3, 1]
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.SLOWFAST.STEM_OUT_CHANNELS = 8
    cfg.MODEL.SLOWFAST.NORM = norm
    cfg.MODEL.SLOWFAST.NUM_BLOCK_TEMP_KERNEL = [[1, 1], [2, 2], [2, 2], [1, 1]]
    if nonlocal_:
        cfg.MODEL.SLOWFAST.NONLOCAL_LOCATIONS = [[[], []], [[], []], [[0, 2], []], [[], []]]
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = num_classes
    torch.manual_seed(seed)
    model = build_model(cfg)
    g = torch.Generator().manual_seed(seed + 100)
    with (
        torch.no_grad()
    ):  # random values everywhere (buffers too), so that names cannot swap unnoticed
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.fill_(int(torch.randint(1, 100, (1,), generator=g)))
    return model.eval()


@pytest.fixture
def tiny_model():
    """``tiny_model(**kw)`` builds a tiny SlowFast detector with random tensors."""
    from slowfast_det.config import load_slowfast_cfg

    def build(**kw):
        return _tiny_model(load_slowfast_cfg(freeze=False), **kw)

    return build


@pytest.fixture
def make_clip():
    """``make_clip()`` -> [slow (1, 3, 2, 32, 32), fast (1, 3, 8, 32, 32)]."""

    def make(seed=0):
        g = torch.Generator().manual_seed(seed)
        fast = torch.randn(1, 3, 8, 32, 32, generator=g)
        return [fast[:, :, ::4].contiguous(), fast]

    return make
