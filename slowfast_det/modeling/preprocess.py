"""Device-side clip preprocessing of :class:`~slowfast_det.modeling.VideoActionDetector`.

The data mapper hands over uint8 RGB clips ``(3, T, H, W)``; on the model's device each
clip gets its colour jitter (training; the parameters were drawn by the mapper, so they stay
a function of the sample's seed), is normalised with the model's ``pixel_mean`` /
``pixel_std`` (0-255 units), the batch is padded with :class:`detectron2.structures.ImageList`
and split into the backbone's pathways with :func:`pathway_indices`.
"""
from typing import Sequence, Tuple

import torch

__all__ = ["COLOR_JITTER_OPS", "apply_color_jitter", "pathway_indices", "split_pathways"]

#: Colour jitter operations, in the names the mapper's ``color_jitter`` entries use.
COLOR_JITTER_OPS = ("brightness", "contrast", "saturation")
_GRAY = (0.299, 0.587, 0.114)  # RGB weights of the luma used by contrast and saturation


def pathway_indices(num_frames: int, alpha: int) -> torch.Tensor:
    """Indices of the Slow pathway's frames among the Fast pathway's ``num_frames`` frames.

    ``torch.linspace(0, T - 1, T // alpha).long()``, as PySlowFast and pytorchvideo.
    """
    return torch.linspace(0, num_frames - 1, num_frames // alpha).long()


def apply_color_jitter(clip: torch.Tensor, ops: Sequence[Tuple[str, float]], max_value: float = 255.0) -> torch.Tensor:
    """Brightness / contrast / saturation jitter of a float RGB clip ``(3, T, H, W)``, in place.

    ``ops`` is the ordered list of ``(name, factor)`` the mapper drew. Brightness scales
    the pixels; contrast blends with the clip's mean luma, saturation with each pixel's luma
    (``x' = ref + factor * (x - ref)``); the clip is clamped to ``[0, max_value]`` after each
    operation. The result does not depend on the unit (0-255 or 0-1) beyond rounding.
    """
    for name, factor in ops:
        f = float(factor)
        if name == "brightness":
            clip.mul_(f)
        elif name in ("contrast", "saturation"):
            gray = _GRAY[0] * clip[0] + _GRAY[1] * clip[1] + _GRAY[2] * clip[2]  # (T, H, W)
            ref = gray.mean() if name == "contrast" else gray.unsqueeze(0)
            clip.sub_(ref).mul_(f).add_(ref)
        else:
            raise ValueError(f"unknown colour jitter operation {name!r}; expected one of {COLOR_JITTER_OPS}")
        clip.clamp_(0.0, max_value)
    return clip


def split_pathways(clips: torch.Tensor, arch: str, alpha: int):
    """A batch ``(N, C, T, H, W)`` -> the backbone's pathway list: ``[slow, fast]`` (Slow =
    the :func:`pathway_indices` frames) for "slowfast", ``[clips]`` for "slow" / "fast"."""
    if arch != "slowfast":
        return [clips]
    t = int(clips.shape[2])
    if t < alpha:
        raise ValueError(f"a SlowFast clip needs at least ALPHA = {alpha} frames, got T = {t}")
    idx = pathway_indices(t, alpha).to(clips.device)
    return [clips.index_select(2, idx), clips]
