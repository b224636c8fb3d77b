"""Video action detector: SlowFast backbone + ROIAlign-3D head on given person boxes,
registered in Detectron2's ``META_ARCH_REGISTRY``."""
from typing import Dict, List, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.modeling.roi_heads import build_roi_heads
from detectron2.structures import Instances
from torch import nn

__all__ = ["VideoActionDetector"]


def _ints(shape) -> Tuple[int, ...]:
    """A shape as Python ints (while tracing, shape entries are tensors)."""
    return tuple(int(s) for s in shape)


def _pack(tensors: List[torch.Tensor], device: torch.device, memory_format) -> torch.Tensor:
    """Clips ``(C, T, H_i, W_i)`` -> one batch ``(N, C, T, max H, max W)`` on ``device`` in
    ``memory_format``, zero-padded at the bottom / right; one copy per clip (the copy also
    does the device transfer and the layout change)."""
    c, t = _ints(tensors[0].shape[:2])
    h = max(int(x.shape[-2]) for x in tensors)
    w = max(int(x.shape[-1]) for x in tensors)
    out = torch.empty((len(tensors), c, t, h, w), dtype=tensors[0].dtype, device=device,
                      memory_format=memory_format)
    if any(_ints(x.shape[-2:]) != (h, w) for x in tensors):
        out.zero_()
    for i, x in enumerate(tensors):
        out[i, :, :, : x.shape[-2], : x.shape[-1]].copy_(x, non_blocking=True)
    return out


@META_ARCH_REGISTRY.register()
class VideoActionDetector(nn.Module):
    """Classifies the actions of given person boxes in keyframe clips.

    Input: a list of N dicts, one per keyframe clip (the data mapper's output):

    * ``"clip"``: list of per-pathway float tensors ``(C, T_p, H, W)``, already normalised;
      ``[slow (C, T/alpha, H, W), fast (C, T, H, W)]`` for SlowFast, one tensor for
      Slow-only / Fast-only. Clips of a batch may differ in H, W: they are zero-padded
      (bottom / right) to the largest before the backbone. T_p must agree across the batch.
    * ``"instances"``: ``Instances`` with ``image_size = (H, W)`` of the clip,
      ``proposal_boxes``: ``Boxes (R, 4)`` in clip pixels (R may be 0), and in training
      ``gt_labels``: float ``(R, K)`` multi-hot (column ``k`` = action id ``k + 1``).
    * ``"height"``, ``"width"`` (optional, default the clip's H, W): the frame size the output
      boxes are given in.
    * other keys (``video_id``, ``timestamp``, ``image_id``, ...) are ignored.

    Output in training: ``{"loss_action": scalar}`` (binary cross-entropy with logits, mean
    over boxes and classes).

    Output at test: a list of N dicts ``{"instances": Instances}`` with
    ``image_size = (height, width)``, ``pred_boxes``: ``Boxes (R, 4)`` = the input boxes
    rescaled from clip pixels to ``height x width`` pixels (and clipped to it), in input order,
    and ``scores``: ``(R, K)`` per-class probabilities.
    """

    @configurable
    def __init__(self, *, backbone: Backbone, roi_heads: nn.Module, bf16_inference: bool = False):
        """
        Args:
            backbone: takes a list of pathway tensors ``(N, C, T_p, H, W)`` and returns
                ``{"pathway0": (N, C0, T0, h, w), ...}``. Its ``memory_format`` attribute, if
                any, is the layout the clips are packed in.
            roi_heads: e.g. :class:`ROIAlign3DHead`, called as ``roi_heads(features, proposals)``.
            bf16_inference: in eval mode, run backbone and head under bfloat16 autocast
                (scores are returned as float32).
        """
        super().__init__()
        self.backbone = backbone
        self.roi_heads = roi_heads
        self.bf16_inference = bf16_inference

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "roi_heads": build_roi_heads(cfg, backbone.output_shape()),
            "bf16_inference": cfg.TEST.BF16,
        }

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _pathway_batches(self, batched_inputs: List[Dict]) -> List[torch.Tensor]:
        """Per pathway, the clips of the batch padded to the largest H, W: (N, C, T_p, H, W)."""
        num_pathways = len(batched_inputs[0]["clip"])
        for i, x in enumerate(batched_inputs):
            name = x.get("image_id", f"#{i}")
            clip = x["clip"]
            if not isinstance(clip, (list, tuple)) or len(clip) != num_pathways:
                raise ValueError(
                    f"VideoActionDetector: input {name}: 'clip' must be a list of "
                    f"{num_pathways} pathway tensors (C, T, H, W) like the first input"
                )
            sizes = {_ints(t.shape[-2:]) for t in clip}
            if any(t.dim() != 4 for t in clip) or len(sizes) != 1:
                raise ValueError(
                    f"VideoActionDetector: input {name}: each pathway must be (C, T, H, W) with "
                    f"the same H, W, got shapes {[tuple(t.shape) for t in clip]}"
                )
            size = sizes.pop()
            inst = x["instances"]
            if _ints(inst.image_size) != size:
                raise ValueError(
                    f"VideoActionDetector: input {name}: instances.image_size "
                    f"{tuple(inst.image_size)} differs from the clip size {size}; boxes must be "
                    "in clip pixels"
                )
        memory_format = getattr(self.backbone, "memory_format", torch.contiguous_format)
        batches = []
        for p in range(num_pathways):
            tensors = [x["clip"][p] for x in batched_inputs]
            lengths = {_ints(t.shape[:2]) for t in tensors}
            if len(lengths) != 1:
                raise ValueError(
                    f"VideoActionDetector: pathway{p} clips differ in (C, T) within the batch: "
                    f"{sorted(lengths)}"
                )
            batches.append(_pack(tensors, self.device, memory_format))
        return batches

    def forward(self, batched_inputs: List[Dict]):
        """See the class docstring for the input and output formats."""
        if len(batched_inputs) == 0:
            raise ValueError("VideoActionDetector: empty batch")
        clips = self._pathway_batches(batched_inputs)
        proposals = [x["instances"].to(self.device) for x in batched_inputs]
        if self.training:
            return self.roi_heads(self.backbone(clips), proposals)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16_inference):
            results = self.roi_heads(self.backbone(clips), proposals)
        return [
            {"instances": self._rescale(r, x.get("height", r.image_size[0]),
                                        x.get("width", r.image_size[1]))}
            for r, x in zip(results, batched_inputs)
        ]

    @staticmethod
    def _rescale(result: Instances, height: int, width: int) -> Instances:
        """Boxes from clip pixels to ``height x width`` pixels, clipped; keeps every box."""
        clip_h, clip_w = result.image_size
        boxes = result.pred_boxes.clone()
        boxes.scale(width / clip_w, height / clip_h)
        boxes.clip((height, width))
        return Instances((height, width), pred_boxes=boxes, scores=result.scores.float())
