"""Exact reformulations that make SlowFast's operations fast on ``channels_last_3d`` features.

Every convolution of the SlowFast ResNet except the Fast stem has a kernel that is either
``1 x kh x kw`` (no temporal extent) or ``kt x 1 x 1`` (no spatial extent). On a feature map
stored in ``torch.channels_last_3d`` memory format (physically ``(N, T, H, W, C)``), both are
2D problems on a *view* of the same memory, with no copy:

* ``1 x kh x kw`` (``1 x 1 x 1`` included): a 2D convolution of the ``N*T`` frames,
  ``(N*T, C, H, W)`` channels-last;
* ``kt x 1 x 1``: a 2D convolution with kernel ``(kt, 1)`` over ``(N, C, T, H*W)`` channels-last.

The results equal ``F.conv3d`` up to float rounding (the same products, summed in another
order), and autograd differentiates through the views. On CPU this avoids oneDNN's slow 3D
kernels for few channels and PyTorch's THNN fallback (``slow_conv3d``) that small batches
take; see ``tools/benchmark.py --task model`` (``benchmarks.model``, parts
``levers`` and ``profile``) for the measured effect. (A ``1 x 1 x 1`` convolution as
``F.linear`` on the ``(N*T*H*W, C)`` view was tried too: as fast with one thread, 1.25x slower
than the 2D convolution with two.) Inputs not in
``channels_last_3d``, and any other kernel / stride / padding combination, go to ``F.conv3d``.

A strided ``1 x 1 x 1`` convolution (the shortcut of a block that downsamples) is computed as
a stride-1 one of the subsampled input, ``x[:, :, ::st, ::sh, ::sw]``: exact, and it keeps
oneDNN's strided 1x1 weight-gradient kernel out of the way, whose AVX2 version writes past
its buffer on channels-last inputs with few channels (heap corruption, wrong gradients;
reproduced with torch alone by ``tools/repro_onednn_1x1_bwd_weights.py``). Every fast-path
convolution shape of the shipped and test configs is stress-tested against ``F.conv3d`` under
``MALLOC_CHECK_=3`` with the AVX2 and the native kernels
(:mod:`benchmarks.conv_check`, ``benchmarks/tests/test_conv_kernels.py``).
"""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = ["conv3d", "is_channels_last_3d", "temporal_mean"]


def is_channels_last_3d(x: torch.Tensor) -> bool:
    """Whether ``x`` (N, C, T, H, W) is stored as ``(N, T, H, W, C)`` (channels_last_3d)."""
    return x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d)


def conv3d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> torch.Tensor:
    """``F.conv3d(x, weight, bias, stride, padding, dilation, groups)``, computed as a 2D
    problem when the kernel allows it and ``x`` is ``channels_last_3d``.

    Args:
        x: (N, C, T, H, W).
        weight: (C', C / groups, kt, kh, kw).
        bias: (C',) or None.
        stride, padding, dilation: 3-tuples (T, H, W) of ints; padding must be numeric.
    Returns:
        (N, C', T', H', W'); ``channels_last_3d`` when ``x`` is.
    """
    if isinstance(padding, str) or not is_channels_last_3d(x):
        return F.conv3d(x, weight, bias, stride, padding, dilation, groups)
    kt, kh, kw = weight.shape[2:]
    if kt == kh == kw == 1 and tuple(padding) == (0, 0, 0) and tuple(stride) != (1, 1, 1):
        # Strided pointwise kernel = pointwise kernel on the subsampled input (the same products
        # and sums). Not only faster: oneDNN's AVX2 weight-gradient kernel for strided 1x1
        # convolutions writes past its buffer (tools/repro_onednn_1x1_bwd_weights.py).
        x = x[:, :, :: stride[0], :: stride[1], :: stride[2]].contiguous(
            memory_format=torch.channels_last_3d
        )
        stride = (1, 1, 1)
    n, _, t, h, w = x.shape
    if kt == 1 and stride[0] == 1 and padding[0] == 0:
        # Spatial (or pointwise) kernel: the N*T frames as a batch of 2D images
        # (N*T, C, H, W), channels-last. The permute / flatten chain (rather than a reshape)
        # keeps canonical strides, which oneDNN needs to take the tensor without a copy.
        frames = x.permute(0, 2, 3, 4, 1).flatten(0, 1).permute(0, 3, 1, 2)
        y = F.conv2d(frames, weight[:, :, 0], bias, stride[1:], padding[1:], dilation[1:], groups)
        y = y.permute(0, 2, 3, 1).unflatten(0, (n, t))  # (N, T, H', W', C')
        return y.permute(0, 4, 1, 2, 3)
    if kh == 1 and kw == 1 and tuple(stride[1:]) == (1, 1) and tuple(padding[1:]) == (0, 0):
        # Temporal kernel: a (kt, 1) 2D convolution over (T, H*W), channels-last.
        plane = x.permute(0, 2, 3, 4, 1).flatten(2, 3).permute(0, 3, 1, 2)  # (N, C, T, H*W)
        y = F.conv2d(
            plane, weight[..., 0], bias, (stride[0], 1), (padding[0], 0), (dilation[0], 1), groups
        )
        y = y.permute(0, 2, 3, 1).unflatten(2, (h, w))  # (N, T', H, W, C')
        return y.permute(0, 4, 1, 2, 3)
    return F.conv3d(x, weight, bias, stride, padding, dilation, groups)


def temporal_mean(x: torch.Tensor) -> torch.Tensor:
    """``x.mean(dim=2)``: (N, C, T, H, W) -> (N, C, H, W).

    On ``channels_last_3d`` input, PyTorch's CPU reduction over dim 2 is slow (tens of ms for a
    res5 map); averaging the ``(N, T, H, W, C)`` view over its dim 1 gives the same values
    (same summation order over T) in about a millisecond.
    """
    if is_channels_last_3d(x):
        return x.permute(0, 2, 3, 4, 1).mean(dim=1).permute(0, 3, 1, 2)
    return x.mean(dim=2)
