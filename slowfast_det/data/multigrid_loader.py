"""The multigrid training loader: each step's clips in the shape and number the schedule gives
(:class:`~.multigrid.MultigridSchedule`), from the same resumable seeded stream as the default
loader (:mod:`.samplers`).

Iteration ``i`` maps the global sample positions ``[P_i, P_i + B_i)`` (``B_i`` clips of
``T_i`` frames, ``S_i`` square); rank ``r`` of ``W`` maps the ``r``-th contiguous ``B_i / W``
of them. A position's dataset index and augmentation RNGs depend on ``(seed, position)`` only,
as in the default loader, so the stream is the same with any number of processes or workers
and after a resume at any iteration (mid-stage, mid-short-cycle). The mapper is the task's
training mapper (:class:`~.mapper.AVADatasetMapper` with its boxes transformed with the crop,
or :class:`~.classification_mapper.ClassificationMapper`) with the clip length, frame stride
and crop / jitter range of the step (:func:`shaped_mapper`).
"""

import math

import numpy as np
import torch
from detectron2.data import transforms as T
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .batch_scale import PerBatchScale
from .clip_ops import train_augmentations
from .issues import DataIssueTracker, IssueTrackingLoader, mapper_copy
from .multigrid import ClipShape, MultigridSchedule, check_divisible, scaled_jitter
from .samplers import ResumableTrainingSampler, SeededMapDataset

__all__ = ["MultigridBatchSampler", "build_multigrid_train_loader", "shaped_mapper"]


def shaped_mapper(
    mapper,
    *,
    frames,
    crop,
    sampling_rate,
    jitter_scales,
    default_crop,
    flip_prob,
    whole_frames,
    scale_jitter_max=False,
):
    """A copy of a training mapper (AVA or classification) that makes clips of ``frames``
    frames ``sampling_rate`` apart and ``crop``-pixel squares (``whole_frames``: no crop,
    ``crop`` the short side's lower end), the short side resized within
    :func:`~.multigrid.scaled_jitter` of ``jitter_scales``; its own issue counts."""
    out = mapper_copy(mapper)
    out.num_frames, out.sampling_rate = int(frames), int(sampling_rate)
    scales = scaled_jitter(jitter_scales, crop, default_crop, whole_frames or scale_jitter_max)
    square = 0 if whole_frames else crop
    out.augmentations = T.AugmentationList(train_augmentations(scales, square, flip_prob))
    if hasattr(out, "crop_size"):
        out.crop_size = int(crop)
    return out


class _ShapedMappers:
    """Per step shape, the mapper of each frame stride: the stride drawn per clip (inside the
    clip's seeded RNGs) in ``[SAMPLING_RATE, shape.max_sampling_rate]``; with ``per_batch``
    (``INPUT.TRAIN_JITTER_PER_BATCH``) at the step's one short-side size, drawn in the shape's
    range (:class:`~.batch_scale.PerBatchScale`)."""

    def __init__(
        self, mapper, schedule: MultigridSchedule, jitter_scales, flip_prob, per_batch=False
    ):
        self._mapper = mapper
        self._schedule = schedule
        self._jitter, self._flip = tuple(jitter_scales), float(flip_prob)
        self._per_batch = bool(per_batch)
        self._cache = {}

    def _get(self, shape: ClipShape, rate: int):
        key = (shape.frames, shape.crop, rate)
        if key not in self._cache:
            self._cache[key] = shaped_mapper(
                self._mapper,
                frames=shape.frames,
                crop=shape.crop,
                sampling_rate=rate,
                jitter_scales=self._jitter,
                default_crop=self._schedule.default_crop,
                flip_prob=self._flip,
                whole_frames=self._schedule.whole_frames,
                scale_jitter_max=self._schedule.scale_jitter_max,
            )
            if self._per_batch:
                self._cache[key] = PerBatchScale(self._cache[key])
        return self._cache[key]

    def for_step(self, shape: ClipShape, seed: int, iteration: int):
        """The mapper of the clips of training iteration ``iteration`` (shape ``shape``)."""
        low = self._schedule.sampling_rate

        def mapper(d):
            rate = low
            if shape.max_sampling_rate > low:
                rate = int(np.random.randint(low, shape.max_sampling_rate + 1))
            shaped = self._get(shape, rate)
            if self._per_batch:
                shaped = shaped.for_iteration(seed, iteration)
            return shaped(d)

        return mapper


class MultigridBatchSampler(ResumableTrainingSampler):
    """The per-rank batches of a multigrid run: ``[(index, seed, position), ...]`` and the
    step's :class:`~.multigrid.ClipShape`, one per iteration from :attr:`start_iter` on.

    The dataset index and seed of a position are :class:`ResumableTrainingSampler`'s (the
    same epoch permutations); ``state_dict`` (the seed) too. The stream starts at an
    iteration (:meth:`start_at_iteration`), not a position.
    """

    def __init__(self, schedule: MultigridSchedule, size: int, shuffle=True, seed=None):
        self.schedule = schedule
        self.start_iter = 0
        super().__init__(size, shuffle=shuffle, seed=seed)
        check_divisible(schedule, self._world_size)

    def start_at_iteration(self, iteration: int, batch_size: int = 0) -> None:
        """Start at training iteration ``iteration`` (``batch_size`` unused: the schedule
        knows each step's batch)."""
        if iteration < 0:
            raise ValueError(f"start iteration must be >= 0, got {iteration}")
        self.start_iter = int(iteration)
        self.set_start(self.schedule.position(self.start_iter))

    def rank_positions(self, iteration: int):
        """This rank's global positions at ``iteration`` (a contiguous slice of the step's)."""
        shape = self.schedule.shape_at(iteration)
        per_rank = shape.batch // self._world_size
        first = self.schedule.position(iteration) + self._rank * per_rank
        return range(first, first + per_rank), shape

    def __iter__(self):
        epoch, order = -1, None
        iteration = self.start_iter
        while True:
            positions, shape = self.rank_positions(iteration)
            items = []
            for p in positions:
                e, i = divmod(p, self._size)
                if e != epoch:
                    epoch, order = e, self.epoch_order(e)
                items.append((int(order[i]), self.seed, p))
            yield items, shape
            iteration += 1


class _MultigridStream(IterableDataset):
    """Mapped per-rank batches; DataLoader worker ``w`` of ``n`` maps iterations ``k % n = w``
    (the DataLoader takes the workers' outputs in turn, so the order is the stream's)."""

    def __init__(self, batch_sampler, dataset: SeededMapDataset, mappers: _ShapedMappers):
        self.batch_sampler = batch_sampler
        self.dataset = dataset
        self.mappers = mappers

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        first, seed = self.batch_sampler.start_iter, self.batch_sampler.seed
        for k, (items, shape) in enumerate(self.batch_sampler):
            if k % workers == worker:
                mapper = self.mappers.for_step(shape, seed, first + k)
                yield [self.dataset.map_item(item, mapper) for item in items]


def _as_is(batch):
    return batch


def build_multigrid_train_loader(cfg, dataset, mapper):
    """The multigrid training loader over dataset dicts with a training mapper: an
    :class:`IssueTrackingLoader` of per-rank batches (lists of mapper outputs) whose clips
    follow :class:`MultigridSchedule.from_config(cfg)`, ``DATALOADER.NUM_WORKERS`` workers;
    ``sampler`` is the :class:`MultigridBatchSampler`, ``schedule`` the schedule,
    ``iters_per_epoch`` the mean iterations of one pass over the dataset."""
    schedule = MultigridSchedule.from_config(cfg)
    sampler = MultigridBatchSampler(
        schedule, len(dataset), shuffle=True, seed=cfg.SEED if cfg.SEED >= 0 else None
    )
    mappers = _ShapedMappers(
        mapper,
        schedule,
        cfg.INPUT.TRAIN_JITTER_SCALES,
        cfg.INPUT.FLIP_PROB,
        per_batch=cfg.INPUT.TRAIN_JITTER_PER_BATCH,
    )
    stream = _MultigridStream(sampler, SeededMapDataset(dataset, mapper), mappers)
    loader = DataLoader(
        stream,
        batch_size=None,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=_as_is,
        # the DataLoader's own generator: creating its iterator must not draw from the
        # training process's torch RNG
        generator=torch.Generator().manual_seed(sampler.seed),
    )
    tracking = IssueTrackingLoader(
        loader,
        DataIssueTracker("train"),
        iters_per_epoch=max(1, math.ceil(len(dataset) / schedule.mean_batch())),
    )
    tracking.sampler = sampler
    tracking.schedule = schedule
    return tracking
