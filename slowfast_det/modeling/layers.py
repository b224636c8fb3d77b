"""3D building blocks shared by the SlowFast backbone: convolution with norm, 3D norms,
the non-local block.

Tensors are video feature maps ``(N, C, T, H, W)`` unless stated otherwise.
"""

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.layers import FrozenBatchNorm2d
from torch import nn

from . import fast_ops
from .batch_norm import BatchNorm3d

__all__ = ["Conv3d", "FrozenBatchNorm3d", "get_norm3d", "NonLocalBlock3d", "NORM_TYPES"]

NORM_TYPES = ("BN", "SyncBN", "FrozenBN")


class FrozenBatchNorm3d(FrozenBatchNorm2d):
    """Detectron2's :class:`FrozenBatchNorm2d` for inputs of any rank ``(N, C, ...)``.

    Detectron2's version reshapes its scale to ``(1, C, 1, 1)``, which broadcasts
    wrongly against 5D video features when gradients are needed; this one reshapes
    to the input's rank. Buffers and checkpoint handling are inherited unchanged.
    """

    def forward(self, x):
        if x.requires_grad:
            scale = self.weight * (self.running_var + self.eps).rsqrt()
            bias = self.bias - self.running_mean * scale
            shape = (1, -1) + (1,) * (x.dim() - 2)
            return x * scale.reshape(shape).to(x.dtype) + bias.reshape(shape).to(x.dtype)
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=False,
            eps=self.eps,
        )

    def __repr__(self):
        return f"FrozenBatchNorm3d(num_features={self.num_features}, eps={self.eps})"


def get_norm3d(norm: str, channels: int) -> nn.Module:
    """A normalisation layer for ``(N, C, T, H, W)`` features.

    Args:
        norm: "BN" (``nn.BatchNorm3d``; :class:`~slowfast_det.modeling.batch_norm.BatchNorm3d`,
            faster in training on few channels), "SyncBN" (``nn.SyncBatchNorm``, which falls back to
            plain batch norm outside a multi-process group) or "FrozenBN" (fixed statistics
            and affine parameters, :class:`FrozenBatchNorm3d`).
        channels: number of channels C.
    """
    if norm == "BN":
        return BatchNorm3d(channels)
    if norm == "SyncBN":
        return nn.SyncBatchNorm(channels)
    if norm == "FrozenBN":
        return FrozenBatchNorm3d(channels)
    raise ValueError(f"MODEL.SLOWFAST.NORM must be one of {NORM_TYPES}, got {norm!r}")


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` followed by an optional norm layer (kept as the ``norm`` submodule)
    and an optional activation, in the style of :class:`detectron2.layers.Conv2d`.

    Input ``(N, C_in, T, H, W)``, output ``(N, C_out, T', H', W')``.

    Speed (same parameters, same state_dict, same results up to float rounding):

    * inputs in ``torch.channels_last_3d`` are convolved through
      :func:`slowfast_det.modeling.fast_ops.conv3d` (2D formulations on views);
    * with ``fold_norm = True`` (set by the backbone from
      ``MODEL.SLOWFAST.FOLD_BN_FOR_INFERENCE``), an eval-mode batch norm (or a frozen one) is
      folded into the convolution's weight and bias, so the norm pass over the output
      disappears. Training-mode batch norms are never folded.
    * in eval mode without weight gradients, the weight actually used (folded or not) is kept
      in the input's memory format, computed once: folding and converting every weight of a
      SlowFast R50 took about 85 ms a call, as long as a whole small-clip forward pass. The
      cache is dropped by ``train()`` / ``eval()`` and by ``load_state_dict``, and is keyed
      by the weight's storage, device, dtype and memory format (``.to()``, a new parameter);
      after editing weights in place in eval mode, call ``model.eval()`` again.
    """

    def __init__(
        self,
        *args,
        norm: Optional[nn.Module] = None,
        activation: Optional[Callable] = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation
        self.fold_norm = False
        self._inference_weights = None  # (key, weight, bias), see _weight_bias
        self.register_load_state_dict_post_hook(
            lambda module, incompatible: module.clear_inference_cache()
        )

    def clear_inference_cache(self):
        """Forget the eval-mode weights computed by the last inference call."""
        self._inference_weights = None

    def train(self, mode: bool = True):
        self.clear_inference_cache()
        return super().train(mode)

    def _folded_weight_bias(self):
        """``(weight, bias)`` with the norm folded in, or None if it must run separately."""
        norm = self.norm
        if not self.fold_norm or self.training or norm is None:
            return None
        foldable = isinstance(norm, FrozenBatchNorm2d) or (
            isinstance(norm, nn.modules.batchnorm._BatchNorm)
            and not norm.training
            and norm.running_mean is not None
        )
        if not foldable:
            return None
        # norm(y) = (y - mean) / sqrt(var + eps) * gamma + beta = y * scale + shift
        scale = (norm.running_var + norm.eps).rsqrt()
        if norm.weight is not None:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        if norm.bias is not None:
            shift = shift + norm.bias
        if self.bias is not None:
            shift = shift + self.bias * scale
        weight = self.weight * scale.reshape((-1,) + (1,) * (self.weight.dim() - 1)).to(
            self.weight.dtype
        )
        return weight, shift.to(self.weight.dtype)

    def _weight_bias(self, x):
        """``(weight, bias, folded)`` for this call: the norm folded in where allowed; in eval
        mode without weight gradients, cached in ``x``'s memory format."""
        cacheable = not self.training and not (
            torch.is_grad_enabled() and self.weight.requires_grad
        )
        if cacheable:
            fmt = (
                torch.channels_last_3d
                if fast_ops.is_channels_last_3d(x)
                else torch.contiguous_format
            )
            w = self.weight
            key = (w.data_ptr(), w.device, w.dtype, fmt, self.fold_norm)
            cached = self._inference_weights
            if cached is not None and cached[0] == key:
                return cached[1:]
        folded = self._folded_weight_bias()
        weight, bias = folded if folded is not None else (self.weight, self.bias)
        result = (weight, bias, folded is not None)
        if cacheable:
            with torch.no_grad():
                result = (weight.contiguous(memory_format=fmt), bias, folded is not None)
            self._inference_weights = (key,) + result
        return result

    def forward(self, x):
        weight, bias, folded = self._weight_bias(x)
        if self.padding_mode != "zeros":
            x = self._conv_forward(x, weight, bias)
        else:
            x = fast_ops.conv3d(
                x, weight, bias, self.stride, self.padding, self.dilation, self.groups
            )
        if self.norm is not None and not folded:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


def init_trainable_norm_(norm: Optional[nn.Module], value: float) -> None:
    """Set the scale of a trainable batch norm to ``value`` and its shift to 0 (frozen norms
    keep their identity buffers until a checkpoint fills them)."""
    if isinstance(norm, nn.modules.batchnorm._BatchNorm) and norm.affine:
        nn.init.constant_(norm.weight, value)
        nn.init.zeros_(norm.bias)


class NonLocalBlock3d(nn.Module):
    """Non-local block (Wang et al., CVPR 2018) as used in the SlowFast R101 AVA models.

    ``y = x + BN(W_out(f(theta(x), phi(x')) g(x')))`` with ``x'`` = ``x`` max-pooled by
    ``pool_size``; ``f`` is the dot product divided by the number of key positions
    ("dot_product") or a softmax of the dot product scaled by ``inner_channels ** -0.5``
    ("softmax"). Input and output ``(N, C, T, H, W)``.
    """

    def __init__(
        self,
        channels: int,
        inner_channels: int,
        *,
        pool_size: Sequence[int],
        instantiation: str,
        norm: str,
        zero_init_final_norm: bool = True,
    ):
        super().__init__()
        if instantiation not in ("dot_product", "softmax"):
            raise ValueError(
                "MODEL.SLOWFAST.NONLOCAL_INSTANTIATION must be 'dot_product' or 'softmax', "
                f"got {instantiation!r}"
            )
        self.inner_channels = inner_channels
        self.instantiation = instantiation
        self.conv_theta = nn.Conv3d(channels, inner_channels, kernel_size=1)
        self.conv_phi = nn.Conv3d(channels, inner_channels, kernel_size=1)
        self.conv_g = nn.Conv3d(channels, inner_channels, kernel_size=1)
        self.conv_out = Conv3d(
            inner_channels, channels, kernel_size=1, norm=get_norm3d(norm, channels)
        )
        pool_size = tuple(int(p) for p in pool_size)
        self.pool = (
            nn.MaxPool3d(kernel_size=pool_size, stride=pool_size)
            if any(p > 1 for p in pool_size)
            else None
        )
        for conv in (self.conv_theta, self.conv_phi, self.conv_g, self.conv_out):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        init_trainable_norm_(self.conv_out.norm, 0.0 if zero_init_final_norm else 1.0)

    def forward(self, x):
        n, _, t, h, w = x.shape
        theta = self.conv_theta(x).flatten(2)  # (N, Ci, THW)
        kv = self.pool(x) if self.pool is not None else x
        phi = self.conv_phi(kv).flatten(2)  # (N, Ci, T'H'W')
        g = self.conv_g(kv).flatten(2)  # (N, Ci, T'H'W')
        affinity = torch.einsum("nct,ncp->ntp", theta, phi)  # (N, THW, T'H'W')
        if self.instantiation == "softmax":
            affinity = F.softmax(affinity * self.inner_channels**-0.5, dim=2)
        else:
            affinity = affinity / affinity.shape[2]
        y = torch.einsum("ntp,ncp->nct", affinity, g)  # (N, Ci, THW)
        y = y.reshape(n, self.inner_channels, t, h, w)
        return x + self.conv_out(y)
