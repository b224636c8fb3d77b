"""Video classification head: PySlowFast's ``ResNetBasicHead`` (the Kinetics / Charades head of
the SlowFast paper), and the classification losses.

Per pathway an average pool whose kernel is fixed by the training clip
(``[T_p, crop / s, crop / s]``: the pathway's frames and the training crop over the backbone's
output stride ``s``) with stride 1, concatenation of the pathways along channels, dropout and
a linear classifier applied at every remaining position ``(t, h, w)``. At the training crop one
position remains. At larger clips (the 256-pixel test crops) several remain and the head runs
fully convolutionally, as PySlowFast's does: in eval mode the activation (softmax or sigmoid)
is applied at every position and the probabilities are averaged.
"""

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from torch import nn

__all__ = ["VideoClassificationHead", "classification_loss", "head_pool_sizes", "HEAD_ACTIVATIONS"]

#: Output activations: softmax for single-label datasets, sigmoid for multi-label ones.
HEAD_ACTIVATIONS = ("softmax", "sigmoid")


def classification_loss(logits: torch.Tensor, targets: torch.Tensor, act: str) -> torch.Tensor:
    """The training loss that matches the head's activation.

    Args:
        logits: (N, K) classifier outputs.
        targets: for ``act="softmax"`` int64 (N,) class indices ``0..K-1`` (cross-entropy,
            mean over clips); for ``act="sigmoid"`` float (N, K) multi-hot targets (binary
            cross-entropy with logits, mean over clips and classes).
    Returns:
        a scalar.
    """
    if act == "softmax":
        if targets.shape != logits.shape[:1]:
            raise ValueError(
                f"single-label targets must be (N,) = ({logits.shape[0]},), "
                f"got {tuple(targets.shape)}"
            )
        return F.cross_entropy(logits, targets.long())
    if act == "sigmoid":
        if targets.shape != logits.shape:
            raise ValueError(
                f"multi-label targets must be (N, K) = {tuple(logits.shape)}, "
                f"got {tuple(targets.shape)}"
            )
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
    raise ValueError(f"unknown head activation {act!r}; expected one of {HEAD_ACTIVATIONS}")


def head_pool_sizes(
    pathway_frames: Sequence[int], crop_size: int, strides: Sequence[int]
) -> List[Optional[List[int]]]:
    """PySlowFast's head pool kernels ``[T_p, crop // s, crop // s]`` per pathway, or None per
    pathway (a global average) when ``crop_size`` is 0 (training on whole frames)."""
    if crop_size <= 0:
        return [None for _ in pathway_frames]
    sizes = []
    for frames, stride in zip(pathway_frames, strides):
        side = int(crop_size) // int(stride)
        if side < 1 or int(frames) < 1:
            raise ValueError(
                f"head pool kernel from {frames} frames and a {crop_size}-pixel "
                f"crop at stride {stride} is empty; raise INPUT.TRAIN_CROP_SIZE "
                "or INPUT.NUM_FRAMES"
            )
        sizes.append([int(frames), side, side])
    return sizes


class VideoClassificationHead(nn.Module):
    """PySlowFast's basic head on the backbone's pathway features.

    Input of :meth:`forward`: ``{"pathway0": (N, C0, T0, h, w), "pathway1": (N, C1, T1, h, w)}``
    (one entry for Slow-only / Fast-only); pathways are used in sorted-name order.

    Output: ``(N, K)``; in training the logits (their mean over the positions when more than
    one remains; at the training crop there is one), in eval mode the probabilities: the
    activation at every position, then the mean over positions.

    A pool kernel larger than the feature map (a clip smaller than the training crop, or
    shorter than the training clip) is clipped to the feature map's size in that dimension.
    """

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        pool_sizes: Optional[Sequence[Optional[Sequence[int]]]] = None,
        dropout_rate: float = 0.5,
        act: str = "softmax",
        predictor_init_std: float = 0.01,
    ):
        """
        Args:
            input_shape: ``{"pathway0": ShapeSpec(channels=C0, stride=s), ...}``, e.g. the
                backbone's ``output_shape()``.
            num_classes: K.
            pool_sizes: per pathway (sorted names) the ``(T, H, W)`` average-pool kernel
                (stride 1), or None for a global average; None = global averages throughout.
            dropout_rate: dropout before the classifier (0 disables it).
            act: "softmax" (single-label) or "sigmoid" (multi-label), applied in eval mode.
            predictor_init_std: std of the classifier's normal weight initialisation (bias 0).
        """
        super().__init__()
        if act not in HEAD_ACTIVATIONS:
            raise ValueError(f"MODEL.VIDEO_HEAD.ACT must be one of {HEAD_ACTIVATIONS}, got {act!r}")
        if not input_shape:
            raise ValueError("VideoClassificationHead needs at least one input feature (pathway)")
        self.in_features = sorted(input_shape)
        if pool_sizes is None:
            pool_sizes = [None] * len(self.in_features)
        if len(pool_sizes) != len(self.in_features):
            raise ValueError(
                f"VideoClassificationHead: {len(pool_sizes)} pool sizes for "
                f"{len(self.in_features)} pathways ({self.in_features})"
            )
        self.pool_sizes = [None if p is None else tuple(int(v) for v in p) for p in pool_sizes]
        for p in self.pool_sizes:
            if p is not None and (len(p) != 3 or min(p) < 1):
                raise ValueError(
                    f"VideoClassificationHead: pool sizes must be (T, H, W) >= 1, got {p}"
                )
        self.num_classes = int(num_classes)
        self.act = act
        in_channels = sum(input_shape[name].channels for name in self.in_features)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else None
        self.predictor = nn.Linear(in_channels, self.num_classes)
        nn.init.normal_(self.predictor.weight, std=predictor_init_std)
        nn.init.zeros_(self.predictor.bias)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.VIDEO_HEAD
        names = sorted(input_shape)
        t, sf = cfg.INPUT.NUM_FRAMES, cfg.MODEL.SLOWFAST
        frames = [t // sf.ALPHA, t] if sf.ARCH == "slowfast" else [t]
        if len(frames) != len(names):
            raise ValueError(
                f"MODEL.SLOWFAST.ARCH {sf.ARCH!r} and the backbone's outputs {names} disagree"
            )
        return {
            "input_shape": input_shape,
            "num_classes": head.NUM_CLASSES,
            "pool_sizes": head_pool_sizes(
                frames, cfg.INPUT.TRAIN_CROP_SIZE, [input_shape[n].stride for n in names]
            ),
            "dropout_rate": head.DROPOUT_RATE,
            "act": head.ACT,
            "predictor_init_std": head.PREDICTOR_INIT_STD,
        }

    def pooled_features(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        """``(N, t, h, w, sum C_p)``: each pathway average-pooled (kernel :attr:`pool_sizes`,
        stride 1), concatenated along channels; the pathways must leave the same positions."""
        pooled = []
        for name, size in zip(self.in_features, self.pool_sizes):
            x = features[name]
            if size is None:
                x = x.mean(dim=(2, 3, 4), keepdim=True)
            else:
                kernel = [min(k, int(d)) for k, d in zip(size, x.shape[2:])]
                x = F.avg_pool3d(x, kernel_size=kernel, stride=1)
            pooled.append(x)
        if len({tuple(p.shape[2:]) for p in pooled}) > 1:
            raise ValueError(
                "VideoClassificationHead: the pathways leave different positions after pooling "
                f"({[tuple(p.shape[2:]) for p in pooled]}); the clip's T and the pool kernels "
                "disagree"
            )
        return torch.cat(pooled, dim=1).permute(0, 2, 3, 4, 1)

    def position_logits(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        """``(N, P, K)`` logits at each of the P remaining positions ``(t, h, w)``."""
        x = self.pooled_features(features)
        if self.dropout is not None:
            x = self.dropout(x)
        x = self.predictor(x)
        return x.reshape(x.shape[0], -1, x.shape[-1])

    def forward(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.position_logits(features)
        if self.training:
            return logits.mean(dim=1)
        probs = logits.softmax(dim=-1) if self.act == "softmax" else logits.sigmoid()
        return probs.mean(dim=1)
