"""A collective guard against a diverged step for Detectron2's SimpleTrainer / AMPTrainer.

Detectron2 checks the loss only on the main process and only after the backward pass (its
metric writer raises ``FloatingPointError``); in a multi-process run the other ranks then
wait forever in the next all-reduce. Here every rank checks its own losses, and the ranks
agree through one all-reduce of a flag vector right after the forward pass: either every
rank goes on, or every rank stops with :class:`NonFiniteLossError` (or, when asked, skips
the update). Non-finite gradients with finite losses (fp32) are treated the same way; they
are identical on all ranks after DDP's all-reduce, so no extra communication is needed.

Two public extension points of ``SimpleTrainer`` carry it (its ``run_step`` suggests
wrapping the model to do something with the losses, and calls the hooks' ``after_backward``
between the backward pass and the optimizer step)::

    guard = NonFiniteGuard(stop=True)
    trainer = SimpleTrainer(guard.wrap(model), data_loader, optimizer)   # or AMPTrainer
    trainer.register_hooks([guard])

A step whose update the guard drops ends with :class:`UpdateSkipped` from
``after_backward``, before the metric writer and the optimizer step; the loop that runs the
step catches it and goes on (:class:`~slowfast_det.engine.trainer.AVATrainer` does).
"""

import logging
from typing import Dict, List, Mapping, Optional

import torch
import torch.distributed as dist
from detectron2.engine import HookBase
from detectron2.utils import comm
from detectron2.utils.events import get_event_storage

__all__ = [
    "NonFiniteLossError",
    "UpdateSkipped",
    "NonFiniteGuard",
    "LossCheck",
    "nonfinite_loss_ranks",
]

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

    def __init__(
        self,
        iteration: int,
        losses: Dict[str, float],
        ranks: List[int],
        last_checkpoint: Optional[str] = None,
    ):
        super().__init__()
        self.iteration = iteration
        self.losses = losses
        self.ranks = ranks
        self.last_checkpoint = last_checkpoint

    def __str__(self):
        values = ", ".join(f"{k}={v}" for k, v in self.losses.items())
        what = (
            f"non-finite loss on rank(s) {self.ranks}"
            if self.ranks
            else "non-finite gradients (finite loss)"
        )
        last = self.last_checkpoint or "none (no checkpoint was written before the failure)"
        return (
            f"training stopped at iteration {self.iteration}: {what} (this rank: {values}). No "
            f"checkpoint was written from the diverged state. Last good checkpoint: {last}. To go "
            "on, lower SOLVER.BASE_LR (or check the data) and restart with --resume from that "
            "checkpoint."
        )


class UpdateSkipped(Exception):
    """The guard dropped this step's update (``stop=False``): raised by
    :meth:`NonFiniteGuard.after_backward` on every rank, to be caught around ``run_step``."""

    def __init__(self, iteration: int):
        super().__init__(f"iteration {iteration}: update skipped (non-finite loss or gradients)")
        self.iteration = iteration


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
    grads = [
        p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None
    ]
    # the max-norm of all gradients: NaN or inf iff one entry is (and it cannot overflow)
    return not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads, norm_type="inf")))


class LossCheck(torch.nn.Module):
    """The model being trained, with the guard's collective loss check after its forward pass.

    In training mode the losses it returns (a dict, or one tensor) go through
    :meth:`NonFiniteGuard.check_losses` before they are returned; in evaluation mode it is
    the model unchanged. The wrapped model (DDP or plain) is ``module``: give that one to
    evaluation, PreciseBN and the checkpointer.
    """

    def __init__(self, module: torch.nn.Module, guard: "NonFiniteGuard"):
        super().__init__()
        self.module = module
        self.guard = guard

    def forward(self, *args, **kwargs):
        out = self.module(*args, **kwargs)
        if self.training:
            self.guard.check_losses({"total_loss": out} if isinstance(out, torch.Tensor) else out)
        return out


class NonFiniteGuard(HookBase):
    """Stop every rank (or skip the update) on a non-finite loss or fp32 gradient.

    Register it on the SimpleTrainer / AMPTrainer whose model is :meth:`wrap` of the model.
    After the forward pass (:class:`LossCheck`) the ranks compare their losses in one
    all-reduce. On a non-finite loss on any rank: with ``stop=True`` every rank raises
    :class:`NonFiniteLossError` before the backward pass; with ``stop=False`` the step goes
    through the backward pass (DDP's all-reduce needs every rank there) and
    :meth:`after_backward` drops the update, unless the forward pass already made a buffer
    (BatchNorm statistics, kept per rank) non-finite on some rank: dropping cannot undo that,
    so every rank stops as with ``stop=True``. With finite losses and ``check_grads``,
    :meth:`after_backward` checks the gradients and treats non-finite ones the same way.

    Dropping an update: the gradients are cleared and :class:`UpdateSkipped` ends the step
    before the optimizer step, so every parameter and its momentum stay as they are; with
    AMP the grad scaler also lowers its scale by its backoff factor, as it does after a
    step it skips itself. The step is counted (:attr:`skipped_steps`, the
    ``nonfinite_skipped_steps`` scalar) and logged.

    Args:
        stop: raise :class:`NonFiniteLossError` (True) or skip the update (False).
        check_grads: check the gradients after the backward pass; False for AMP, where
            overflowing float16 gradients are normal and the grad scaler already skips those
            steps.
    """

    def __init__(self, stop: bool = True, check_grads: bool = True):
        self.stop = stop
        self.check_grads = check_grads
        self.skipped_steps = 0
        self._losses = None  # this step's loss dict, from check_losses
        self._nonfinite_ranks = None  # ranks whose loss was not finite this step (update to drop)

    def wrap(self, model: torch.nn.Module) -> LossCheck:
        """``model`` with the loss check: the model to give to the SimpleTrainer."""
        return LossCheck(model, self)

    def _values(self):
        return {k: float(v.detach().float().cpu()) for k, v in self._losses.items()}

    def _stop_or_go_on(self, ranks: List[int]):
        """Raise NonFiniteLossError unless the update may be dropped (collective)."""
        device = next(iter(self._losses.values())).device
        if self.stop or _any_rank(not _buffers_finite(self.trainer.model), device):
            # (with stop=False: the forward pass put non-finite values into BatchNorm statistics)
            raise NonFiniteLossError(self.trainer.iter, self._values(), ranks)

    def check_losses(self, loss_dict: Mapping[str, torch.Tensor]):
        """Called by :class:`LossCheck` on every rank after the forward pass of a step."""
        self._losses = loss_dict
        ranks = nonfinite_loss_ranks(loss_dict)
        if ranks:
            self._stop_or_go_on(ranks)
            self._nonfinite_ranks = ranks

    def after_backward(self):
        if self._losses is None:
            raise RuntimeError(
                "NonFiniteGuard: the trainer's model is not NonFiniteGuard.wrap(model)"
            )
        ranks, self._nonfinite_ranks = self._nonfinite_ranks, None
        try:
            if ranks is None:
                if not self.check_grads or _grads_finite(self.trainer.optimizer):
                    return
                ranks = []  # finite losses: the gradients (the same on every rank) are not
                self._stop_or_go_on(ranks)
            self._drop_update(ranks)
        finally:
            self._losses = None

    def _drop_update(self, ranks: List[int]):
        iteration = self.trainer.iter
        self.trainer.optimizer.zero_grad(set_to_none=True)
        scaler = getattr(self.trainer, "grad_scaler", None)  # AMPTrainer's
        if scaler is not None and scaler.is_enabled():
            scaler.update(new_scale=scaler.get_scale() * scaler.get_backoff_factor())
        self.skipped_steps += 1
        logger.warning(
            "iteration %d: %s (%s); the update is skipped (SOLVER.STOP_ON_NONFINITE_LOSS is False; "
            "%d step(s) skipped so far)",
            iteration,
            f"non-finite loss on rank(s) {ranks}" if ranks else "non-finite gradients",
            ", ".join(f"{k}={v}" for k, v in self._values().items()),
            self.skipped_steps,
        )
        if comm.is_main_process():
            get_event_storage().put_scalar(
                SKIPPED_STEPS_KEY, self.skipped_steps, smoothing_hint=False, cur_iter=iteration
            )
        raise UpdateSkipped(iteration)
