"""Train / test loaders of classification datasets (:mod:`.classification`) with
:class:`~.classification_mapper.ClassificationMapper`.

The same loaders as AVA's (:mod:`.build`): the training loader is the resumable seeded stream
(a video that gives no frame is replaced by another one drawn from the sample's seed, a
bounded number of times, then a clear error); the test loader gives each video once (one
process each: Detectron2's ``InferenceSampler``), one video per batch, and leaves out (and
counts) the videos that give no frame. Both return an
:class:`~.issues.IssueTrackingLoader`, whose counts ``DataIssuesHook`` reports per epoch.
"""

from detectron2.data import get_detection_dataset_dicts

from .build import build_resumable_train_loader, build_tracked_test_loader, check_train_sampler
from .classification import check_video_num_classes
from .classification_mapper import ClassificationMapper

__all__ = ["build_classification_test_loader", "build_classification_train_loader"]


def build_classification_train_loader(cfg, mapper=None):
    """Infinite training loader over ``cfg.DATASETS.TRAIN`` (classification datasets).

    Batches of ``SOLVER.IMS_PER_BATCH`` clips over all processes (a list of
    :class:`ClassificationMapper` outputs per process and step), ``DATALOADER.NUM_WORKERS``
    workers, the stream seed ``cfg.SEED`` (>= 0; else drawn and saved by the trainer).
    :func:`~.classification.check_video_num_classes` is applied first.

    Returns:
        IssueTrackingLoader with ``iters_per_epoch = ceil(#videos / IMS_PER_BATCH)`` and
        ``sampler`` (resume: ``sampler.set_start(start_iter * IMS_PER_BATCH)``).
    """
    check_train_sampler(cfg)
    check_video_num_classes(cfg)
    dataset = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=False)
    if mapper is None:
        mapper = ClassificationMapper(cfg, is_train=True)
    return build_resumable_train_loader(cfg, dataset, mapper)


def build_classification_test_loader(cfg, dataset_name, mapper=None):
    """Inference loader over one classification dataset: every video once (per process),
    one video per batch: ``[{"clips": (V, 3, T, S, S), "video_index": position in the
    dataset, ...}]``; a video that gives no frame is left out and counted."""
    dicts = get_detection_dataset_dicts([dataset_name], filter_empty=False)
    dicts = [dict(d, video_index=i) for i, d in enumerate(dicts)]
    if mapper is None:
        mapper = ClassificationMapper(cfg, is_train=False)
    return build_tracked_test_loader(dataset_name, dicts, mapper, 1, cfg.DATALOADER.NUM_WORKERS)
