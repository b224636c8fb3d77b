"""Detectron2's SimpleTrainer / AMPTrainer with a collective guard against a diverged step.

Detectron2 checks the loss only on the main process and only after the backward pass (its
metric writer raises ``FloatingPointError``); in a multi-process run the other ranks then
wait forever in the next all-reduce. Here every rank checks its own losses, and the ranks
agree through one all-reduce of a flag vector before the optimizer step: either every rank
goes on, or every rank stops with :class:`NonFiniteLossError` (or, when asked, skips the
update). Non-finite gradients with finite losses (fp32) are treated the same way; they are
identical on all ranks after DDP's all-reduce, so no extra communication is needed.
"""
import logging
from typing import Dict, List, Mapping, Optional

import torch
import torch.distributed as dist
from detectron2.engine import AMPTrainer, SimpleTrainer
from detectron2.utils import comm
from detectron2.utils.events import get_event_storage

__all__ = ["NonFiniteLossError", "GuardedSimpleTrainer", "GuardedAMPTrainer", "nonfinite_loss_ranks"]

logger = logging.getLogger(__name__)

#: EventStorage scalar counting skipped updates (``SOLVER.STOP_ON_NONFINITE_LOSS False``).
SKIPPED_STEPS_KEY = "nonfinite_skipped_steps"


class NonFiniteLossError(FloatingPointError):
    """Training diverged: the loss (or the gradients) became NaN or infinite.

    Attributes:
        iteration: the training iteration whose loss was not finite.
        losses: this rank's loss values at that iteration.
        ranks: ranks whose loss was not finite ([] when only the gradients were).
        last_checkpoint: the last checkpoint written before (set by the trainer; None: none).
    """

    def __init__(self, iteration: int, losses: Dict[str, float], ranks: List[int], last_checkpoint: Optional[str] = None):
        super().__init__()
        self.iteration = iteration
        self.losses = losses
        self.ranks = ranks
        self.last_checkpoint = last_checkpoint

    def __str__(self):
        values = ", ".join(f"{k}={v}" for k, v in self.losses.items())
        what = f"non-finite loss on rank(s) {self.ranks}" if self.ranks else "non-finite gradients (finite loss)"
        last = self.last_checkpoint or "none (no checkpoint was written before the failure)"
        return (
            f"training stopped at iteration {self.iteration}: {what} (this rank: {values}). No checkpoint "
            f"was written from the diverged state. Last good checkpoint: {last}. To go on, lower "
            "SOLVER.BASE_LR (or check the data) and restart with --resume from that checkpoint."
        )


def nonfinite_loss_ranks(loss_dict: Mapping[str, torch.Tensor]) -> List[int]:
    """Ranks whose losses are not all finite (a collective call: every rank must make it).

    One all-reduce of a ``world_size`` flag vector on the losses' device.
    """
    bad = not all(bool(torch.isfinite(v).all()) for v in loss_dict.values())
    world = comm.get_world_size()
    if world == 1:
        return [0] if bad else []
    device = next(iter(loss_dict.values())).device
    flags = torch.zeros(world, dtype=torch.int32, device=device)
    flags[comm.get_rank()] = int(bad)
    dist.all_reduce(flags)
    return [r for r, f in enumerate(flags.tolist()) if f]


def _any_rank(flag: bool, device) -> bool:
    """True on every rank if ``flag`` is True on any rank (collective)."""
    if comm.get_world_size() == 1:
        return flag
    t = torch.tensor([int(flag)], dtype=torch.int32, device=device)
    dist.all_reduce(t)
    return bool(t.item())


def _buffers_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(b).all()) for b in model.buffers() if b.is_floating_point())


def _grads_finite(optimizer: torch.optim.Optimizer) -> bool:
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return True
    norms = torch._foreach_norm(grads)
    return bool(torch.isfinite(torch.stack(norms)).all())


class _NonFiniteGuard:
    """Mixin for SimpleTrainer / AMPTrainer: check before the optimizer step.

    ``run_step`` calls ``_write_metrics(loss_dict, ...)`` on every rank after the backward
    pass and before ``optimizer.step()``; the check runs there. On a non-finite loss (or,
    in fp32, non-finite gradients): with ``stop=True`` raise :class:`NonFiniteLossError` on
    every rank; with ``stop=False`` drop the gradients (the optimizer then leaves every
    parameter and its momentum untouched), log a warning, count the step in the
    ``nonfinite_skipped_steps`` scalar and go on, unless the forward pass already made a
    buffer (BatchNorm statistics) non-finite on some rank: then stop as with ``stop=True``.
    """

    check_grads = True

    def _drop_update(self):
        """Make the coming optimizer step a no-op: without gradients SGD / Adam skip every
        parameter (weights and momentum stay as they are)."""
        self.optimizer.zero_grad(set_to_none=True)

    def _init_guard(self, stop: bool):
        if self.async_write_metrics:
            raise ValueError("the non-finite guard needs async_write_metrics=False (it runs before the optimizer step)")
        self.stop_on_nonfinite = stop
        self.skipped_steps = 0

    def _write_metrics(self, loss_dict, data_time, prefix="", iter=None):
        iteration = self.iter if iter is None else iter
        ranks = nonfinite_loss_ranks(loss_dict)
        grads_bad = not ranks and self.check_grads and not _grads_finite(self.optimizer)
        if not ranks and not grads_bad:
            return super()._write_metrics(loss_dict, data_time, prefix=prefix, iter=iter)
        losses = {k: float(v.detach().float().cpu()) for k, v in loss_dict.items()}
        if self.stop_on_nonfinite:
            raise NonFiniteLossError(iteration, losses, ranks)
        if _any_rank(not _buffers_finite(self.model), list(loss_dict.values())[0].device):
            # the forward pass already put non-finite values into BatchNorm statistics (kept per
            # rank): dropping the update cannot undo that, so stop
            raise NonFiniteLossError(iteration, losses, ranks)
        self._drop_update()
        self.skipped_steps += 1
        logger.warning(
            "iteration %d: %s (%s); the update is skipped (SOLVER.STOP_ON_NONFINITE_LOSS is False; "
            "%d step(s) skipped so far)",
            iteration, f"non-finite loss on rank(s) {ranks}" if ranks else "non-finite gradients",
            ", ".join(f"{k}={v}" for k, v in losses.items()), self.skipped_steps,
        )
        if comm.is_main_process():
            get_event_storage().put_scalar(SKIPPED_STEPS_KEY, self.skipped_steps, smoothing_hint=False, cur_iter=iteration)


class GuardedSimpleTrainer(_NonFiniteGuard, SimpleTrainer):
    """:class:`SimpleTrainer` that stops (or skips the update) on a non-finite loss or gradient.

    Args:
        model, data_loader, optimizer: as SimpleTrainer.
        stop_on_nonfinite: raise :class:`NonFiniteLossError` (True) or skip the update (False).
    """

    def __init__(self, model, data_loader, optimizer, *, stop_on_nonfinite: bool = True):
        super().__init__(model, data_loader, optimizer)
        self._init_guard(stop_on_nonfinite)


class GuardedAMPTrainer(_NonFiniteGuard, AMPTrainer):
    """:class:`AMPTrainer` that stops (or skips the update) on a non-finite loss.

    Gradients are not checked: with a float16 loss scale, overflowing gradients are normal
    and the grad scaler already skips those steps.
    """

    check_grads = False

    def _drop_update(self):
        """Make every gradient NaN: the grad scaler then skips the step (and lowers its scale)."""
        grads = [p.grad for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        if grads:
            torch._foreach_mul_(grads, float("nan"))

    def __init__(self, model, data_loader, optimizer, *, stop_on_nonfinite: bool = True, **kwargs):
        super().__init__(model, data_loader, optimizer, **kwargs)
        self._init_guard(stop_on_nonfinite)
