"""Batch norm in training on ``channels_last_3d`` CPU features, as per-channel sums over the
``(N*T*H*W, C)`` view.

PyTorch's CPU batch norm on a channels-last tensor with few channels (the Fast pathway's 4-8)
is slow: 31 ms forward and 17 ms backward for the Fast stem's 8 x 4x16x60x80 map on a 2-core
AVX2 CPU, against ~1.5 ms for the statistics as column sums over a wide view of the same
memory plus a few elementwise passes.
:func:`batch_norm_nthwc` computes the same normalisation (the variance from centred values,
as PyTorch's), :class:`BatchNorm3d` uses it in training on such
inputs and keeps ``nn.BatchNorm3d``'s running-statistics update, parameters, buffers and
state-dict keys; every other case (eval, CUDA, contiguous input, tracing) is
``nn.BatchNorm3d``'s own.
"""

import torch
from torch import nn

__all__ = ["BatchNorm3d", "batch_norm_nthwc", "NTHWC_MAX_CHANNELS"]

#: :class:`BatchNorm3d` takes the column-sum path up to this many channels. Measured on a 2-core
#: AVX2 CPU (forward + backward, training): 58 -> 24 ms at 8 x 4x16x60x80, 10 -> 6 ms at
#: 8 x 8x16x30x40, but 5 -> 8 ms at 8 x 16x16x30x40 and slower still for wider maps, where
#: PyTorch's kernel vectorises over the channels.
NTHWC_MAX_CHANNELS = 8


def _column_sums(v: torch.Tensor) -> torch.Tensor:
    """Sums over the rows of the contiguous ``(M, C)`` matrix ``v``: (C,). Reduces a wider view
    (rows of ``r * C`` values) when ``M`` divides by ``r``: a column reduction over few,
    narrow columns is several times slower than over wide ones."""
    m, c = v.shape
    r = max(1, 64 // c)
    while r > 1 and m % r:
        r //= 2
    return v.reshape(m // r, r * c).sum(0).view(r, c).sum(0)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """The ``(N*T*H*W, C)`` view of a ``channels_last_3d`` ``x`` (N, C, T, H, W)."""
    return x.permute(0, 2, 3, 4, 1).reshape(-1, x.shape[1])


class _BatchNormNTHWC(torch.autograd.Function):
    """Takes and returns (N, C, T, H, W) ``channels_last_3d`` tensors and works on their
    ``(N*T*H*W, C)`` views. The output is a tensor of its own, not a view: an in-place op on a
    view output (the ReLU after the norm) makes autograd rebuild the gradient of the view's base
    in the default memory format (a zero-fill, two copies, then the ReLU's backward on mixed
    layouts, 8x slower than on one)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        x2 = _rows(x)
        m = x2.shape[0]
        mean = _column_sums(x2) / m
        xhat = x2 - mean  # two passes (mean, then centred squares): no E[x^2] - E[x]^2
        var = _column_sums(xhat.square()) / m
        invstd = torch.rsqrt(var + eps)
        xhat.mul_(invstd)
        y = torch.empty_like(x, memory_format=torch.channels_last_3d)
        if weight is None:
            _rows(y).copy_(xhat)
        else:
            torch.addcmul(bias, xhat, weight, out=_rows(y))
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad, _grad_mean, _grad_var):
        xhat, invstd, weight = ctx.saved_tensors
        m = xhat.shape[0]
        grad = grad.contiguous(memory_format=torch.channels_last_3d)
        g2 = _rows(grad)
        sum_dy = _column_sums(g2)
        sum_dy_xhat = _column_sums(g2 * xhat)
        a = invstd if weight is None else weight * invstd
        # dx = a * (dy - sum_dy / m - xhat * sum_dy_xhat / m)
        grad_x = torch.empty_like(grad, memory_format=torch.channels_last_3d)
        gx2 = _rows(grad_x)
        torch.addcmul(-a * sum_dy / m, xhat, -a * sum_dy_xhat / m, out=gx2)
        gx2.addcmul_(g2, a)
        if weight is None:
            return grad_x, None, None, None
        return grad_x, sum_dy_xhat, sum_dy, None


def batch_norm_nthwc(x, weight=None, bias=None, eps: float = 1e-5):
    """Training-mode batch norm of a ``channels_last_3d`` ``x`` (N, C, T, H, W) with batch
    statistics. Returns ``(y, mean, var)``: ``y`` (N, C, T, H, W), ``channels_last_3d`` (a
    tensor of its own, not a view); the per-channel mean and biased variance (C,), without
    gradient."""
    y, mean, var = _BatchNormNTHWC.apply(x, weight, bias, eps)
    return y, mean.detach(), var.detach()


class BatchNorm3d(nn.BatchNorm3d):
    """``nn.BatchNorm3d`` that normalises ``channels_last_3d`` CPU input of at most
    :data:`NTHWC_MAX_CHANNELS` channels in training with :func:`batch_norm_nthwc` (see the
    module doc); same parameters, buffers, running-statistics update and state dict."""

    def forward(self, x):
        fast = (
            self.training
            and self.track_running_stats
            and x.device.type == "cpu"
            and x.dim() == 5
            and x.shape[1] <= NTHWC_MAX_CHANNELS
            and x.shape[0] * x.shape[2] * x.shape[3] * x.shape[4] > 1
            and x.is_contiguous(memory_format=torch.channels_last_3d)
            and not torch.jit.is_tracing()
            and not torch.jit.is_scripting()
        )
        if not fast:
            return super().forward(x)
        # Under autocast (SOLVER.AMP on a CPU) the map is bfloat16: the statistics and the
        # output in float32 (as PyTorch's kernel accumulates), not rounded to 8 bits.
        y, mean, var = batch_norm_nthwc(x.float(), self.weight, self.bias, self.eps)
        count = x.numel() // x.shape[1]
        self._update_running_stats(mean, var * (count / (count - 1)))
        return y

    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        """One step of ``nn.BatchNorm3d``'s running-statistics update with this batch's
        per-channel ``mean`` and unbiased ``var`` (C,): ``num_batches_tracked`` + 1, then the
        exponential average with ``momentum`` (``None``: the cumulative average)."""
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum
            if m is None:
                m = 1.0 / float(self.num_batches_tracked)
            self.running_mean.mul_(1 - m).add_(mean, alpha=m)
            self.running_var.mul_(1 - m).add_(var, alpha=m)
