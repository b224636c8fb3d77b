"""The 3D ResNet building blocks that :mod:`slowfast_det.modeling.backbone` assembles into
SlowFast: the stem, the bottleneck block, the Fast-to-Slow lateral fusion, and the stage that
runs every pathway's blocks (optionally with activation checkpointing) and then the fusion.

Shapes and the architecture they make up are described in
:mod:`slowfast_det.modeling.backbone`; the submodule names here (``conv``, ``conv1``..``conv3``,
``shortcut``, ``pathway0``, ``fuse``, ...) are the state-dict names converted checkpoints use.
"""

import contextlib
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .layers import Conv3d, get_norm3d, init_trainable_norm_

__all__ = ["Stem3d", "BottleneckBlock3d", "FastToSlowFusion", "MultiPathwayStage"]


def _msra_fill_(conv: nn.Conv3d) -> None:
    """Kaiming-normal (fan_out) weights and zero bias, as Caffe2's MSRAFill (PySlowFast init)."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class Stem3d(nn.Module):
    """ResNet stem of one pathway: conv ``kt x 7 x 7`` stride ``(1, 2, 2)`` + norm + ReLU,
    then (optionally) max-pool ``1 x 3 x 3`` stride ``(1, 2, 2)``.

    Input ``(N, C_in, T, H, W)`` -> ``(N, C_out, T, H/4, W/4)`` (``H/2`` without the pool).
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, temporal_kernel: int, pool: bool, norm: str
    ):
        super().__init__()
        self.conv = Conv3d(
            in_channels,
            out_channels,
            kernel_size=(temporal_kernel, 7, 7),
            stride=(1, 2, 2),
            padding=(temporal_kernel // 2, 3, 3),
            bias=False,
            norm=get_norm3d(norm, out_channels),
            activation=F.relu_,
        )
        self.pool = (
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
            if pool
            else None
        )
        self.stride = 4 if pool else 2
        _msra_fill_(self.conv)
        init_trainable_norm_(self.conv.norm, 1.0)

    def forward(self, x):
        x = self.conv(x)
        return self.pool(x) if self.pool is not None else x


class BottleneckBlock3d(nn.Module):
    """3D bottleneck residual block: ``kt x 1 x 1`` -> ``1 x 3 x 3`` (stride, dilation, groups)
    -> ``1 x 1 x 1``, plus a ``1 x 1 x 1`` projection shortcut when the shape changes.

    Input ``(N, C_in, T, H, W)`` -> ``(N, C_out, T, H/s, W/s)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        bottleneck_channels: int,
        temporal_kernel: int,
        stride: int,
        dilation: int,
        num_groups: int,
        norm: str,
        zero_init_final_norm: bool,
    ):
        super().__init__()
        if in_channels != out_channels or stride != 1:
            self.shortcut = Conv3d(
                in_channels,
                out_channels,
                kernel_size=1,
                stride=(1, stride, stride),
                bias=False,
                norm=get_norm3d(norm, out_channels),
            )
        else:
            self.shortcut = None
        self.conv1 = Conv3d(
            in_channels,
            bottleneck_channels,
            kernel_size=(temporal_kernel, 1, 1),
            padding=(temporal_kernel // 2, 0, 0),
            bias=False,
            norm=get_norm3d(norm, bottleneck_channels),
            activation=F.relu_,
        )
        self.conv2 = Conv3d(
            bottleneck_channels,
            bottleneck_channels,
            kernel_size=(1, 3, 3),
            stride=(1, stride, stride),
            padding=(0, dilation, dilation),
            dilation=(1, dilation, dilation),
            groups=num_groups,
            bias=False,
            norm=get_norm3d(norm, bottleneck_channels),
            activation=F.relu_,
        )
        self.conv3 = Conv3d(
            bottleneck_channels,
            out_channels,
            kernel_size=1,
            bias=False,
            norm=get_norm3d(norm, out_channels),
        )
        for conv in (self.conv1, self.conv2, self.conv3, self.shortcut):
            if conv is not None:
                _msra_fill_(conv)
                init_trainable_norm_(conv.norm, 1.0)
        if zero_init_final_norm:
            init_trainable_norm_(self.conv3.norm, 0.0)

    def forward(self, x):
        out = self.conv3(self.conv2(self.conv1(x)))
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out.add_(shortcut))  # in place: no new activation-sized buffer


class FastToSlowFusion(nn.Module):
    """Lateral connection: Conv3d ``k x 1 x 1`` with temporal stride ``alpha`` on the Fast
    features (``C_f`` -> ``ratio * C_f`` channels), norm, ReLU, concatenated onto Slow.

    ``[slow (N, C_s, T/alpha, H, W), fast (N, C_f, T, H, W)]`` ->
    ``[(N, C_s + ratio * C_f, T/alpha, H, W), fast]``.
    """

    def __init__(
        self, fast_channels: int, *, channel_ratio: int, kernel_size: int, alpha: int, norm: str
    ):
        super().__init__()
        out_channels = fast_channels * channel_ratio
        self.alpha = alpha
        self.conv = Conv3d(
            fast_channels,
            out_channels,
            kernel_size=(kernel_size, 1, 1),
            stride=(alpha, 1, 1),
            padding=(kernel_size // 2, 0, 0),
            bias=False,
            norm=get_norm3d(norm, out_channels),
            activation=F.relu_,
        )
        _msra_fill_(self.conv)
        init_trainable_norm_(self.conv.norm, 1.0)

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        slow, fast = x
        lateral = self.conv(fast)
        if lateral.shape[2:] != slow.shape[2:]:
            raise ValueError(
                f"SlowFast lateral connection: the Fast pathway (T={fast.shape[2]}) gives "
                f"T={lateral.shape[2]} after the stride-{self.alpha} conv but the Slow pathway "
                f"has T={slow.shape[2]} (feature sizes {tuple(lateral.shape[2:])} vs "
                f"{tuple(slow.shape[2:])}); the Slow clip must hold T_fast / ALPHA frames."
            )
        return [torch.cat([slow, lateral], dim=1), fast]


class MultiPathwayStage(nn.Module):
    """One stage (stem or res2..res5) of every pathway, then the optional lateral fusion.

    Submodules: ``pathway0`` [, ``pathway1``] and ``fuse`` (None after res5 and for
    single-pathway models). Input and output: list of per-pathway ``(N, C, T, H, W)``.
    """

    def __init__(self, pathways: Sequence[nn.Module], fuse: Optional[nn.Module]):
        super().__init__()
        self.num_pathways = len(pathways)
        for i, module in enumerate(pathways):
            self.add_module(f"pathway{i}", module)
        self.fuse = fuse

    def forward(
        self, x: List[torch.Tensor], activation_checkpoint: bool = False
    ) -> List[torch.Tensor]:
        """With ``activation_checkpoint``, each block of a pathway (a bottleneck or non-local
        block; the stem as a whole) and the fusion keep only their input for backward and
        recompute the rest there."""
        out = []
        for i, t in enumerate(x):
            pathway = getattr(self, f"pathway{i}")
            if activation_checkpoint and isinstance(pathway, nn.Sequential):
                for block in pathway:
                    t = _checkpointed(block, t)
            else:
                t = _checkpointed(pathway, t) if activation_checkpoint else pathway(t)
            out.append(t)
        if self.fuse is None:
            return out
        return _checkpointed(self.fuse, out) if activation_checkpoint else self.fuse(out)


def _checkpointed(module: nn.Module, x):
    """``module(x)`` that stores only ``x`` for backward and re-runs ``module`` there."""
    return checkpoint(
        module,
        x,
        use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(), _keep_batchnorm_buffers(module)),
    )


@contextlib.contextmanager
def _keep_batchnorm_buffers(module: nn.Module):
    """Restore every batch norm's running statistics on exit, so that the forward pass that
    activation checkpointing re-runs during backward does not update them a second time."""
    saved = [
        (
            m,
            m.running_mean.clone(),
            m.running_var.clone(),
            None if m.num_batches_tracked is None else m.num_batches_tracked.clone(),
        )
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, mean, var, count in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                if count is not None:
                    m.num_batches_tracked.copy_(count)
