"""Video classifier: the SlowFast backbone (SlowFast, Slow-only, Fast-only; any depth,
non-local blocks) and PySlowFast's basic head, registered in Detectron2's ``META_ARCH_REGISTRY``
(``MODEL.META_ARCHITECTURE "VideoClassifier"``; configs/Kinetics, configs/Charades)."""

import numbers
from contextlib import nullcontext
from typing import Dict, List

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone

from .preprocess import VideoModelBase
from .video_head import VideoClassificationHead, classification_loss

__all__ = ["VideoClassifier"]


@META_ARCH_REGISTRY.register()
class VideoClassifier(VideoModelBase):
    """Classifies whole clips.

    Input: a list of N dicts, one per clip:

    * ``"clip"``: a tensor ``(3, T, H, W)``, RGB, uint8 or float, in 0-255 units, not
      normalised. As :class:`~slowfast_det.modeling.VideoActionDetector`, the model moves it to
      its device, applies ``"color_jitter"`` if given, normalises it with its ``pixel_mean`` /
      ``pixel_std`` buffers and splits the pathways itself. T, H and W must agree across the
      batch (clips are not padded: padding would enter the head's average).
    * ``"color_jitter"`` (optional): ordered ``(name, factor)`` list drawn by the mapper.
    * in training, with a softmax head (single-label): ``"label"``, the class index
      ``0..K-1`` (int or 0-d integer tensor);
      with a sigmoid head (multi-label): ``"labels"``, either a float (or bool) tensor
      ``(K,)`` of multi-hot targets in [0, 1], or the class indices ``0..K-1`` as a list /
      tuple of ints or an integer tensor (any length, also empty). The dtype decides: an
      integer tensor is always a list of indices, never a multi-hot vector.
    * other keys (``video_id``, ``image_id``, ...) are ignored; ``image_id`` names the input
      in errors.

    Output in training: ``{"loss_cls": scalar}`` (cross-entropy for a softmax head, binary
    cross-entropy with logits, mean over clips and classes, for a sigmoid head).

    Output at test: a list of N dicts ``{"scores": (K,) float32 probabilities}``: the head's
    activation at every position its pool leaves (one at the training crop size, several at
    larger crops), averaged.
    """

    pad_clips = False

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        cls_head: VideoClassificationHead,
        pixel_mean,
        pixel_std,
        arch: str = "slowfast",
        alpha: int = 4,
        bf16_inference: bool = False,
    ):
        """
        Args:
            backbone: takes a list of pathway tensors ``(N, C, T_p, H, W)`` and returns
                ``{"pathway0": (N, C0, T0, h, w), ...}``.
            cls_head: e.g. :class:`VideoClassificationHead`, called as ``cls_head(features)``;
                its ``act`` ("softmax" / "sigmoid") selects the loss and the training targets.
            pixel_mean, pixel_std: per-channel (RGB) clip statistics in 0-255 units; kept as
                buffers (saved in checkpoints).
            arch: "slowfast", "slow" or "fast".
            alpha: Fast / Slow frame-rate ratio.
            bf16_inference: in eval mode, run backbone and head under bfloat16 autocast
                (scores are returned as float32).
        """
        super().__init__(pixel_mean=pixel_mean, pixel_std=pixel_std, arch=arch, alpha=alpha)
        self.backbone = backbone
        self.cls_head = cls_head
        self.bf16_inference = bf16_inference

    @classmethod
    def from_config(cls, cfg):
        clip_args = cls.clip_config(cfg)
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "cls_head": VideoClassificationHead(cfg, backbone.output_shape()),
            "bf16_inference": cfg.TEST.BF16,
            **clip_args,
        }

    @property
    def num_classes(self) -> int:
        return self.cls_head.num_classes

    def forward(self, batched_inputs: List[Dict]):
        """See the class docstring for the input and output formats."""
        if len(batched_inputs) == 0:
            raise ValueError("VideoClassifier: empty batch")
        clips = self.preprocess_clips(batched_inputs)
        if self.training:
            targets = self.targets(batched_inputs)
            logits = self.cls_head(self.backbone(clips))
            return {"loss_cls": classification_loss(logits, targets, self.cls_head.act)}
        bf16 = self.bf16_inference
        with torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else nullcontext():
            scores = self.cls_head(self.backbone(clips))
        return [{"scores": s.float()} for s in scores]

    def targets(self, batched_inputs: List[Dict]) -> torch.Tensor:
        """The training targets on the device: int64 (N,) class indices for a softmax head,
        float (N, K) multi-hot for a sigmoid head (see the class docstring)."""
        k = self.num_classes
        names = [x.get("image_id", f"#{i}") for i, x in enumerate(batched_inputs)]
        if self.cls_head.act == "softmax":
            out = [_label(x, name, k) for x, name in zip(batched_inputs, names)]
            return torch.tensor(out, dtype=torch.int64, device=self.device)
        out = [_multi_hot(x, name, k) for x, name in zip(batched_inputs, names)]
        return torch.stack(out).to(self.device)


def _is_index(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _label(x: Dict, name: str, k: int) -> int:
    """A single-label input's ``"label"`` as an int in 0..k-1."""
    where = f"VideoClassifier: input {name}"
    if "label" not in x:
        raise KeyError(
            f"{where} has no 'label' (single-label head, MODEL.VIDEO_HEAD.ACT softmax; "
            "multi-label data needs ACT sigmoid and 'labels')"
        )
    label = x["label"]
    if isinstance(label, torch.Tensor):
        if label.numel() != 1 or label.is_floating_point() or label.dtype == torch.bool:
            raise ValueError(
                f"{where}: 'label' must be one integer class index, got a "
                f"{label.dtype} tensor of shape {tuple(label.shape)}"
            )
        label = label.item()
    if not _is_index(label):
        raise ValueError(f"{where}: 'label' must be an int class index, got {label!r}")
    if not 0 <= label < k:
        raise ValueError(
            f"{where}: label {label} outside 0..{k - 1} (MODEL.VIDEO_HEAD.NUM_CLASSES)"
        )
    return int(label)


def _multi_hot(x: Dict, name: str, k: int) -> torch.Tensor:
    """A multi-label input's ``"labels"`` (multi-hot, or class indices) as a float (k,) tensor."""
    where = f"VideoClassifier: input {name}"
    if "labels" not in x:
        raise KeyError(
            f"{where} has no 'labels' (multi-label head, MODEL.VIDEO_HEAD.ACT sigmoid; "
            "single-label data needs ACT softmax and 'label')"
        )
    labels = x["labels"]
    multi_hot = isinstance(labels, torch.Tensor) and (
        labels.is_floating_point() or labels.dtype == torch.bool
    )
    if multi_hot:
        if labels.shape != (k,):
            raise ValueError(
                f"{where}: multi-hot 'labels' must be ({k},) "
                f"(MODEL.VIDEO_HEAD.NUM_CLASSES), got {tuple(labels.shape)}"
            )
        labels = labels.float().cpu()
        if bool(((labels < 0) | (labels > 1) | ~torch.isfinite(labels)).any()):
            raise ValueError(f"{where}: multi-hot 'labels' must lie in [0, 1]")
        return labels
    if isinstance(labels, torch.Tensor):
        labels = labels.flatten().tolist()
    if not isinstance(labels, (list, tuple)) or not all(_is_index(c) for c in labels):
        raise ValueError(
            f"{where}: 'labels' must be a float multi-hot ({k},) tensor or a list of "
            f"int class indices, got {labels!r}"
        )
    bad = [c for c in labels if not 0 <= c < k]
    if bad:
        raise ValueError(
            f"{where}: class index {bad[0]} outside 0..{k - 1} (MODEL.VIDEO_HEAD.NUM_CLASSES)"
        )
    out = torch.zeros(k, dtype=torch.float32)
    out[[int(c) for c in labels]] = 1.0
    return out
