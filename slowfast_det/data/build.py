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

from .issues import SKIPPED_KEY, DataIssueTracker, IssueTrackingLoader
from .mapper import AVADatasetMapper
from .samplers import ResumableTrainingSampler, SeededMapDataset

__all__ = ["build_ava_train_loader", "build_ava_test_loader"]


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
    if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler":
        raise ValueError(
            f"DATALOADER.SAMPLER_TRAIN={cfg.DATALOADER.SAMPLER_TRAIN!r}: the AVA training loader "
            "supports only 'TrainingSampler' (a reproducible, resumable shuffled stream)"
        )
    dataset = get_detection_dataset_dicts(
        cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    )
    if mapper is None:
        mapper = AVADatasetMapper(cfg, is_train=True)
    sampler = ResumableTrainingSampler(
        len(dataset), shuffle=True, seed=cfg.SEED if cfg.SEED >= 0 else None
    )
    loader = build_detection_train_loader(
        dataset=SeededMapDataset(dataset, mapper),
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


class _MarkSkipped:
    """Mapper wrapper for inference: a skipped clip becomes a placeholder instead of None.

    Detectron2's MapDataset would replace a None by another random sample, which at test
    time would duplicate some keyframe's predictions; the placeholder (carrying the skip
    count) is removed by IssueTrackingLoader instead.
    """

    def __init__(self, mapper):
        self.mapper = mapper

    def __call__(self, dataset_dict):
        out = self.mapper(dataset_dict)
        if out is None:
            return {
                SKIPPED_KEY: dataset_dict.get("image_id"),
                "data_issues": self.mapper.take_issues(),
            }
        return out


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
    loader = build_detection_test_loader(
        dataset=dicts,
        mapper=_MarkSkipped(mapper),
        batch_size=cfg.AVA.TEST_BATCH_SIZE,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
    return IssueTrackingLoader(loader, DataIssueTracker(f"test {name}"), summary_each_pass=True)
