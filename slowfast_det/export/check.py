"""Compare an exported graph's onnxruntime scores with the PyTorch module's on one random clip."""

from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from .runtime import OnnxActionDetector

__all__ = ["compare_onnx", "random_clip_and_rois"]


def random_clip_and_rois(
    num_frames: int, size: Sequence[int], num_boxes: int, batch: int = 1, seed: int = 0
) -> Tuple[torch.Tensor, torch.Tensor]:
    """A uint8 clip batch ``(batch, 3, T, H, W)`` and ``num_boxes`` boxes per clip as rois
    ``(batch * num_boxes, 5)`` (clip index, x1, y1, x2, y2), each 20-50 % of the frame."""
    h, w = (int(s) for s in size)
    g = torch.Generator().manual_seed(seed)
    clips = torch.randint(0, 256, (batch, 3, int(num_frames), h, w), generator=g, dtype=torch.uint8)
    n = batch * num_boxes
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.5, h * 0.5])
    wh = (0.2 + 0.3 * torch.rand(n, 2, generator=g)) * torch.tensor([w, h])
    index = torch.arange(batch, dtype=torch.float32).repeat_interleave(num_boxes)[:, None]
    return clips, torch.cat([index, xy, xy + wh], dim=1)


def compare_onnx(
    module: torch.nn.Module,
    path: str,
    num_frames: int,
    size: Sequence[int],
    num_boxes: int,
    detector: Optional[object] = None,
) -> float:
    """Max abs difference between ``module(clips, rois)`` and the onnxruntime CPU session of
    ``path`` (or ``detector``, an :class:`OnnxActionDetector`) on a random uint8 clip."""
    detector = detector or OnnxActionDetector(path)
    clips, rois = random_clip_and_rois(num_frames, size, num_boxes)
    with torch.no_grad():
        ref = module(clips, rois).numpy()
    out = detector.run(clips.numpy(), rois.numpy())
    return float(np.abs(out - ref).max())
