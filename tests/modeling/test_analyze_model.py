"""slowfast_det.modeling.analysis (tools/analyze_model.py) counts the whole detector (backbone
and head) without crashing, and its FLOPs equal the multiply-accumulates of every conv / linear
layer counted by hooks."""

import os

import pytest
import torch
from detectron2.modeling import build_model
from script_modules import load_tool

from slowfast_det.modeling import NonLocalBlock3d, analysis

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TINY = [
    "MODEL.SLOWFAST.STAGE_BLOCKS",
    "[1, 1, 1, 1]",
    "MODEL.SLOWFAST.WIDTH_PER_GROUP",
    "8",
    "MODEL.SLOWFAST.STEM_OUT_CHANNELS",
    "8",
]


@pytest.fixture(scope="module")
def tool():
    return load_tool("analyze_model")


def hook_macs(model, inputs):
    """Multiply-accumulates of Conv3d and Linear layers, from their actual outputs."""
    total = [0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * m.kernel_size[2]
        total[0] += out.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m, inp, out):
        total[0] += out.numel() * m.in_features

    def nonlocal_hook(m, inp, out):  # the two einsums: theta x phi, then x g
        n, _, t, h, w = inp[0].shape
        keys = (t * h * w) // (
            m.pool.kernel_size[0] * m.pool.kernel_size[1] * m.pool.kernel_size[2]
        )
        total[0] += 2 * n * m.inner_channels * (t * h * w) * keys

    handles = [
        m.register_forward_hook(conv_hook)
        for m in model.modules()
        if isinstance(m, torch.nn.Conv3d)
    ]
    handles += [
        m.register_forward_hook(nonlocal_hook)
        for m in model.modules()
        if isinstance(m, NonLocalBlock3d)
    ]
    handles += [
        m.register_forward_hook(linear_hook)
        for m in model.modules()
        if isinstance(m, torch.nn.Linear)
    ]
    with torch.no_grad():
        model(*inputs)
    for h in handles:
        h.remove()
    return total[0]


@pytest.mark.parametrize(
    "config,extra",
    [
        ("SLOWFAST_32x2_R50.yaml", []),
        ("SLOW_8x8_R50.yaml", []),
        (
            "SLOWFAST_32x2_R101_50_50.yaml",
            [
                "MODEL.SLOWFAST.STAGE_BLOCKS",
                "[1, 1, 2, 1]",
                "MODEL.SLOWFAST.NUM_BLOCK_TEMP_KERNEL",
                "[[1, 1], [1, 1], [1, 1], [1, 1]]",
                "MODEL.SLOWFAST.NONLOCAL_LOCATIONS",
                "[[[], []], [[], []], [[0, 1], []], [[], []]]",
            ],
        ),
    ],
)
def test_detector_flops_match_layer_macs(tool, config, extra):
    cfg = tool.setup_cfg(
        os.path.join(ROOT, "configs", "AVA", config), TINY + extra, classification_trunk=False
    )
    row = analysis.analyze(cfg, 8, 64, 96, num_boxes=3, classification_trunk=False)
    model = build_model(cfg).eval()
    clip = analysis.make_clip(cfg, 8, 64, 96)
    from detectron2.structures import Boxes, Instances

    inputs = (
        [
            {
                "clip": clip,
                "instances": Instances(
                    (64, 96), proposal_boxes=Boxes(analysis.make_boxes(3, 64, 96))
                ),
            }
        ],
    )
    expected = hook_macs(model, inputs)
    assert row["gflops"] * 1e9 == pytest.approx(expected, rel=1e-9)
    assert row["head_gflops"] * 1e9 == pytest.approx(
        model.roi_heads.predictor.in_features * cfg.MODEL.ROI_HEADS.NUM_CLASSES * 3
    )
    assert row["params_M"] * 1e6 == pytest.approx(sum(p.numel() for p in model.parameters()))


def test_classification_trunk(tool):
    cfg = tool.setup_cfg(
        os.path.join(ROOT, "configs", "AVA", "SLOWFAST_32x2_R50.yaml"),
        TINY,
        classification_trunk=True,
    )
    assert cfg.MODEL.SLOWFAST.SPATIAL_STRIDES == [1, 2, 2, 2]
    row = analysis.analyze(cfg, 8, 64, 64, num_boxes=0, classification_trunk=True)
    backbone = build_model(cfg).backbone.eval()
    assert row["gflops"] * 1e9 == pytest.approx(
        hook_macs(backbone, (analysis.trunk_input(cfg, analysis.make_clip(cfg, 8, 64, 64)),))
    )


def test_cli_prints_the_table(tool, capsys):
    rows = tool.main(
        [
            "--config-file",
            os.path.join(ROOT, "configs", "AVA", "SLOWFAST_32x2_R50.yaml"),
            "--input-size",
            "8",
            "32",
            "32",
            "--num-boxes",
            "2",
        ]
        + TINY
    )
    out = capsys.readouterr().out
    assert "SLOWFAST_32x2_R50.yaml" in out and "detector, 2 boxes" in out and len(rows) == 1
