"""Train / test data loaders for AVA: Detectron2's loaders with :class:`AVADatasetMapper`.

Both return an :class:`~slowfast_det.data.issues.IssueTrackingLoader` (iterable of batches,
each a list of mapper outputs) whose ``issue_tracker`` counts the data problems met.
"""
import math

from detectron2.data import build_detection_test_loader, build_detection_train_loader, get_detection_dataset_dicts

from .datasets import register_datasets_from_cfg
from .issues import SKIPPED_KEY, DataIssueTracker, IssueTrackingLoader
from .mapper import AVADatasetMapper

__all__ = ["build_ava_train_loader", "build_ava_test_loader"]


def build_ava_train_loader(cfg, mapper=None):
    """Infinite training loader over cfg.DATASETS.TRAIN.

    Re-registers the AVA datasets with the config's clip (:func:`register_datasets_from_cfg`),
    drops keyframes without ground truth (``DATALOADER.FILTER_EMPTY_ANNOTATIONS``) and
    batches ``SOLVER.IMS_PER_BATCH`` clips (over all processes) with
    ``DATALOADER.NUM_WORKERS`` workers. A clip the mapper skips (None) is replaced by
    another random index (Detectron2's MapDataset).

    Returns:
        IssueTrackingLoader with ``iters_per_epoch = ceil(#keyframes / IMS_PER_BATCH)``; pass
        it to :meth:`DataIssuesHook.from_loader` for the per-epoch summary.
    """
    register_datasets_from_cfg(cfg)
    dataset = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    if mapper is None:
        mapper = AVADatasetMapper(cfg, is_train=True)
    loader = build_detection_train_loader(cfg, mapper=mapper, dataset=dataset)
    return IssueTrackingLoader(
        loader,
        DataIssueTracker("train"),
        iters_per_epoch=max(1, math.ceil(len(dataset) / cfg.SOLVER.IMS_PER_BATCH)),
    )


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
            return {SKIPPED_KEY: dataset_dict.get("image_id"), "data_issues": self.mapper.take_issues()}
        return out


def build_ava_test_loader(cfg, dataset_name, mapper=None):
    """Inference loader over one dataset: every keyframe once, in order (per process).

    Batches hold ``AVA.TEST_BATCH_SIZE`` clips; ``DATALOADER.NUM_WORKERS`` workers. A clip
    with no readable frame is left out (logged and counted; the batch is smaller, an empty
    batch is not yielded). The data summary is logged at the end of every pass.
    """
    register_datasets_from_cfg(cfg)
    dataset = get_detection_dataset_dicts([dataset_name], filter_empty=False)
    if mapper is None:
        mapper = AVADatasetMapper(cfg, is_train=False)
    loader = build_detection_test_loader(
        dataset=dataset,
        mapper=_MarkSkipped(mapper),
        batch_size=cfg.AVA.TEST_BATCH_SIZE,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
    return IssueTrackingLoader(loader, DataIssueTracker(f"test {dataset_name}"), summary_each_pass=True)
