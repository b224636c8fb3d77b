"""Equivalence with the reference implementation (pytorchvideo 0.1.5, a test dependency).

Random pytorchvideo models (every norm parameter and running statistic randomised, so no
residual branch is switched off by the zero-initialised final norms) are converted with
``convert_pytorchvideo`` into our configs and compared in eval mode on the same clip and boxes:
per-box scores (max abs difference <= 1e-4) and backbone features. The clips are small
(8 Fast frames, 64x64) so that the full-width R50 models run in about a second.

pytorchvideo's detection builders use ``torchvision.ops.RoIAlign`` with its default
``aligned=False``; PySlowFast's R50 AVA recipe (and our SLOWFAST_32x2_R50 config) uses
``aligned=True``. The detection comparisons therefore set ``MODEL.ROI_ACTION_HEAD.ALIGNED False``
(the value to use with weights trained by or for pytorchvideo); everything else is the config
file as shipped.
"""

import logging
import os

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

from benchmarks.random_weights import randomize_
from slowfast_det.checkpoint import convert_pytorchvideo
from slowfast_det.config import load_slowfast_cfg

pv_slowfast = pytest.importorskip("pytorchvideo.models.slowfast")
pv_resnet = pytest.importorskip("pytorchvideo.models.resnet")

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "AVA")
T, H, W = 8, 64, 64
BOXES = torch.tensor(
    [[4.0, 6, 40, 60], [20, 10, 63, 50], [0, 0, 64, 64], [30.5, 31.5, 45.25, 47.75]]
)


def load_cfg(name, **overrides):
    return load_slowfast_cfg(
        os.path.join(CONFIGS, name), freeze=False, values={"MODEL.DEVICE": "cpu", **overrides}
    )


RAW = {}  # seed -> the uint8 clip (3, T, H, W) our model is fed


def clips(pathways, seed=1):
    """The reference's input: the uint8 clip ``RAW[seed]`` normalised as the AVA recipe
    ((x - 0.45 * 255) / (0.225 * 255)), split as PySlowFast / pytorchvideo; batch of one."""
    g = torch.Generator().manual_seed(seed)
    t = T if pathways == 2 else T // 4  # the Slow-only model takes the Slow pathway's frames
    RAW[seed] = torch.randint(0, 256, (3, t, H, W), generator=g, dtype=torch.uint8)
    fast = ((RAW[seed].float() - 0.45 * 255) / (0.225 * 255))[None]
    if pathways == 1:
        return [fast]
    slow = fast[:, :, torch.linspace(0, T - 1, T // 4).long()].contiguous()
    return [slow, fast]


def ours_from(reference_state_dict, cfg):
    model = build_model(cfg).eval()
    state_dict = convert_pytorchvideo(reference_state_dict)
    # every name and shape must match; the clip statistics are ours (MODEL.PIXEL_MEAN / STD)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    assert sorted(missing) == ["pixel_mean", "pixel_std"] and not unexpected
    return model


def detect(model, seed=1):
    """Our model on the same clip: fed the uint8 clip, it normalises and splits it itself."""
    inst = Instances((H, W), proposal_boxes=Boxes(BOXES.clone()))
    with torch.no_grad():
        return model([{"clip": RAW[seed], "instances": inst, "height": H, "width": W}])[0][
            "instances"
        ]


def reference_trunk(blocks, x, n_stages=5):
    with torch.no_grad():
        x = [t.clone() for t in x]
        for i in range(n_stages):
            x = blocks[i](x)
    return x


def assert_features_equal(ours, ref):
    assert ours.shape == ref.shape
    tol = 1e-5 * ref.abs().max().item()
    assert (ours - ref).abs().max().item() <= tol


def test_slowfast_r50_detection_matches_pytorchvideo():
    ref = randomize_(
        pv_slowfast.create_slowfast_with_roi_head(
            model_depth=50, head_pool_kernel_sizes=((T // 4, 1, 1), (T, 1, 1))
        )
    )
    model = ours_from(
        ref.state_dict(),
        load_cfg("SLOWFAST_32x2_R50.yaml", **{"MODEL.ROI_ACTION_HEAD.ALIGNED": False}),
    )
    x = clips(2)
    rois = torch.cat([torch.zeros(len(BOXES), 1), BOXES], dim=1)
    with torch.no_grad():
        ref_scores = ref([t.clone() for t in x], rois)
    out = detect(model)
    assert out.scores.shape == ref_scores.shape == (4, 80)
    assert ref_scores.std() > 0.05  # a non-degenerate comparison
    assert (out.scores - ref_scores).abs().max().item() <= 1e-4
    torch.testing.assert_close(out.pred_boxes.tensor, BOXES)
    feats = model.backbone([t.clone() for t in x])
    ref_feats = reference_trunk(ref.model.blocks, x)
    for p in range(2):
        assert_features_equal(feats[f"pathway{p}"], ref_feats[p])


def test_slowfast_r50_classification_trunk_matches_pytorchvideo(caplog):
    ref = randomize_(pv_slowfast.create_slowfast(model_depth=50))
    with caplog.at_level(logging.INFO, logger="slowfast_det.checkpoint.convert"):
        state_dict = convert_pytorchvideo(ref.state_dict())
    assert (
        "dropped the classification head" in caplog.text and "blocks.6.proj.weight" in caplog.text
    )
    assert not any(k.startswith("roi_heads.") for k in state_dict)
    # The Kinetics trunk: res5 with spatial stride 2 and no dilation.
    cfg = load_cfg(
        "SLOWFAST_32x2_R50.yaml",
        **{
            "MODEL.SLOWFAST.SPATIAL_STRIDES": [1, 2, 2, 2],
            "MODEL.SLOWFAST.SPATIAL_DILATIONS": [1, 1, 1, 1],
        },
    )
    backbone = build_model(cfg).backbone.eval()
    backbone.load_state_dict({k[len("backbone.") :]: v for k, v in state_dict.items()}, strict=True)
    x = clips(2)
    with torch.no_grad():
        feats = backbone([t.clone() for t in x])
    ref_feats = reference_trunk(ref.blocks, x)
    assert feats["pathway0"].shape[-2:] == (2, 2)
    for p in range(2):
        assert_features_equal(feats[f"pathway{p}"], ref_feats[p])


def test_slow_r50_detection_matches_pytorchvideo():
    """Slow-only: pytorchvideo's create_resnet_with_roi_head (its slow_r50_detection) vs
    SLOW_8x8_R50."""
    ref = randomize_(
        pv_resnet.create_resnet_with_roi_head(model_depth=50, head_pool_kernel_size=(T // 4, 1, 1))
    )
    model = ours_from(ref.state_dict(), load_cfg("SLOW_8x8_R50.yaml"))
    assert model.roi_heads.poolers[0].aligned is False  # as the config (PySlowFast's Caffe2 model)
    x = clips(1)
    rois = torch.cat([torch.zeros(len(BOXES), 1), BOXES], dim=1)
    with torch.no_grad():
        ref_scores = ref(x[0].clone(), rois)
    out = detect(model)
    assert ref_scores.std() > 0.05
    assert (out.scores - ref_scores).abs().max().item() <= 1e-4
    feats = model.backbone([x[0].clone()])
    with torch.no_grad():
        y = x[0].clone()
        for i in range(5):
            y = ref.model.blocks[i](y)
    assert_features_equal(feats["pathway0"], y)
