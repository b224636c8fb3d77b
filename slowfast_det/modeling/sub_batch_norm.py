"""BatchNorm whose training statistics are taken over a fixed number of clips, whatever the
batch: multigrid training's batches grow 16-fold while the clips shrink, and BN over the whole
batch would change the statistics with them (Wu et al., CVPR 2020, sec. 3.3; PySlowFast's
``SubBatchNorm3d`` and its SyncBN switch).

:class:`GroupedBatchNorm3d` is an ``nn.BatchNorm3d`` (same parameters, buffers and state-dict
keys, the same eval-mode behaviour); in training a batch of ``N`` clips (one process) is
normalised in consecutive groups of ``group_size`` clips, each with its own mean and
variance. When a process holds fewer than ``group_size`` clips (``N < G``, ``G % N == 0``),
the statistics are summed over ``G / N`` consecutive ranks (a differentiable all-reduce over
their process group, CPU or GPU), so ``W`` processes of ``B / W`` clips normalise the same
groups of clips as one process of ``B`` when ranks hold consecutive slices of the batch.

Running statistics: the mean of the groups' means and the pooled variance (mean of the
groups' variances plus the variance of their means) over the groups of every process,
updated once per step with ``momentum``; with one group this is ``nn.BatchNorm3d``'s update.
"""

import logging
from typing import Dict, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .batch_norm import BatchNorm3d

__all__ = ["GroupedBatchNorm3d", "convert_to_grouped_bn"]

logger = logging.getLogger(__name__)

_RANK_GROUPS: Dict[int, object] = {}  # ranks per BN group -> this rank's process group
_warned = set()


def _warn_once(key, msg, *args):
    if key not in _warned:
        _warned.add(key)
        logger.warning(msg, *args)


def _rank_group(ranks_per_group: int):
    """This rank's process group of ``ranks_per_group`` consecutive ranks (created on first
    use; every rank reaches the same BN layer with the same batch, so all create it)."""
    if ranks_per_group not in _RANK_GROUPS:
        world, rank = dist.get_world_size(), dist.get_rank()
        mine = None
        for first in range(0, world, ranks_per_group):
            group = dist.new_group(list(range(first, first + ranks_per_group)))
            if first <= rank < first + ranks_per_group:
                mine = group
        _RANK_GROUPS[ranks_per_group] = mine
    return _RANK_GROUPS[ranks_per_group]


class GroupedBatchNorm3d(BatchNorm3d):
    """``nn.BatchNorm3d`` with training statistics over groups of ``group_size`` clips (see
    the module doc). Input and output ``(N, C, T, H, W)``, any memory format."""

    def __init__(self, num_features, group_size: int, **kwargs):
        super().__init__(num_features, **kwargs)
        self.group_size = int(group_size)

    def extra_repr(self):
        return super().extra_repr() + f", group_size={self.group_size}"

    def forward(self, x):
        n, g = x.shape[0], self.group_size
        if not self.training or not self.track_running_stats or g <= 0 or n == g:
            return super().forward(x)
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if n > g:
            if n % g:
                _warn_once(
                    ("ragged", n, g), "BN groups of %d clips: a batch of %d ends short", g, n
                )
            return self._local_groups(x)
        if world > 1 and g % n == 0 and world % (g // n) == 0:
            return self._across_ranks(x, _rank_group(g // n))
        _warn_once(
            ("small", n, g),
            "BN statistics over %d clips per process (fewer than the %d asked for; no %d "
            "consecutive ranks to share them with)",
            n,
            g,
            max(1, g // n),
        )
        return super().forward(x)

    def _update_running(self, means: torch.Tensor, variances: torch.Tensor, count: int):
        """``means`` / ``variances`` (biased): (k, C), per group; ``count``: the values per
        channel in the k groups together. In a multi-process run the statistics are pooled
        over every rank's groups (one all-reduce of 2C + 2 numbers), so the buffers are the
        one-process run's on every rank."""
        with torch.no_grad():
            k = torch.tensor([means.shape[0], count], dtype=means.dtype, device=means.device)
            stats = torch.cat([means.sum(0), (variances + means.pow(2)).sum(0), k])
            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                dist.all_reduce(stats)
            c = means.shape[1]
            groups, total = stats[-2], stats[-1]
            mean = stats[:c] / groups
            var = stats[c : 2 * c] / groups - mean.pow(2)
            var = var * total / (total - 1).clamp(min=1)  # unbiased, as nn.BatchNorm3d keeps it
            self._update_running_stats(mean, var)

    def _local_groups(self, x):
        outs, means, variances = [], [], []
        for chunk in x.split(self.group_size):
            mean = torch.zeros_like(self.running_mean)
            var = torch.ones_like(self.running_var)
            # momentum 1: the scratch buffers receive this group's mean and unbiased variance
            outs.append(F.batch_norm(chunk, mean, var, self.weight, self.bias, True, 1.0, self.eps))
            count = chunk.numel() // chunk.shape[1]
            means.append(mean)
            variances.append(var * (count - 1) / count)
        self._update_running(torch.stack(means), torch.stack(variances), x.numel() // x.shape[1])
        return torch.cat(outs)

    def _across_ranks(self, x, group):
        from torch.distributed.nn.functional import all_reduce

        dims = (0, 2, 3, 4)
        # statistics in float32 under autocast too: a float16 / bfloat16 sum over a batch's
        # positions loses the count and can overflow (float16); the output is float32
        x = x.float()
        numel = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        stats = all_reduce(torch.cat([x.sum(dims), numel]), group=group)
        count = stats[-1]
        mean = stats[:-1] / count
        centred = x - _per_channel(mean)
        var = all_reduce(centred.pow(2).sum(dims), group=group) / count
        out = centred * _per_channel(torch.rsqrt(var + self.eps))
        if self.affine:
            out = out * _per_channel(self.weight) + _per_channel(self.bias)
        local = x.numel() // x.shape[1]  # this rank's share: the all-reduce adds the others'
        self._update_running(mean.detach()[None], var.detach()[None], local)
        return out


def _per_channel(v: torch.Tensor) -> torch.Tensor:
    return v.view(1, -1, 1, 1, 1)


def convert_to_grouped_bn(module: nn.Module, group_size: int) -> Tuple[nn.Module, int]:
    """Replace every ``nn.BatchNorm3d`` of ``module`` (not SyncBatchNorm, not frozen ones) by a
    :class:`GroupedBatchNorm3d` with the same parameters and buffers; returns ``(module,
    number replaced)``. The state dict keys are unchanged."""
    replaced = 0
    for name, child in list(module.named_children()):
        if type(child) in (nn.BatchNorm3d, BatchNorm3d):
            new = GroupedBatchNorm3d(
                child.num_features,
                group_size,
                eps=child.eps,
                momentum=child.momentum,
                affine=child.affine,
                track_running_stats=child.track_running_stats,
            ).to(device=child.running_mean.device if child.running_mean is not None else None)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new)
            replaced += 1
        else:
            replaced += convert_to_grouped_bn(child, group_size)[1]
    return module, replaced
