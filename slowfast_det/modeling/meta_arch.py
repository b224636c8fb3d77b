"""Video action detector: SlowFast backbone + ROIAlign-3D head on given person boxes,
registered in Detectron2's ``META_ARCH_REGISTRY``."""

from typing import Dict, List, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.modeling.roi_heads import build_roi_heads
from detectron2.structures import Instances
from torch import nn

from .preprocess import VideoModelBase

__all__ = ["VideoActionDetector"]


def _ints(shape) -> Tuple[int, ...]:
    """A shape as Python ints (while tracing, shape entries are tensors)."""
    return tuple(int(s) for s in shape)


@META_ARCH_REGISTRY.register()
class VideoActionDetector(VideoModelBase):
    """Classifies the actions of given person boxes in keyframe clips.

    Input: a list of N dicts, one per keyframe clip (the data mapper's output):

    * ``"clip"``: the clip, a tensor ``(3, T, H, W)``, RGB, uint8 (the mapper's) or float,
      in 0-255 units, not normalised. The model moves it to its device, applies
      ``"color_jitter"`` if given, normalises it with its ``pixel_mean`` / ``pixel_std``
      buffers, zero-pads the batch to the largest H, W (``ImageList.from_tensors``) and
      splits the pathways itself (``[slow (T // alpha frames), fast (T)]`` for SlowFast, the
      clip for Slow-only / Fast-only). T must agree across the batch.
    * ``"color_jitter"`` (optional): ordered ``(name, factor)`` list drawn by the mapper at
      training (:func:`~slowfast_det.modeling.preprocess.apply_color_jitter`).
    * ``"instances"``: ``Instances`` with ``image_size = (H, W)`` of the clip,
      ``proposal_boxes``: ``Boxes (R, 4)`` in clip pixels (R may be 0), and in training either
      ``gt_actions``: int64 ``(R, M)`` action ids ``1..K``, 0-padded (the mapper's), or
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
    def __init__(
        self,
        *,
        backbone: Backbone,
        roi_heads: nn.Module,
        pixel_mean: Tuple[float, ...],
        pixel_std: Tuple[float, ...],
        num_classes: int,
        arch: str = "slowfast",
        alpha: int = 4,
        bf16_inference: bool = False,
        bf16_training: bool = False,
    ):
        """
        Args:
            backbone: takes a list of pathway tensors ``(N, C, T_p, H, W)`` and returns
                ``{"pathway0": (N, C0, T0, h, w), ...}``. Its ``memory_format`` attribute, if
                any, is the layout the clips are packed in.
            roi_heads: e.g. :class:`ROIAlign3DHead`, called as ``roi_heads(features, proposals)``.
            pixel_mean, pixel_std: per-channel (RGB) clip statistics in 0-255 units; kept as
                buffers (saved in checkpoints).
            num_classes: K, the width of the multi-hot built from ``gt_actions``.
            arch: "slowfast" (two pathways), "slow" or "fast" (the clip as the one pathway).
            alpha: Fast / Slow frame-rate ratio (the Slow pathway takes T // alpha frames).
            bf16_inference, bf16_training: bfloat16 autocast in eval / train mode
                (:class:`~slowfast_det.modeling.preprocess.VideoModelBase`).
        """
        super().__init__(
            pixel_mean=pixel_mean,
            pixel_std=pixel_std,
            arch=arch,
            alpha=alpha,
            bf16_inference=bf16_inference,
            bf16_training=bf16_training,
        )
        self.backbone = backbone
        self.roi_heads = roi_heads
        self.num_classes = int(num_classes)

    @classmethod
    def from_config(cls, cfg):
        clip_args = cls.clip_config(cfg)
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "roi_heads": build_roi_heads(cfg, backbone.output_shape()),
            "num_classes": cfg.MODEL.ROI_HEADS.NUM_CLASSES,
            **clip_args,
        }

    def check_input(self, name, x, clip) -> None:
        """The boxes must be given in clip pixels: ``instances.image_size`` = the clip's H, W."""
        if _ints(x["instances"].image_size) != _ints(clip.shape[-2:]):
            raise ValueError(
                f"VideoActionDetector: input {name}: instances.image_size "
                f"{tuple(x['instances'].image_size)} differs from the clip size "
                f"{tuple(clip.shape[-2:])}; boxes must be in clip pixels"
            )

    def _proposals(self, batched_inputs: List[Dict]) -> List[Instances]:
        proposals = [x["instances"].to(self.device) for x in batched_inputs]
        if not self.training:
            return proposals
        for i, (p, x) in enumerate(zip(proposals, batched_inputs)):
            if not p.has("gt_labels") and p.has("gt_actions"):
                p.gt_labels = self._multi_hot(p.gt_actions, x.get("image_id", f"#{i}"))
        return proposals

    def _multi_hot(self, actions: torch.Tensor, name) -> torch.Tensor:
        """int (R, M) action ids 1..K, 0 = padding -> float (R, K) multi-hot."""
        actions = actions.long()
        # The scatter's index contract (0 = padding, at most K = MODEL.ROI_HEADS.NUM_CLASSES), not
        # the data rule: the loader checks ids against the dataset's num_classes
        # (slowfast_det.ava.checks.action_ids_outside), which need not equal the model's K.
        bad = (actions < 0) | (actions > self.num_classes)
        if bool(bad.any()):
            raise ValueError(
                f"{name}: action id {int(actions[bad][0])} outside 1..{self.num_classes} "
                "(MODEL.ROI_HEADS.NUM_CLASSES)"
            )
        out = torch.zeros(
            (actions.shape[0], self.num_classes + 1), dtype=torch.float32, device=actions.device
        )
        out.scatter_(1, actions, 1.0)
        return out[:, 1:]

    def forward(self, batched_inputs: List[Dict]):
        """See the class docstring for the input and output formats."""
        if len(batched_inputs) == 0:
            raise ValueError("VideoActionDetector: empty batch")
        clips = self.preprocess_clips(batched_inputs)
        proposals = self._proposals(batched_inputs)
        with self.bf16_autocast():
            out = self.roi_heads(self.backbone(clips), proposals)
        if self.training:
            return {k: v.float() for k, v in out.items()}
        return [
            {
                "instances": self._rescale(
                    r, x.get("height", r.image_size[0]), x.get("width", r.image_size[1])
                )
            }
            for r, x in zip(out, batched_inputs)
        ]

    @staticmethod
    def _rescale(result: Instances, height: int, width: int) -> Instances:
        """Boxes from clip pixels to ``height x width`` pixels, clipped; keeps every box."""
        clip_h, clip_w = result.image_size
        boxes = result.pred_boxes.clone()
        boxes.scale(width / clip_w, height / clip_h)
        boxes.clip((height, width))
        return Instances((height, width), pred_boxes=boxes, scores=result.scores.float())
