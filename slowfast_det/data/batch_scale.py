"""One training short-side size per batch (``INPUT.TRAIN_JITTER_PER_BATCH``).

A training mapper resizes each clip's short side to a size drawn in ``TRAIN_JITTER_SCALES``.
Without crops (``INPUT.TRAIN_CROP_SIZE 0``) a batch is zero-padded to its largest clip
(:class:`~detectron2.structures.ImageList`), so per-clip sizes make every batch as large as its
largest clip: sizes uniform in ``[104, 128]`` pad a batch of 8 to about 1.17x the pixels of its
clips, convolution work on zeros (and zeros in the batch-norm statistics). With the option on,
all clips of training iteration ``i`` share one size, drawn from ``(seed, i)`` alone, so it is
the same in every process and DataLoader worker and after a resume; the size's range is the
mapper's (under multigrid, the step's scaled range).

The mapper copy of a size differs from the mapper only in its resize, whose range is that one
size; the clip's other random choices (frame stride, crop, flip, colour jitter) are drawn from
its seeded RNGs as before.
"""

import numpy as np
from detectron2.data import transforms as T

from .issues import mapper_copy
from .samplers import SEED_TAG_BATCH_SCALE, SeededMapDataset, derive_seed

__all__ = ["BatchScaledMapDataset", "PerBatchScale", "batch_short_side"]


def batch_short_side(seed: int, iteration: int, low: int, high: int) -> int:
    """The short-side size of training iteration ``iteration``: uniform in ``[low, high]``,
    a function of ``(seed, iteration)`` only."""
    rng = np.random.default_rng(derive_seed(seed, SEED_TAG_BATCH_SCALE, iteration))
    return int(rng.integers(low, high + 1))


def _resize_index(mapper) -> int:
    augs = mapper.augmentations.augs
    found = [i for i, a in enumerate(augs) if isinstance(a, T.ResizeShortestEdge)]
    if len(found) != 1 or not augs[found[0]].is_range:
        raise ValueError(
            "INPUT.TRAIN_JITTER_PER_BATCH needs a training mapper with one short-side resize "
            f"drawn from a range (ResizeShortestEdge, sample_style 'range'), got {augs}"
        )
    return found[0]


class PerBatchScale:
    """The copies of a training mapper (``.augmentations`` a Detectron2
    :class:`~detectron2.data.transforms.AugmentationList` with one range
    :class:`~detectron2.data.transforms.ResizeShortestEdge`) that resize to one size each.

    ``range``: the mapper's ``(low, high)`` short-side range; :meth:`for_iteration` gives the
    copy of an iteration's size (copies are cached; each counts its own data issues, which
    travel with the samples it returns, as the mapper's do).
    """

    def __init__(self, mapper):
        self._mapper = mapper
        self._index = _resize_index(mapper)
        resize = mapper.augmentations.augs[self._index]
        self.range = tuple(int(v) for v in resize.short_edge_length)
        self._copies = {}

    def for_size(self, size: int):
        """The mapper with its short side resized to ``size`` pixels."""
        if size not in self._copies:
            out = mapper_copy(self._mapper)
            augs = list(self._mapper.augmentations.augs)
            old = augs[self._index]
            augs[self._index] = T.ResizeShortestEdge(
                (size, size), max_size=old.max_size, sample_style="range", interp=old.interp
            )
            out.augmentations = T.AugmentationList(augs)
            self._copies[size] = out
        return self._copies[size]

    def for_iteration(self, seed: int, iteration: int):
        """The mapper of training iteration ``iteration`` of the stream ``seed``."""
        return self.for_size(batch_short_side(seed, iteration, *self.range))


class BatchScaledMapDataset(SeededMapDataset):
    """:class:`SeededMapDataset` whose item ``(index, seed, position)`` is mapped at the size of
    its iteration ``position // batch_size`` (``batch_size``: the clips of one step over all
    processes, ``SOLVER.IMS_PER_BATCH``; positions are the sampler's global ones)."""

    def __init__(self, dicts, mapper, batch_size: int, **kwargs):
        super().__init__(dicts, mapper, **kwargs)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._batch_size = int(batch_size)
        self._scales = PerBatchScale(mapper)

    def __getitem__(self, item):
        _, seed, position = item
        mapper = self._scales.for_iteration(seed, position // self._batch_size)
        return self.map_item(item, mapper)
