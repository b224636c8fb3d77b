"""What the trainers change for multigrid training (``SOLVER.MULTIGRID``; docs/MULTIGRID.md):
the learning-rate schedule over the multigrid iterations and the BN groups of the model.

The data side (the schedule, the per-step clip shapes, the stream) is
:mod:`slowfast_det.data.multigrid` / :mod:`slowfast_det.data.multigrid_loader`.
"""

import logging

from detectron2.solver import LRMultiplier, WarmupParamScheduler
from detectron2.utils import comm
from fvcore.common.param_scheduler import (
    CosineParamScheduler,
    MultiStepParamScheduler,
    ParamScheduler,
)

from slowfast_det.data.multigrid import MultigridSchedule, multigrid_enabled
from slowfast_det.modeling.sub_batch_norm import convert_to_grouped_bn

__all__ = [
    "MultigridLR",
    "build_multigrid_lr_scheduler",
    "multigrid_schedule",
    "prepare_multigrid_model",
    "standard_cfg",
]

logger = logging.getLogger(__name__)

#: Detectron2 schedules with a multigrid rescaling.
SUPPORTED_SCHEDULERS = ("WarmupMultiStepLR", "WarmupCosineLR")


def multigrid_schedule(cfg):
    """The config's :class:`MultigridSchedule`, or None when multigrid is off."""
    return MultigridSchedule.from_config(cfg) if multigrid_enabled(cfg) else None


def standard_cfg(cfg):
    """A copy of ``cfg`` with multigrid off (the default clip shape: PreciseBN's loader)."""
    out = cfg.clone()
    out.defrost()
    out.SOLVER.MULTIGRID.LONG_CYCLE = False
    out.SOLVER.MULTIGRID.SHORT_CYCLE = False
    return out


class MultigridLR(ParamScheduler):
    """The learning-rate multiplier of a multigrid run at ``where = iteration / max_iter``.

    * ``WarmupMultiStepLR``: PySlowFast's relative rates
      (:meth:`MultigridSchedule.step_lr_factors`): ``GAMMA ** step`` x the stage's batch scale
      ``** power``, the last step in the middle of the fine-tuning stage;
    * ``WarmupCosineLR``: Detectron2's cosine at the fraction of the run's samples seen
      (a stage of larger batches advances it faster), x the stage's batch scale ``** power``.

    ``power`` (``SOLVER.MULTIGRID.LR_SCALE_POWER``): 1 is PySlowFast's linear scaling (SGD);
    0.5, square-root scaling, is the usual rule for adaptive optimizers such as AdamW, whose
    step size does not grow with the batch as SGD's does.
    """

    def __init__(self, schedule: MultigridSchedule, name: str, gamma=0.1, end_value=0.0, power=1.0):
        if name not in SUPPORTED_SCHEDULERS:
            raise ValueError(
                f"SOLVER.MULTIGRID supports SOLVER.LR_SCHEDULER_NAME {SUPPORTED_SCHEDULERS}, "
                f"not {name!r}"
            )
        self.schedule, self.name, self.power = schedule, name, float(power)
        if name == "WarmupMultiStepLR":
            milestones, values = schedule.step_lr_factors(gamma, self.power)
            self._steps = MultiStepParamScheduler(
                values=values, milestones=milestones, num_updates=schedule.max_iter
            )
        else:
            self._cosine = CosineParamScheduler(1.0, end_value)
            self._total = schedule.position(schedule.max_iter)

    def iteration(self, where: float) -> int:
        return min(int(round(where * self.schedule.max_iter)), self.schedule.max_iter - 1)

    def __call__(self, where: float) -> float:
        if self.name == "WarmupMultiStepLR":
            return self._steps(where)
        it = self.iteration(where)
        progress = self.schedule.position(it) / self._total
        return self._cosine(progress) * self.schedule.batch_scale(it) ** self.power


def build_multigrid_lr_scheduler(cfg, optimizer, schedule: MultigridSchedule):
    """Detectron2's ``LRMultiplier`` over the multigrid iterations: :class:`MultigridLR` with
    Detectron2's warm-up, which lasts as many samples as ``SOLVER.WARMUP_ITERS`` default
    steps (PySlowFast's warm-up is in epochs)."""
    s = cfg.SOLVER
    sched = MultigridLR(
        schedule,
        s.LR_SCHEDULER_NAME,
        gamma=s.GAMMA,
        end_value=s.BASE_LR_END / s.BASE_LR if s.BASE_LR else 0.0,
        power=s.MULTIGRID.LR_SCALE_POWER,
    )
    warmup = schedule.first_iteration_at(s.WARMUP_ITERS * s.IMS_PER_BATCH)
    sched = WarmupParamScheduler(
        sched,
        s.WARMUP_FACTOR,
        min(warmup / schedule.max_iter, 1.0),
        s.WARMUP_METHOD,
        s.RESCALE_INTERVAL,
    )
    return LRMultiplier(optimizer, multiplier=sched, max_iter=schedule.max_iter)


def prepare_multigrid_model(cfg, model):
    """With multigrid on, the model's ``nn.BatchNorm3d`` layers with statistics over
    ``BN_BASE_SIZE`` clips (0: ``IMS_PER_BATCH`` / processes, the default step's per process)
    (:class:`~slowfast_det.modeling.sub_batch_norm.GroupedBatchNorm3d`); the model unchanged
    otherwise."""
    if not multigrid_enabled(cfg):
        return model
    size = cfg.SOLVER.MULTIGRID.BN_BASE_SIZE
    if size <= 0:
        size = max(1, cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size())
    model, n = convert_to_grouped_bn(model, size)
    if n:
        logger.info("Multigrid: BatchNorm statistics over groups of %d clips (%d layers)", size, n)
    return model


def log_schedule(schedule: MultigridSchedule, default_max_iter: int):
    logger.info(
        "Multigrid: %d iterations (the default run: %d) of %.1f clips on average; stages "
        "(batch over all processes x frames x crop):\n%s",
        schedule.max_iter,
        default_max_iter,
        schedule.mean_batch(),
        schedule.describe(),
    )
