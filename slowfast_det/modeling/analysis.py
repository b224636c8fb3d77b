"""Parameters and FLOPs of slowfast_det models, counted by fvcore on the whole detector
(backbone and ROI head, traced through Detectron2's TracingAdapter); ``tools/analyze_model.py``
prints them, ``tools/benchmark.py --task model`` divides time by them.

FLOPs are fvcore's count of multiply-accumulates in convolutions, linear layers, matrix
products and einsums (the convention of the SlowFast paper and PySlowFast); norms,
activations, pooling and ROIAlign are not counted; every operator fvcore skipped is logged.
"""

import logging
from typing import Dict, List

import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.analysis import FlopCountAnalysis
from fvcore.nn import parameter_count
from fvcore.nn.jit_handles import (
    addmm_flop_jit,
    bmm_flop_jit,
    conv_flop_jit,
    einsum_flop_jit,
    linear_flop_jit,
    matmul_flop_jit,
)

from slowfast_det.modeling.preprocess import split_pathways

__all__ = [
    "COUNTED_OPS",
    "CLASSIFICATION_TRUNK",
    "analyze",
    "make_boxes",
    "make_clip",
    "trunk_input",
]

logger = logging.getLogger(__name__)

# Operators whose multiply-accumulates are counted; every other operator is reported as skipped.
COUNTED_OPS = {
    "aten::_convolution": conv_flop_jit,
    "aten::linear": linear_flop_jit,
    "aten::addmm": addmm_flop_jit,
    "aten::matmul": matmul_flop_jit,
    "aten::mm": matmul_flop_jit,
    "aten::bmm": bmm_flop_jit,
    "aten::einsum": einsum_flop_jit,
}


# The config values of the Kinetics classification trunk (res5 stride 2, no dilation), which
# ``analyze(..., classification_trunk=True)`` counts; the caller builds the config with them.
CLASSIFICATION_TRUNK = {
    "MODEL.SLOWFAST.SPATIAL_STRIDES": [1, 2, 2, 2],
    "MODEL.SLOWFAST.SPATIAL_DILATIONS": [1, 1, 1, 1],
}


def make_clip(cfg, t: int, h: int, w: int) -> torch.Tensor:
    """A uint8 RGB clip (3, T, H, W), as the data mapper produces it (the model splits it)."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, t, h, w), generator=g, dtype=torch.uint8)


def trunk_input(cfg, clip: torch.Tensor) -> List[torch.Tensor]:
    """The backbone's input for ``clip``: normalised and split into pathways (N = 1)."""
    mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(-1, 1, 1, 1)
    std = torch.tensor(cfg.MODEL.PIXEL_STD).view(-1, 1, 1, 1)
    return split_pathways(
        ((clip.float() - mean) / std)[None], cfg.MODEL.SLOWFAST.ARCH, cfg.MODEL.SLOWFAST.ALPHA
    )


def make_boxes(num_boxes: int, h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(num_boxes, 2, generator=g) * torch.tensor([w * 0.5, h * 0.5])
    wh = (0.2 + 0.3 * torch.rand(num_boxes, 2, generator=g)) * torch.tensor([w, h])
    return torch.cat([xy, xy + wh], dim=1)


def analyze(
    cfg, t: int, h: int, w: int, num_boxes: int, classification_trunk: bool
) -> Dict[str, float]:
    model = build_model(cfg).eval()
    clip = make_clip(cfg, t, h, w)
    if classification_trunk:
        target = model.backbone
        inputs = (trunk_input(cfg, clip),)
    else:
        target = model
        inputs = (
            [
                {
                    "clip": clip,
                    "instances": Instances(
                        (h, w), proposal_boxes=Boxes(make_boxes(num_boxes, h, w))
                    ),
                    "height": h,
                    "width": w,
                }
            ],
        )
    counter = FlopCountAnalysis(target, inputs)
    # Count exactly these operators (fvcore's defaults would add norms and poolings).
    counter.clear_op_handles().set_op_handle(**COUNTED_OPS)
    counter.unsupported_ops_warnings(False)
    counter.uncalled_modules_warnings(False)
    with torch.no_grad():
        total = counter.total()
        skipped = counter.unsupported_ops()
    if skipped:
        logger.info(
            "not counted (no FLOP handle): %s",
            ", ".join(f"{k} x{v}" for k, v in sorted(skipped.items())),
        )
    by_module = counter.by_module()
    params = parameter_count(target)
    row = {"params_M": params[""] / 1e6, "gflops": total / 1e9}
    if not classification_trunk:
        # Module names as seen through Detectron2's TracingAdapter ("model." + our names).
        row["backbone_gflops"] = by_module["model.backbone"] / 1e9
        row["head_gflops"] = by_module["model.roi_heads"] / 1e9
        row["head_params_M"] = params.get("roi_heads", 0) / 1e6
    return row
