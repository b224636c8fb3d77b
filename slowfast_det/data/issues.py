"""Counting and reporting the data problems met while loading clips.

The mapper runs in DataLoader workers; each sample it returns carries a ``data_issues``
dict (counts of frames replaced, clips skipped, ... since the worker's previous sample).
:class:`IssueTrackingLoader` wraps a data loader and adds those counts to a
:class:`DataIssueTracker` in the main process as batches are consumed, and
:class:`DataIssuesHook` logs a per-epoch summary during training.

Registering the hook in a trainer (``build_ava_train_loader`` returns an
``IssueTrackingLoader``)::

    loader = build_ava_train_loader(cfg)
    trainer.register_hooks([DataIssuesHook.from_loader(loader)])

The test loader (``build_ava_test_loader``) logs its summary at the end of every pass.
"""

import copy
import logging
from collections import Counter

from detectron2.engine import HookBase

__all__ = [
    "DataIssueTracker",
    "IssueTrackingLoader",
    "DataIssuesHook",
    "SKIPPED_KEY",
    "ISSUE_DESCRIPTIONS",
    "mapper_copy",
]

logger = logging.getLogger(__name__)

#: Key of the placeholder the test loader puts in a batch for a skipped clip (removed before
#: the batch is yielded).
SKIPPED_KEY = "_skipped_image_id"

#: Human-readable meaning of the ``data_issues`` keys.
ISSUE_DESCRIPTIONS = {
    "missing_frames": "clip frames missing or unreadable, replaced by the nearest readable frame",
    "skipped_clips": "clips skipped: no readable frame",
    "clips_without_boxes": "training clips skipped: no person box (left inside the crop)",
    "unreadable_videos": (
        "videos that give no frame (training: replaced by another video; testing: left out)"
    ),
}


def mapper_copy(mapper):
    """A shallow copy of a mapper (anything with ``take_issues()``) that counts its own data
    issues from now on: they travel with the samples the copy returns, the original's pending
    counts stay with the original."""
    out = copy.copy(mapper)
    out.take_issues()  # the copy's counter is a new one (it shared the original's)
    return out


class DataIssueTracker:
    """Accumulates ``data_issues`` counts of consumed samples, per epoch and in total."""

    def __init__(self, name="data"):
        self.name = name
        self.epoch = Counter()
        self.total = Counter()
        self.samples_epoch = 0
        self.samples_total = 0
        self.epochs_done = 0

    def update(self, batch):
        """Add the counts carried by the samples of one batch (list of mapper outputs)."""
        for sample in batch:
            issues = sample.get("data_issues") or {}
            self.epoch.update(issues)
            self.total.update(issues)
            if SKIPPED_KEY not in sample:
                self.samples_epoch += 1
                self.samples_total += 1

    @staticmethod
    def format(counts, samples):
        if not any(counts.values()):
            return f"no data problems in {samples} samples"
        parts = [f"{n} {ISSUE_DESCRIPTIONS.get(k, k)}" for k, n in sorted(counts.items()) if n]
        return f"{samples} samples; " + "; ".join(parts)

    def end_epoch(self, log=True):
        """Close the current epoch: log its summary and return its counts (then reset)."""
        counts, samples = self.epoch, self.samples_epoch
        self.epochs_done += 1
        if log:
            level = logging.WARNING if any(counts.values()) else logging.INFO
            logger.log(
                level,
                "%s epoch %d data summary: %s",
                self.name,
                self.epochs_done,
                self.format(counts, samples),
            )
        self.epoch, self.samples_epoch = Counter(), 0
        return counts

    def summary(self):
        """Summary text of everything counted so far."""
        return f"{self.name} data summary (all epochs): " + self.format(
            self.total, self.samples_total
        )


class IssueTrackingLoader:
    """Wraps a data loader: feeds each batch's ``data_issues`` to a tracker, drops skip
    placeholders.

    Args:
        loader: an iterable of batches (lists of mapper outputs).
        tracker: the :class:`DataIssueTracker` (created if None).
        iters_per_epoch: batches per epoch of the training loader (for the hook), or None.
        summary_each_pass: log the tracker's epoch summary at the end of every full pass
            (for finite loaders, e.g. testing).
    """

    def __init__(self, loader, tracker=None, *, iters_per_epoch=None, summary_each_pass=False):
        self.loader = loader
        self.issue_tracker = tracker if tracker is not None else DataIssueTracker()
        self.iters_per_epoch = iters_per_epoch
        self.summary_each_pass = summary_each_pass

    def __len__(self):
        return len(self.loader)

    @property
    def dataset(self):
        return self.loader.dataset

    def __iter__(self):
        for batch in self.loader:
            self.issue_tracker.update(batch)
            batch = [s for s in batch if SKIPPED_KEY not in s]
            if batch:
                yield batch
        if self.summary_each_pass:
            self.issue_tracker.end_epoch()


class DataIssuesHook(HookBase):
    """Logs a data-problem summary after every epoch and writes the counts to EventStorage.

    Scalars ``data/<issue>`` (per epoch) are put at the last iteration of each epoch.
    """

    def __init__(self, tracker, iters_per_epoch):
        if iters_per_epoch < 1:
            raise ValueError(f"iters_per_epoch must be >= 1, got {iters_per_epoch}")
        self.tracker = tracker
        self.iters_per_epoch = int(iters_per_epoch)

    @classmethod
    def from_loader(cls, loader):
        """Hook for an :class:`IssueTrackingLoader` built by ``build_ava_train_loader``."""
        if loader.iters_per_epoch is None:
            raise ValueError("the loader does not know its epoch length (iters_per_epoch)")
        return cls(loader.issue_tracker, loader.iters_per_epoch)

    def after_step(self):
        if (self.trainer.iter + 1) % self.iters_per_epoch == 0:
            counts = self.tracker.end_epoch()
            storage = self.trainer.storage
            for key in sorted(set(ISSUE_DESCRIPTIONS) | set(counts)):
                storage.put_scalar(f"data/{key}", counts.get(key, 0), smoothing_hint=False)

    def after_train(self):
        logger.info(self.tracker.summary())
