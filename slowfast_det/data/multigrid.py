"""Multigrid training's schedule (Wu et al., "A Multigrid Method for Efficiently Training Video
Models", CVPR 2020) over Detectron2's iterations.

The default training step has ``B0 = SOLVER.IMS_PER_BATCH`` clips of ``T0 = INPUT.NUM_FRAMES``
frames and ``S0 = INPUT.TRAIN_CROP_SIZE`` pixels. Multigrid trains on smaller clips in larger
batches, ``B T S^2 = B0 T0 S0^2`` (about the same FLOPs per step), in two cycles (PySlowFast's
rules, ``slowfast/utils/multigrid.py``):

* the **long cycle**: stages of base shape ``(T0 t, S0 s)`` for the factors
  ``SOLVER.MULTIGRID.LONG_CYCLE_FACTORS`` (default ``(0.25, sqrt .5), (0.5, sqrt .5), (0.5, 1),
  (1, 1)``), one long cycle per learning-rate step interval (``[0] + SOLVER.STEPS``), each stage
  taking a share of the interval's samples proportional to its mean batch size; then a
  fine-tuning stage at the default shape over the last interval, shortened by the same
  iteration saving. The stage lengths are then scaled so that the run sees
  ``SOLVER.MULTIGRID.EPOCH_FACTOR`` times the default run's samples. Frames are sampled
  ``r`` apart with ``r`` drawn per clip in ``[SAMPLING_RATE, SAMPLING_RATE * T0 // T]`` (a
  shorter clip spans about the same time);
* the **short cycle**: within a stage, iteration ``j`` uses the crop ``S0 f`` of
  ``SOLVER.MULTIGRID.SHORT_CYCLE_FACTORS`` (default ``0.5, sqrt .5``) for ``j % 3 = 0, 1`` and
  the stage's base shape for ``j % 3 = 2``;

each shape's batch is ``round(T0 S0^2 / (T S^2)) B0``. At a crop ``S`` the short side is
resized within ``[round(JITTER[0] S / S0), JITTER[1]]`` (PySlowFast's "larger span"). Without
crops (``INPUT.TRAIN_CROP_SIZE 0``, whole frames) ``S`` is the short side's lower end: ``S0 =
JITTER[0]`` and both ends of the range are scaled by ``S / S0``.

The stream: iteration ``i`` takes the global sample positions ``[P_i, P_i + B_i)``
(:meth:`MultigridSchedule.position`), so a resumed run at iteration ``i`` continues the same
stream; rank ``r`` of ``W`` takes the ``r``-th contiguous ``B_i / W`` of them, so the ranks'
clips of one step are the one-process batch, in order (:class:`MultigridBatchSampler`).
"""

import bisect
from dataclasses import dataclass
from typing import List, Sequence, Tuple

#: PySlowFast's long-cycle (frame, crop) factors and short-cycle crop factors.
DEFAULT_LONG_FACTORS = ((0.25, 0.5**0.5), (0.5, 0.5**0.5), (0.5, 1.0), (1.0, 1.0))
DEFAULT_SHORT_FACTORS = (0.5, 0.5**0.5)

__all__ = [
    "ClipShape",
    "Stage",
    "MultigridSchedule",
    "check_divisible",
    "multigrid_enabled",
    "scaled_jitter",
]


@dataclass(frozen=True)
class ClipShape:
    """One step's clips: ``batch`` clips over all processes, ``frames`` x ``crop`` squares,
    frames ``SAMPLING_RATE .. max_sampling_rate`` apart (drawn per clip)."""

    batch: int
    frames: int
    crop: int
    max_sampling_rate: int


@dataclass(frozen=True)
class Stage:
    """Iterations ``[start, end)`` of one long-cycle stage (short cycle: ``shapes`` in turn,
    the last one the stage's base shape); ``step_index``: its learning-rate step interval;
    ``first_position``: the global sample position of its first clip."""

    step_index: int
    shapes: Tuple[ClipShape, ...]
    start: int
    end: int
    first_position: int

    @property
    def clips_per_cycle(self) -> int:
        return sum(s.batch for s in self.shapes)


def multigrid_enabled(cfg) -> bool:
    """True when the config trains with a long or a short cycle (``SOLVER.MULTIGRID``)."""
    mg = cfg.SOLVER.MULTIGRID
    return bool(mg.LONG_CYCLE or mg.SHORT_CYCLE)


def scaled_jitter(
    jitter_scales: Sequence[int], crop: int, default_crop: int, both_ends: bool = False
) -> Tuple[int, int]:
    """The short-side range at crop ``crop``: the lower end scaled by ``crop / default_crop``
    (PySlowFast's rule), the upper end kept (never below the lower); with ``both_ends`` (whole
    frames, or ``SCALE_JITTER_MAX``) both ends scaled."""
    f = crop / default_crop
    low = int(round(jitter_scales[0] * f))
    high = int(round(jitter_scales[1] * f)) if both_ends else int(jitter_scales[1])
    return low, max(low, high)


class MultigridSchedule:
    """The stages, shapes, stream positions and learning-rate factors of a multigrid run.

    Args:
        batch, frames, crop, sampling_rate: the default step (``B0, T0, S0``, frame stride).
        whole_frames: training clips are whole frames (``INPUT.TRAIN_CROP_SIZE 0``); ``crop``
            is then their short side's lower end (``TRAIN_JITTER_SCALES[0]``), the size that
            the factors scale (and with it the frame area).
        scale_jitter_max: scale the upper end of the jitter range with the crop too (the same
            view at fewer pixels) instead of PySlowFast's lower end only.
        max_iter, steps: the default run's length and learning-rate steps (iterations).
        long_cycle, short_cycle: which cycles to use (at least one).
        long_factors: ``[(t, s), ...]`` long-cycle factors of ``(T0, S0)``.
        short_factors: two crop factors of ``S0`` for the short cycle.
        epoch_factor: samples of the multigrid run / samples of the default run.
        min_frames: the smallest clip length the model takes (SlowFast: ALPHA).
    """

    def __init__(
        self,
        *,
        batch: int,
        frames: int,
        crop: int,
        sampling_rate: int,
        max_iter: int,
        steps: Sequence[int] = (),
        long_cycle: bool = True,
        short_cycle: bool = True,
        long_factors: Sequence[Sequence[float]] = DEFAULT_LONG_FACTORS,
        short_factors: Sequence[float] = DEFAULT_SHORT_FACTORS,
        epoch_factor: float = 1.5,
        min_frames: int = 1,
        whole_frames: bool = False,
        scale_jitter_max: bool = False,
    ):
        if not (long_cycle or short_cycle):
            raise ValueError("SOLVER.MULTIGRID: set LONG_CYCLE and/or SHORT_CYCLE")
        if crop <= 0:
            raise ValueError("SOLVER.MULTIGRID needs a training clip size > 0")
        if len(short_factors) != 2 or not all(0 < f <= 1 for f in short_factors):
            raise ValueError(
                f"SOLVER.MULTIGRID.SHORT_CYCLE_FACTORS must be two factors in (0, 1], got "
                f"{list(short_factors)}"
            )
        if epoch_factor <= 0 or max_iter < 1:
            raise ValueError("SOLVER.MULTIGRID.EPOCH_FACTOR and SOLVER.MAX_ITER must be > 0")
        self.default_batch, self.default_frames, self.default_crop = batch, frames, crop
        self.sampling_rate = int(sampling_rate)
        self.whole_frames = bool(whole_frames)
        #: scale both ends of the jitter range with the crop (always for whole frames)
        self.scale_jitter_max = bool(scale_jitter_max or whole_frames)
        self.long_cycle, self.short_cycle = bool(long_cycle), bool(short_cycle)
        self._short_factors = tuple(float(f) for f in short_factors)
        self._min_frames = int(min_frames)
        bounds = [0] + sorted(int(s) for s in steps if 0 < s < max_iter)
        if long_cycle:
            cycles = [self._base_shapes(t, s) for t, s in long_factors]
            if not cycles:
                raise ValueError("SOLVER.MULTIGRID.LONG_CYCLE_FACTORS is empty")
            spans = self._long_cycle_spans(bounds, max_iter, cycles)
        else:
            shapes = self._base_shapes(1.0, 1.0)
            ends = bounds[1:] + [max_iter]
            spans = [(j, shapes, float(b - a)) for j, (a, b) in enumerate(zip(bounds, ends))]
        scale = max_iter * float(epoch_factor) / sum(span for _, _, span in spans)
        self.stages: List[Stage] = []
        end_f, start, position = 0.0, 0, 0
        for step_index, shapes, span in spans:
            mean_rel = sum(s.batch for s in shapes) / len(shapes) / batch
            end_f += span * scale / mean_rel  # iterations: samples / mean batch
            end = max(start + 1, int(round(end_f)))
            stage = Stage(step_index, shapes, start, end, position)
            self.stages.append(stage)
            position = self._position_in(stage, end)
            start = end
        self._starts = [s.start for s in self.stages]

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_config(cls, cfg) -> "MultigridSchedule":
        mg, sf = cfg.SOLVER.MULTIGRID, cfg.MODEL.SLOWFAST
        whole = cfg.INPUT.TRAIN_CROP_SIZE <= 0
        return cls(
            batch=cfg.SOLVER.IMS_PER_BATCH,
            frames=cfg.INPUT.NUM_FRAMES,
            crop=cfg.INPUT.TRAIN_JITTER_SCALES[0] if whole else cfg.INPUT.TRAIN_CROP_SIZE,
            whole_frames=whole,
            scale_jitter_max=mg.SCALE_JITTER_MAX,
            sampling_rate=cfg.INPUT.SAMPLING_RATE,
            max_iter=cfg.SOLVER.MAX_ITER,
            steps=cfg.SOLVER.STEPS,
            long_cycle=mg.LONG_CYCLE,
            short_cycle=mg.SHORT_CYCLE,
            long_factors=[tuple(f) for f in mg.LONG_CYCLE_FACTORS],
            short_factors=tuple(mg.SHORT_CYCLE_FACTORS),
            epoch_factor=mg.EPOCH_FACTOR,
            min_frames=sf.ALPHA if sf.ARCH == "slowfast" else 1,
        )

    def _shape(self, frames: int, crop: float) -> ClipShape:
        """PySlowFast's ``(B, T, S)``: ``B = round(T0 S0^2 / (T S^2)) B0`` from the unrounded
        crop; the crop itself rounded."""
        t0, s0 = self.default_frames, self.default_crop
        if frames < self._min_frames:
            raise ValueError(
                f"SOLVER.MULTIGRID: a long-cycle stage has {frames} frames (of INPUT.NUM_FRAMES "
                f"{t0}), fewer than the model needs ({self._min_frames}, MODEL.SLOWFAST.ALPHA); "
                "raise INPUT.NUM_FRAMES or the LONG_CYCLE_FACTORS' frame factors"
            )
        rel = int(round(t0 * s0 * s0 / (frames * crop * crop)))
        max_rate = self.sampling_rate * max(1, t0 // frames)
        return ClipShape(max(1, rel) * self.default_batch, frames, int(round(crop)), max_rate)

    def _base_shapes(self, t_factor: float, s_factor: float) -> Tuple[ClipShape, ...]:
        frames = int(round(self.default_frames * t_factor))
        base_crop = int(round(self.default_crop * s_factor))
        crops = [self.default_crop * f for f in self._short_factors] if self.short_cycle else []
        return tuple(self._shape(frames, c) for c in crops + [base_crop])

    def _long_cycle_spans(self, bounds, max_iter, cycles):
        """PySlowFast's ``get_long_cycle_schedule`` in default iterations (samples / B0):
        ``[(step_index, shapes, span), ...]`` before the EPOCH_FACTOR scaling."""
        b0 = self.default_batch
        avg = [sum(s.batch for s in shapes) / len(shapes) / b0 for shapes in cycles]
        intervals = list(zip(bounds, bounds[1:]))
        final = (len(intervals), max_iter - bounds[-1])
        if not intervals:  # no step inside the run: one long cycle, no fine-tuning stage
            intervals, final = [(0, max_iter)], None
        spans, iters = [], 0.0
        for j, (a, b) in enumerate(intervals):
            for k, shapes in enumerate(cycles):
                span = (b - a) * avg[k] / sum(avg)
                iters += span / avg[k]
                spans.append((j, shapes, span))
        if final is not None and final[1] > 0:
            saving = bounds[-1] / iters  # default iterations / multigrid iterations
            spans.append((final[0], cycles[-1], final[1] / saving * avg[-1]))
        return spans

    # ------------------------------------------------------------------ queries

    @property
    def max_iter(self) -> int:
        """Iterations of the multigrid run."""
        return self.stages[-1].end

    def stage_index(self, iteration: int) -> int:
        """Index of the stage of ``iteration`` (past the end: the last stage)."""
        if iteration < 0:
            raise ValueError(f"iteration must be >= 0, got {iteration}")
        return bisect.bisect_right(self._starts, iteration) - 1

    def stage_at(self, iteration: int) -> Stage:
        return self.stages[self.stage_index(iteration)]

    def shape_at(self, iteration: int) -> ClipShape:
        """The clip shape and global batch of ``iteration`` (past the end: the last stage's
        cycle goes on)."""
        stage = self.stage_at(iteration)
        return stage.shapes[(iteration - stage.start) % len(stage.shapes)]

    @staticmethod
    def _position_in(stage: Stage, iteration: int) -> int:
        cycles, rest = divmod(iteration - stage.start, len(stage.shapes))
        partial = sum(s.batch for s in stage.shapes[:rest])
        return stage.first_position + cycles * stage.clips_per_cycle + partial

    def position(self, iteration: int) -> int:
        """Global sample position of the first clip of ``iteration``."""
        return self._position_in(self.stage_at(iteration), iteration)

    def first_iteration_at(self, position: int) -> int:
        """The first iteration whose clips start at or after sample ``position``."""
        lo, hi = 0, max(1, self.max_iter)
        while self.position(hi) < position:
            hi *= 2
        while lo < hi:
            mid = (lo + hi) // 2
            if self.position(mid) < position:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def batch_scale(self, iteration: int) -> float:
        """The stage's base batch over ``B0``: the linear learning-rate scaling factor."""
        return self.stage_at(iteration).shapes[-1].batch / self.default_batch

    def step_lr_factors(self, gamma: float, power: float = 1.0) -> Tuple[List[int], List[float]]:
        """PySlowFast's relative learning rates of a step schedule as ``(milestones, values)``
        (iterations; ``len(values) = len(milestones) + 1``): ``gamma ** step_index`` x the
        stage's batch scale ``** power`` (1: PySlowFast's linear scaling); with a fine-tuning
        stage (long cycle) its first half keeps the previous stage's value."""
        b0, stages = self.default_batch, self.stages
        values = [gamma**s.step_index * (s.shapes[-1].batch / b0) ** power for s in stages]
        milestones = [s.start for s in stages[1:]]
        last = stages[-1]
        if self.long_cycle and len(stages) > 1 and last.step_index > stages[-2].step_index:
            milestones[-1] = (last.start + last.end) // 2  # fine-tuning: the step at its middle
        return milestones, values

    def describe(self) -> str:
        """One line per stage: iterations, step interval, shapes ``B x T x S`` (for the log)."""
        lines = []
        for s in self.stages:
            shapes = ", ".join(f"{c.batch}x{c.frames}x{c.crop}" for c in s.shapes)
            lines.append(f"iterations [{s.start}, {s.end}) step {s.step_index}: {shapes}")
        return "\n".join(lines)

    def mean_batch(self) -> float:
        """Clips per iteration over the whole run."""
        return self.position(self.max_iter) / max(1, self.max_iter)


def check_divisible(schedule: MultigridSchedule, world_size: int) -> None:
    """Every step's batch must split evenly over the processes."""
    for stage in schedule.stages:
        for shape in stage.shapes:
            if shape.batch % world_size:
                raise ValueError(
                    f"SOLVER.MULTIGRID: a batch of {shape.batch} clips does not split over "
                    f"{world_size} processes; make SOLVER.IMS_PER_BATCH a multiple of it"
                )
