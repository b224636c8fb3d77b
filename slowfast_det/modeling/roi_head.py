"""ROIAlign-3D action head (the SlowFast AVA head), registered in ``ROI_HEADS_REGISTRY``.

Per pathway: temporal average pooling, ROIAlign at the pathway's stride, spatial max
pooling; then concatenation of the pathways, dropout, a linear classifier over K classes and,
at test time, a sigmoid (multi-label). Training loss: binary cross-entropy over all classes.
"""

from typing import Dict, List

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import ROI_HEADS_REGISTRY
from detectron2.modeling.poolers import convert_boxes_to_pooler_format
from detectron2.structures import Boxes, Instances
from torch import nn

from .fast_ops import temporal_mean
from .roi_align import MatrixROIAlign

__all__ = ["ROIAlign3DHead", "action_loss"]


def action_loss(logits: torch.Tensor, gt_labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits, mean over boxes and classes.

    Args:
        logits: (R, K) classifier outputs.
        gt_labels: (R, K) float multi-hot targets.
    Returns:
        scalar; with R = 0 it is 0 and still part of the graph (so every parameter takes
        part in backward, e.g. for DistributedDataParallel).
    """
    if gt_labels.shape != logits.shape:
        raise ValueError(
            f"gt_labels must be (R, K) = {tuple(logits.shape)} to match the head, got "
            f"{tuple(gt_labels.shape)}"
        )
    total = F.binary_cross_entropy_with_logits(logits, gt_labels.to(logits.dtype), reduction="sum")
    return total / max(logits.numel(), 1)


@ROI_HEADS_REGISTRY.register()
class ROIAlign3DHead(nn.Module):
    """Action classification head on person boxes, on top of video features.

    Inputs to :meth:`forward`:

    * ``features``: ``{"pathway0": (N, C0, T0, h, w), "pathway1": (N, C1, T1, h, w)}``
      (one entry for Slow-only / Fast-only), ``h = H / stride``;
    * ``proposals``: N ``Instances`` with ``proposal_boxes`` (Boxes (R_i, 4), clip pixels) and,
      in training, ``gt_labels`` (float (R_i, K) multi-hot).

    Outputs: in training ``{"loss_action": scalar}``; at test N ``Instances`` (clip pixels)
    with ``pred_boxes`` (R_i, 4) and ``scores`` (R_i, K) (sigmoid or softmax of the logits).
    """

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        pooler_resolution: int = 7,
        pooler_sampling_ratio: int = 0,
        aligned: bool = True,
        dropout_rate: float = 0.5,
        act: str = "sigmoid",
        predictor_init_std: float = 0.01,
    ):
        """
        Args:
            input_shape: ``{"pathway0": ShapeSpec(channels=C0, stride=s), ...}``, e.g. the
                backbone's ``output_shape()``; pathways are used in sorted-name order.
            num_classes: K.
            pooler_resolution: ROIAlign output size (square).
            pooler_sampling_ratio: ROIAlign sampling ratio (0 = adaptive).
            aligned: half-pixel aligned ROIAlign.
            dropout_rate: dropout before the classifier (0 disables it).
            act: "sigmoid" or "softmax", applied to the logits at test time.
            predictor_init_std: std of the classifier's normal weight initialisation.
        """
        super().__init__()
        if act not in ("sigmoid", "softmax"):
            raise ValueError(
                f"MODEL.ROI_ACTION_HEAD.ACT must be 'sigmoid' or 'softmax', got {act!r}"
            )
        if not input_shape:
            raise ValueError("ROIAlign3DHead needs at least one input feature (pathway)")
        self.in_features = sorted(input_shape)
        for name in self.in_features:
            if not input_shape[name].channels or not input_shape[name].stride:
                raise ValueError(
                    f"ROIAlign3DHead: input {name!r} needs channels and stride, "
                    f"got {input_shape[name]}"
                )
        self.num_classes = num_classes
        self.act = act
        self.poolers = nn.ModuleList(
            MatrixROIAlign(
                (pooler_resolution, pooler_resolution),
                spatial_scale=1.0 / input_shape[name].stride,
                sampling_ratio=pooler_sampling_ratio,
                aligned=aligned,
            )
            for name in self.in_features
        )
        in_channels = sum(input_shape[name].channels for name in self.in_features)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else None
        self.predictor = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.predictor.weight, std=predictor_init_std)
        nn.init.zeros_(self.predictor.bias)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.ROI_ACTION_HEAD
        return {
            "input_shape": input_shape,
            "num_classes": cfg.MODEL.ROI_HEADS.NUM_CLASSES,
            "pooler_resolution": head.POOLER_RESOLUTION,
            "pooler_sampling_ratio": head.POOLER_SAMPLING_RATIO,
            "aligned": head.ALIGNED,
            "dropout_rate": head.DROPOUT_RATE,
            "act": head.ACT,
            "predictor_init_std": head.PREDICTOR_INIT_STD,
        }

    def box_features(self, features: Dict[str, torch.Tensor], boxes: List[Boxes]) -> torch.Tensor:
        """Pooled per-box features.

        Args:
            features: ``{"pathway0": (N, C0, T0, h, w), ...}``.
            boxes: N Boxes (R_i, 4) in clip pixels.
        Returns:
            (R, sum C_p), R = sum R_i, boxes in input order.
        """
        if len(boxes) != features[self.in_features[0]].shape[0]:
            raise ValueError(
                f"ROIAlign3DHead: {len(boxes)} box lists for a batch of "
                f"{features[self.in_features[0]].shape[0]} clips"
            )
        rois = convert_boxes_to_pooler_format(boxes)  # (R, 5): batch index, x1, y1, x2, y2
        pooled = []
        for name, pooler in zip(self.in_features, self.poolers):
            x = temporal_mean(features[name])  # (N, C, h, w): temporal avg pool
            x = pooler(x, rois)  # (R, C, P, P)
            pooled.append(x.amax(dim=(2, 3)))  # (R, C): spatial max pool
        return torch.cat(pooled, dim=1)

    def predict_logits(self, features: Dict[str, torch.Tensor], boxes: List[Boxes]) -> torch.Tensor:
        """(R, K) classifier logits for the boxes (see :meth:`box_features`)."""
        x = self.box_features(features, boxes)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.predictor(x)

    def forward(self, features: Dict[str, torch.Tensor], proposals: List[Instances]):
        logits = self.predict_logits(features, [p.proposal_boxes for p in proposals])
        if self.training:
            for i, p in enumerate(proposals):
                if not p.has("gt_labels"):
                    raise KeyError(f"ROIAlign3DHead: training input {i} has no 'gt_labels' field")
            gt = torch.cat([p.gt_labels for p in proposals], dim=0)
            return {"loss_action": action_loss(logits, gt)}
        if self.act == "sigmoid":
            scores = logits.sigmoid()
        else:
            scores = logits.softmax(dim=1)
        results = []
        for p, s in zip(proposals, scores.split([len(p) for p in proposals])):
            results.append(Instances(p.image_size, pred_boxes=p.proposal_boxes, scores=s))
        return results
