"""Train / test data loaders for AVA: Detectron2's loaders with :class:`AVADatasetMapper`.

Both return an :class:`~slowfast_det.data.issues.IssueTrackingLoader` (iterable of batches,
each a list of mapper outputs) whose ``issue_tracker`` counts the data problems met.
"""

import math

from detectron2.data import (
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)

from .batch_scale import BatchScaledMapDataset
from .issues import SKIPPED_KEY, DataIssueTracker, IssueTrackingLoader
from .mapper import AVADatasetMapper
from .multigrid import multigrid_enabled
from .multigrid_loader import build_multigrid_train_loader
from .samplers import ResumableTrainingSampler, SeededMapDataset

__all__ = [
    "MarkSkipped",
    "build_ava_test_loader",
    "build_ava_train_loader",
    "build_resumable_train_loader",
    "build_tracked_test_loader",
    "check_train_sampler",
]


def build_ava_train_loader(cfg, mapper=None):
    """Infinite training loader over cfg.DATASETS.TRAIN.

    Uses the datasets as registered, each from its own frame source (extracted frames, or the
    movies of a ``*_video`` registration; the mapper picks each clip's frames from
    ``INPUT.NUM_FRAMES`` / ``SAMPLING_RATE``), drops keyframes without ground truth
    (``DATALOADER.FILTER_EMPTY_ANNOTATIONS``) and batches ``SOLVER.IMS_PER_BATCH`` clips (over
    all processes) with ``DATALOADER.NUM_WORKERS`` workers.

    The data order and the augmentation of every clip are a function of the stream seed
    and the clip's global position only (:mod:`slowfast_det.data.samplers`): the same with
    any number of processes or workers, and after a resume. Batches are consecutive slices
    of each rank's stream (no aspect-ratio grouping: training clips are square crops). A clip
    the mapper skips (None) is replaced by another index drawn from its position's seed.

    The stream seed is ``cfg.SEED`` if >= 0, else a random seed shared by all processes
    (the trainer saves it in its checkpoints and restores it on resume).

    Returns:
        IssueTrackingLoader with ``iters_per_epoch = ceil(#keyframes / IMS_PER_BATCH)`` (pass
        it to :meth:`DataIssuesHook.from_loader` for the per-epoch summary) and ``sampler``,
        the :class:`ResumableTrainingSampler` (``sampler.set_start(start_iter *
        IMS_PER_BATCH)`` before iterating resumes the stream).
    """
    check_train_sampler(cfg)
    dataset = get_detection_dataset_dicts(
        cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    )
    if mapper is None:
        mapper = AVADatasetMapper(cfg, is_train=True)
    return build_resumable_train_loader(cfg, dataset, mapper)


def check_train_sampler(cfg):
    """The training loaders support only ``DATALOADER.SAMPLER_TRAIN "TrainingSampler"``."""
    if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler":
        raise ValueError(
            f"DATALOADER.SAMPLER_TRAIN={cfg.DATALOADER.SAMPLER_TRAIN!r}: the training loaders "
            "support only 'TrainingSampler' (a reproducible, resumable shuffled stream)"
        )


def build_resumable_train_loader(cfg, dataset, mapper):
    """The training loader of :func:`build_ava_train_loader` over any dataset dicts and mapper:
    the resumable seeded stream (``cfg.SEED``), ``SOLVER.IMS_PER_BATCH`` samples per step over
    all processes, ``DATALOADER.NUM_WORKERS`` workers, a skipped sample (None) replaced by
    another index drawn from its position's seed; with ``INPUT.TRAIN_JITTER_PER_BATCH`` one
    short-side size per step (:mod:`.batch_scale`); an :class:`IssueTrackingLoader` with
    ``iters_per_epoch`` and ``sampler``. With ``SOLVER.MULTIGRID`` on, the multigrid loader
    (:func:`~.multigrid_loader.build_multigrid_train_loader`: each step's clip shape and
    batch from the schedule)."""
    if multigrid_enabled(cfg):
        return build_multigrid_train_loader(cfg, dataset, mapper)
    sampler = ResumableTrainingSampler(
        len(dataset), shuffle=True, seed=cfg.SEED if cfg.SEED >= 0 else None
    )
    if cfg.INPUT.TRAIN_JITTER_PER_BATCH:
        mapped = BatchScaledMapDataset(dataset, mapper, cfg.SOLVER.IMS_PER_BATCH)
    else:
        mapped = SeededMapDataset(dataset, mapper)
    loader = build_detection_train_loader(
        dataset=mapped,
        mapper=None,
        sampler=sampler,
        total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
        aspect_ratio_grouping=False,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        # the DataLoader's own generator: creating its iterator (at the first step, also
        # after a resume) must not draw from the training process's torch RNG
        seed=sampler.seed,
    )
    tracking = IssueTrackingLoader(
        loader,
        DataIssueTracker("train"),
        iters_per_epoch=max(1, math.ceil(len(dataset) / cfg.SOLVER.IMS_PER_BATCH)),
    )
    tracking.sampler = sampler
    return tracking


class MarkSkipped:
    """Mapper wrapper for inference: a skipped sample becomes a placeholder instead of None.

    Detectron2's MapDataset would replace a None by another random sample, which at test
    time would duplicate some keyframe's (or video's) predictions; the placeholder (carrying
    the skip count) is removed by IssueTrackingLoader instead.
    """

    def __init__(self, mapper):
        self.mapper = mapper

    def __call__(self, dataset_dict):
        out = self.mapper(dataset_dict)
        if out is None:
            return {
                SKIPPED_KEY: dataset_dict.get("image_id", dataset_dict.get("video_id")),
                "data_issues": self.mapper.take_issues(),
            }
        return out


def build_tracked_test_loader(name, dicts, mapper, batch_size, num_workers):
    """Detectron2's inference loader (every dict once, in order, per process) over ``dicts``
    with ``mapper``; samples the mapper skips are left out (counted); the data summary of
    ``name`` is logged at the end of every pass."""
    loader = build_detection_test_loader(
        dataset=dicts, mapper=MarkSkipped(mapper), batch_size=batch_size, num_workers=num_workers
    )
    return IssueTrackingLoader(loader, DataIssueTracker(f"test {name}"), summary_each_pass=True)


def build_ava_test_loader(cfg, dataset, mapper=None):
    """Inference loader over one dataset: every keyframe once, in order (per process).

    Args:
        dataset: a registered dataset name (read from its registration's frame source), or a
            list of dataset dicts made in memory (e.g. by :func:`~.datasets.load_ava_dicts`,
            as ``tools/infer_ava.py`` does: no registration needed).
        mapper: the clip mapper (default: ``AVADatasetMapper(cfg, is_train=False)``).

    Batches hold ``AVA.TEST_BATCH_SIZE`` clips; ``DATALOADER.NUM_WORKERS`` workers. A clip
    with no readable frame is left out (logged and counted; the batch is smaller, an empty
    batch is not yielded). The data summary is logged at the end of every pass.
    """
    if isinstance(dataset, str):
        name, dicts = dataset, get_detection_dataset_dicts([dataset], filter_empty=False)
    else:
        name, dicts = f"{len(dataset)} keyframes", list(dataset)
    if mapper is None:
        mapper = AVADatasetMapper(cfg, is_train=False)
    return build_tracked_test_loader(
        name, dicts, mapper, cfg.AVA.TEST_BATCH_SIZE, cfg.DATALOADER.NUM_WORKERS
    )
