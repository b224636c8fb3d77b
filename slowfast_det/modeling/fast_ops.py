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
``channels_last_3d``, and any other kernel / stride / padding combination, go to ``F.conv3d``,
except the Fast stem's ``kt x kh x kw`` kernel in training on CPUs without AVX-512: one 2D
convolution whose output channels are its temporal taps, then a shifted sum
(:func:`taps_conv3d`), so that oneDNN's AVX2 2D weight-gradient kernel does the products.
Small problems on CPUs are matrix products (:mod:`.conv_products`; on AVX-512 CPUs only
without a weight gradient; the size rule is :func:`choose_algorithm`'s).

A strided ``1 x 1 x 1`` convolution (the shortcut of a block that downsamples) is computed as
a stride-1 one of the subsampled input, ``x[:, :, ::st, ::sh, ::sw]``: exact, and it keeps
oneDNN's strided 1x1 weight-gradient kernel out of the way, whose AVX2 version writes past
its buffer on channels-last inputs with few channels (heap corruption, wrong gradients;
reproduced with torch alone by ``tools/repro_onednn_1x1_bwd_weights.py``). Every fast-path
convolution shape of the shipped and test configs is stress-tested against ``F.conv3d`` under
``MALLOC_CHECK_=3`` with the AVX2 and the native kernels
(:mod:`benchmarks.conv_check`, ``benchmarks/tests/test_conv_kernels.py``).
"""

import functools
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .conv_products import gemm_conv3d, im2col_conv3d

__all__ = [
    "choose_algorithm",
    "conv3d",
    "gemm_conv3d",
    "gemm_fits",
    "im2col_conv3d",
    "is_channels_last_3d",
    "taps_conv3d",
    "temporal_mean",
]


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
    algorithm: Optional[str] = None,
) -> torch.Tensor:
    """``F.conv3d(x, weight, bias, stride, padding, dilation, groups)``, computed as a 2D
    problem (or a matrix product) when the kernel allows it and ``x`` is ``channels_last_3d``.

    Args:
        x: (N, C, T, H, W).
        weight: (C', C / groups, kt, kh, kw).
        bias: (C',) or None.
        stride, padding, dilation: 3-tuples (T, H, W) of ints; padding must be numeric.
        algorithm: "conv2d", "gemm" (:func:`gemm_conv3d`) or "im2col" (:func:`im2col_conv3d`)
            for a channels-last input whose kernel has no temporal or no spatial extent (see the
            module docstring), "taps" (:func:`taps_conv3d`) or
            anything else (``F.conv3d``) for one with both; None: :func:`choose_algorithm`.
    Returns:
        (N, C', T', H', W'); ``channels_last_3d`` when ``x`` is.
    """
    if isinstance(padding, str) or not is_channels_last_3d(x):
        return F.conv3d(x, weight, bias, stride, padding, dilation, groups)
    kt, kh, kw = weight.shape[2:]
    if algorithm is None:
        algorithm = choose_algorithm(x, weight, stride, groups)
    if kt != 1 and (kh != 1 or kw != 1):
        if algorithm == "taps":
            return taps_conv3d(x, weight, bias, stride, padding, dilation)
        return F.conv3d(x, weight, bias, stride, padding, dilation, groups)
    if algorithm == "gemm":
        return gemm_conv3d(x, weight, bias, stride, padding, dilation)
    if algorithm == "im2col":
        return im2col_conv3d(x, weight, bias, stride, padding, dilation)
    if algorithm != "conv2d":
        raise ValueError(
            f"conv3d: algorithm must be 'conv2d', 'gemm', 'im2col' or None for a {kt}x{kh}x{kw} "
            "kernel, "
            f"got {algorithm!r}"
        )
    if kt == kh == kw == 1 and tuple(padding) == (0, 0, 0) and tuple(stride) != (1, 1, 1):
        # Strided pointwise kernel = pointwise kernel on the subsampled input (the same products
        # and sums). Not only faster: oneDNN's AVX2 weight-gradient kernel for strided 1x1
        # convolutions writes past its buffer (tools/repro_onednn_1x1_bwd_weights.py).
        x = _Subsample.apply(x, tuple(stride))
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


#: ``choose_algorithm`` thresholds (measured on a 2-core AVX2 AMD EPYC, 2 threads, with
#: ``tools/benchmark.py --task model --parts kernels``): a pointwise convolution of at most this
#: many multiply-adds, and any other 2D-able one with at most this many output positions, is
#: faster as a matrix product than as a oneDNN convolution there.
GEMM_MAX_POINTWISE_MACS = 2**26
GEMM_MAX_POSITIONS = 64


@functools.lru_cache(maxsize=None)
def _cpu_has_avx512() -> bool:
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def choose_algorithm(
    x: torch.Tensor, weight: torch.Tensor, stride: Sequence[int], groups: int
) -> str:
    """ "gemm", "im2col" or "conv2d" for :func:`conv3d` of a ``channels_last_3d`` ``x``
    (N, C, T, H, W) by a ``1 x kh x kw`` or ``kt x 1 x 1`` kernel ``weight`` (C', C / groups, kt,
    kh, kw); "taps" or "conv3d" for a kernel with both extents (the Fast stem's ``5 x 7 x 7``).

    "taps" (:func:`taps_conv3d`) on a CPU without AVX-512 when the weight needs a gradient,
    ``groups == 1`` and the temporal stride is 1: there oneDNN computes the 3D weight gradient
    with its generic im2col product (``gemm:jit``; 190 ms of the synthetic training step's
    800, the Fast stem of 8 x 16x120x160 clips) while the 2D one has a direct AVX2 kernel
    (33 ms for the same products). Without a weight gradient "conv3d": the forward passes cost
    the same.

    "gemm" (:func:`gemm_conv3d`) on a CPU, ``groups == 1``, for small problems: a
    pointwise kernel with at most :data:`GEMM_MAX_POINTWISE_MACS` multiply-adds (not in
    training: see :func:`gemm_fits`), or any with at most :data:`GEMM_MAX_POSITIONS` output
    positions (the Slow pathway's res4 / res5 on small clips: 2 x 4 x 4 positions, up to
    6144 x 512 weights). There oneDNN's AVX2 convolution
    spends more time on its fixed per-call work and weight reordering than on arithmetic
    (0.15 ms for a 8 -> 32 channel 1x1 on 2048 positions, 0.08 ms as a product; 8.1 ms vs
    4.2 ms for the 2048 -> 512, 3x1x1 one on 32).

    "im2col" (:func:`im2col_conv3d`) instead of "gemm" for at most :data:`GEMM_MAX_POSITIONS`
    output positions without a weight gradient when torch runs more than one thread: one product
    with the output channels as rows, where the per-tap products with 32 rows left the second
    thread idle (2-core AVX2 EPYC, 2 threads, the layers of an 8x64x64 clip: 0.51 vs 1.22 ms
    for 256 -> 256 1x3x3, 0.62 vs 0.74 ms for 512 -> 2048 pointwise, 1.94 vs 2.19 ms for
    2048 -> 512 3x1x1). On one thread "gemm", which skips the padding's products, stays ahead
    (1.91 vs 2.47 ms for the dilated 512 -> 512 1x3x3 of res5).

    On an AVX-512 CPU (torch's ``torch.backends.cpu.get_cpu_capability()``) the products
    ("gemm", "im2col") only without a weight gradient, and never
    "taps" (2-core Intel Xeon with AVX-512 and AMX, 2 threads, alternating in one process:
    inference of an 8x64x64 clip 1.10-1.15x faster with them, 16x128x128 and 32x256x256 within
    1.6%; the synthetic training step 0.996x with the taps, an 8x64x64 training step of the R50
    0.84x with both: oneDNN's AVX-512 weight-gradient kernels are direct).

    Otherwise, on CUDA and while tracing (fvcore's FLOP count, TorchScript export), "conv2d".
    """
    kt, kh, kw = weight.shape[2:]
    full = kt != 1 and (kh != 1 or kw != 1)
    if x.device.type != "cpu" or torch.jit.is_tracing():
        # (traced: FLOP counting and export see the convolution, the same on every machine)
        return "conv3d" if full else "conv2d"
    training = torch.is_grad_enabled() and weight.requires_grad
    avx512 = _cpu_has_avx512()
    if full:
        return "taps" if training and not avx512 and groups == 1 and stride[0] == 1 else "conv3d"
    if (training and avx512) or not gemm_fits(
        x.shape, weight.shape, stride, groups, backward=training
    ):
        return "conv2d"
    few = _output_positions(x.shape, stride) <= GEMM_MAX_POSITIONS
    return "im2col" if few and not training and torch.get_num_threads() > 1 else "gemm"


def _output_positions(x_shape: Sequence[int], stride: Sequence[int]) -> int:
    """N * T' * H' * W' of a convolution of an (N, C, T, H, W) input that keeps the map's size
    at stride 1 (a padded kernel's output, or a pointwise one's)."""
    n, _, t, h, w = x_shape
    return n * -(-t // stride[0]) * -(-h // stride[1]) * -(-w // stride[2])


def gemm_fits(
    x_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Sequence[int],
    groups: int,
    backward: bool = False,
) -> bool:
    """The size rule of :func:`choose_algorithm` (without the device and ISA): True for
    ``groups == 1`` and any kernel with at most :data:`GEMM_MAX_POSITIONS` output positions,
    or, without ``backward``, a pointwise kernel of at most :data:`GEMM_MAX_POINTWISE_MACS`
    multiply-adds. With a weight gradient to compute (``backward``) oneDNN's pointwise
    convolution wins over the products at every size above that position count: forward
    and backward of the synthetic training step's Fast pathway layers on a 2-core AVX2 CPU,
    5.4 vs 3.2 ms (8 x 16x30x40, 16 -> 4 channels), 12.1 vs 3.4 ms (8 -> 16), 3.3 vs 2.5 ms
    on the Slow res4 (128 -> 32); equal on the widest (384 -> 512 at 8 x 4x8x10)."""
    if groups != 1:
        return False
    positions = _output_positions(x_shape, stride)
    pointwise = all(k == 1 for k in weight_shape[2:])
    macs = positions * weight_shape[0] * weight_shape[1]
    if pointwise and not backward and macs <= GEMM_MAX_POINTWISE_MACS:
        return True
    return positions <= GEMM_MAX_POSITIONS


class _SumTaps(torch.autograd.Function):
    """``out[:, o] = sum_a y[:, o + offset_a, ..., a-th block of C']`` over the valid frames.

    ``y``: (N, T, H, W, kt * C') per-frame products of every temporal tap; ``out``: (N, T', H,
    W, C'). The backward writes each tap's block of the gradient once (autograd's slice
    backward would allocate and zero a gradient of ``y``'s full size per tap)."""

    @staticmethod
    def forward(ctx, y, offsets, frames_out):
        n, t, h, w, c = y.shape
        co = c // len(offsets)
        out = y.new_zeros(n, frames_out, h, w, co)
        spans = []
        for a, off in enumerate(offsets):
            lo, hi = max(0, -off), min(frames_out, t - off)
            spans.append((lo, hi))
            if lo < hi:  # add_ on the slice (``+=`` would copy the slice onto itself after)
                out[:, lo:hi].add_(y[:, lo + off : hi + off, :, :, a * co : (a + 1) * co])
        ctx.meta = (y.shape, offsets, spans)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        shape, offsets, spans = ctx.meta
        co = shape[-1] // len(offsets)
        grad = grad_out.new_empty(shape)
        for a, (off, (lo, hi)) in enumerate(zip(offsets, spans)):
            block = grad[..., a * co : (a + 1) * co]
            first, last = (lo + off, hi + off) if lo < hi else (0, 0)
            block[:, :first].zero_()
            block[:, last:].zero_()
            if first < last:
                block[:, first:last] = grad_out[:, lo:hi]
        return grad, None, None


def taps_conv3d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> torch.Tensor:
    """``F.conv3d(x, weight, bias, stride, padding, dilation)`` (groups 1, temporal stride 1) of a
    ``channels_last_3d`` ``x`` as one 2D convolution of the ``N*T`` frames whose output channels
    are the ``kt`` temporal taps' (``kt * C'``), then a sum over taps of the frames each tap
    reaches (the temporal padding's frames are skipped). The same products as ``F.conv3d``, but
    oneDNN's 2D weight-gradient kernel does them (see :func:`choose_algorithm`).

    Args:
        x: (N, C, T, H, W), ``channels_last_3d``.
        weight: (C', C, kt, kh, kw).
        bias: (C',) or None.
    Returns:
        (N, C', T', H', W'), ``channels_last_3d``.
    """
    if stride[0] != 1:
        raise ValueError(f"taps_conv3d: temporal stride must be 1, got {stride[0]}")
    n, _, t, _, _ = x.shape
    co, ci, kt, kh, kw = weight.shape
    pt, dt = padding[0], dilation[0]
    frames = x.permute(0, 2, 3, 4, 1).flatten(0, 1).permute(0, 3, 1, 2)  # (N*T, C, H, W)
    stacked = weight.permute(2, 0, 1, 3, 4).reshape(kt * co, ci, kh, kw)  # rows (tap, C')
    y = F.conv2d(frames, stacked, None, stride[1:], padding[1:], dilation[1:])
    y = y.permute(0, 2, 3, 1).unflatten(0, (n, t))  # (N, T, H', W', kt * C')
    offsets = tuple(a * dt - pt for a in range(kt))
    out = _SumTaps.apply(y.contiguous(), offsets, t + 2 * pt - dt * (kt - 1))
    if bias is not None:
        out = out + bias
    return out.permute(0, 4, 1, 2, 3)


class _Subsample(torch.autograd.Function):
    """``x[:, :, ::st, ::sh, ::sw]`` of a ``channels_last_3d`` ``x``, as a ``channels_last_3d``
    tensor. The backward scatters into a channels-last zero gradient: autograd's slice backward
    builds it in the default layout, and the block's input gradient (its sum with the other
    branch's) then takes that layout, which makes every elementwise backward before it several
    times slower (mixed layouts)."""

    @staticmethod
    def forward(ctx, x, stride):
        ctx.meta = (x.shape, stride)
        st, sh, sw = stride
        return x[:, :, ::st, ::sh, ::sw].contiguous(memory_format=torch.channels_last_3d)

    @staticmethod
    def backward(ctx, grad):
        (n, c, t, h, w), (st, sh, sw) = ctx.meta
        full = grad.new_zeros(n, t, h, w, c).permute(0, 4, 1, 2, 3)  # channels_last_3d
        full[:, :, ::st, ::sh, ::sw] = grad
        return full, None


def _frames_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean over T of a ``channels_last_3d`` ``x``, over dim 1 of its (N, T, H, W, C) view."""
    return x.permute(0, 2, 3, 4, 1).mean(dim=1).permute(0, 3, 1, 2)


class _TemporalMean(torch.autograd.Function):
    """:func:`temporal_mean` of a ``channels_last_3d`` ``x`` whose backward returns a
    ``channels_last_3d`` gradient (the ROIAlign backward hands over (N, C, H, W) in the default
    layout; autograd's mean backward would pass that layout on to the ReLU backward before)."""

    @staticmethod
    def forward(ctx, x):
        ctx.frames = x.shape[2]
        return _frames_mean(x)

    @staticmethod
    def backward(ctx, grad):
        n, c, h, w = grad.shape
        per_frame = grad.permute(0, 2, 3, 1).div(ctx.frames)  # (N, H, W, C)
        full = per_frame.unsqueeze(1).expand(n, ctx.frames, h, w, c).contiguous()
        return full.permute(0, 4, 1, 2, 3)


def temporal_mean(x: torch.Tensor) -> torch.Tensor:
    """``x.mean(dim=2)``: (N, C, T, H, W) -> (N, C, H, W).

    On ``channels_last_3d`` input, PyTorch's CPU reduction over dim 2 is slow (tens of ms for a
    res5 map); averaging the ``(N, T, H, W, C)`` view over its dim 1 gives the same values
    (same summation order over T) in about a millisecond, and its gradient is channels-last too
    (:class:`_TemporalMean`; not while tracing, where export sees the plain ops).
    """
    if is_channels_last_3d(x):
        if x.requires_grad and torch.is_grad_enabled() and not torch.jit.is_tracing():
            return _TemporalMean.apply(x)
        return _frames_mean(x)
    return x.mean(dim=2)
