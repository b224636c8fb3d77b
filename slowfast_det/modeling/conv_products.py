"""Convolutions of ``channels_last_3d`` maps as matrix products: the CPU formulations that
:func:`slowfast_det.modeling.fast_ops.choose_algorithm` picks for small problems, where
oneDNN's fixed per-call work costs more than the arithmetic.

* :func:`gemm_conv3d`: one product per kernel tap with the input positions as rows, adding each
  into the outputs it reaches; the taps' products with the zero padding are skipped.
* :func:`im2col_conv3d`: one product of the ``(C', kt*kh*kw*C)`` weight with the im2col matrix
  of every output position, weight first. With a few dozen positions (the Slow pathway's res4 /
  res5 on small clips) the positions-first products of :func:`gemm_conv3d` leave the second
  thread of a 2-thread CPU idle or slower (32 rows do not split), and their many small calls
  each pay a fork / join; one product with ``C'`` rows splits well, at the price of the padding's
  products.

Both equal ``F.conv3d`` up to float rounding and are differentiable.
"""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = ["conv_output_shape", "gemm_conv3d", "im2col_conv3d"]


def conv_output_shape(
    size: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple:
    """The output extents of a convolution over the input extents ``size`` (per axis, e.g.
    (T, H, W)), as ``F.conv3d`` computes them."""
    return tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(size, kernel, stride, padding, dilation)
    )


def _valid_outputs(size: int, out: int, offset: int, stride: int) -> range:
    """The outputs ``o`` in ``range(out)`` whose input ``o * stride + offset`` is inside
    ``[0, size)`` (not padding)."""
    first = max(0, -(offset // stride)) if offset < 0 else 0
    last = min(out, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return range(first, max(first, last))


def gemm_conv3d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> torch.Tensor:
    """``F.conv3d(x, weight, bias, stride, padding, dilation)`` (groups 1) of a
    ``channels_last_3d`` ``x`` as matrix products on the ``(N, T, H, W, C)`` view.

    A pointwise kernel is one product (no copy at stride 1). Any other kernel is a sum over its
    ``kt * kh * kw`` taps, each tap's ``(C', C)`` matrix times the input positions it reaches,
    added to the outputs it contributes to; the positions a tap would take from the zero padding
    are skipped. On small maps that is most of the work of a padded kernel: a 3x1x1 kernel on 2
    frames reads padding in 2 of its 6 (frame, tap) pairs, a 3x3 kernel with dilation 2 on a
    4x4 map in 80 of 144 (the Slow res4 / res5 of an 8-frame 64 px clip).

    Args:
        x: (N, C, T, H, W), ``channels_last_3d``.
        weight: (C', C, kt, kh, kw); read without a copy when ``channels_last_3d``.
        bias: (C',) or None.
    Returns:
        (N, C', T', H', W'), ``channels_last_3d``.
    """
    n, _, t, h, w = x.shape
    co, _, kt, kh, kw = weight.shape
    (st, sh, sw), (pt, ph, pw), (dt, dh, dw) = stride, padding, dilation
    to, ho, wo = conv_output_shape((t, h, w), (kt, kh, kw), stride, padding, dilation)
    v = x.permute(0, 2, 3, 4, 1)  # (N, T, H, W, C), contiguous
    taps = weight.permute(0, 2, 3, 4, 1)  # (C', kt, kh, kw, C)
    if kt * kh * kw == 1 and not (pt or ph or pw):
        cols = v[:, ::st, ::sh, ::sw]
        y = F.linear(cols.reshape(-1, cols.shape[-1]), taps.reshape(co, -1), bias)
        return y.view(n, to, ho, wo, co).permute(0, 4, 1, 2, 3)
    taps = taps.contiguous()  # no copy for a channels-last weight
    y = v.new_zeros(n, to, ho, wo, co) if bias is None else bias.expand(n, to, ho, wo, co).clone()
    for a in range(kt):
        rt = _valid_outputs(t, to, a * dt - pt, st)
        for b in range(kh):
            rh = _valid_outputs(h, ho, b * dh - ph, sh)
            for c in range(kw):
                rw = _valid_outputs(w, wo, c * dw - pw, sw)
                if not (rt and rh and rw):
                    continue
                src = v[
                    :,
                    rt.start * st + a * dt - pt : (rt.stop - 1) * st + a * dt - pt + 1 : st,
                    rh.start * sh + b * dh - ph : (rh.stop - 1) * sh + b * dh - ph + 1 : sh,
                    rw.start * sw + c * dw - pw : (rw.stop - 1) * sw + c * dw - pw + 1 : sw,
                ]
                # One 2D product (a strided 5D view would go to a batched one that reads the
                # weight once per batch row).
                part = F.linear(src.reshape(-1, src.shape[-1]), taps[:, a, b, c])
                y[:, rt.start : rt.stop, rh.start : rh.stop, rw.start : rw.stop] += part.view(
                    n, len(rt), len(rh), len(rw), co
                )
    return y.permute(0, 4, 1, 2, 3)


def im2col_conv3d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> torch.Tensor:
    """``F.conv3d(x, weight, bias, stride, padding, dilation)`` (groups 1) of a
    ``channels_last_3d`` ``x`` as one product, weight first: ``(C', K) @ (K, P)`` for the ``P``
    output positions and ``K = kt*kh*kw*C`` (the padded input unfolded, in the order of a
    ``channels_last_3d`` weight's memory; a pointwise kernel at stride 1 reads the input
    without a copy), then the ``(C', P)`` result transposed into ``channels_last_3d``.

    Args:
        x: (N, C, T, H, W), ``channels_last_3d``.
        weight: (C', C, kt, kh, kw); read without a copy when ``channels_last_3d``.
        bias: (C',) or None.
    Returns:
        (N, C', T', H', W'), ``channels_last_3d``.
    """
    n, c = x.shape[:2]
    co, _, kt, kh, kw = weight.shape
    (st, sh, sw), (pt, ph, pw), (dt, dh, dw) = stride, padding, dilation
    v = x.permute(0, 2, 3, 4, 1)  # (N, T, H, W, C), contiguous
    if pt or ph or pw:
        v = F.pad(v, (0, 0, pw, pw, ph, ph, pt, pt))
    # (N, T', H', W', C, kt, kh, kw): each output position's receptive field, a view
    cols = v.unfold(1, dt * (kt - 1) + 1, st).unfold(2, dh * (kh - 1) + 1, sh)
    cols = cols.unfold(3, dw * (kw - 1) + 1, sw)[..., ::dt, ::dh, ::dw]
    to, ho, wo = cols.shape[1:4]
    cols = cols.permute(0, 1, 2, 3, 5, 6, 7, 4).reshape(n * to * ho * wo, kt * kh * kw * c)
    rows = weight.permute(0, 2, 3, 4, 1).reshape(co, -1)  # (C', kt*kh*kw*C)
    if bias is None:
        y = torch.mm(rows, cols.t())
    else:
        y = torch.addmm(bias[:, None], rows, cols.t())
    y = y.t().contiguous().view(n, to, ho, wo, co)
    return y.permute(0, 4, 1, 2, 3)
