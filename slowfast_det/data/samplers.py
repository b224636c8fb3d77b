"""A reproducible, resumable training stream: which sample, with which augmentation RNG.

The training data is one infinite stream of *global sample positions* ``p = 0, 1, 2, ...``.
Position ``p`` is dataset index ``perm_e[p % N]`` with ``e = p // N`` the epoch and
``perm_e`` a permutation of the ``N`` dataset indices drawn from ``(seed, e)``; its
augmentation RNGs (numpy, ``random``, torch CPU) are seeded from ``(seed, p)``. So what a
sample looks like depends only on ``(seed, p)``, not on the process, DataLoader worker,
timing or restart that produced it:

* **distributed**: with ``W`` processes of ``b`` clips each, rank ``r`` takes positions
  ``start + r + k W``; training step ``t`` of all ranks together covers positions
  ``start + [t b W, (t + 1) b W)``, exactly the batch of one process with ``b W`` clips;
* **resume**: starting at position ``start_iter * IMS_PER_BATCH`` continues the stream
  where the interrupted run left it (:meth:`ResumableTrainingSampler.set_start`).

:class:`ResumableTrainingSampler` yields ``(index, seed, position)`` items and
:class:`SeededMapDataset` maps them through the data mapper; Detectron2's
``build_detection_train_loader`` batches them (``ToIterableDataset`` shards the stream over
DataLoader workers in whole per-rank batches).
"""

import itertools
import logging
import random
from contextlib import contextmanager

import numpy as np
import torch
from detectron2.data.common import DatasetFromList
from detectron2.utils import comm
from torch.utils.data import Dataset, Sampler

__all__ = ["derive_seed", "seeded_rngs", "ResumableTrainingSampler", "SeededMapDataset"]

logger = logging.getLogger(__name__)

# Domain tags, so that the seeds of different uses of (seed, n) never coincide.
SEED_TAG_EPOCH = 1  # (seed, tag, epoch) -> the epoch's permutation
SEED_TAG_SAMPLE = 2  # (seed, tag, position, retry) -> a sample's augmentation RNGs
SEED_TAG_ITERATION = 3  # (seed, tag, iteration, rank) -> the training process's RNGs (dropout)
SEED_TAG_BATCH_SCALE = 4  # (seed, tag, iteration) -> the step's short side (batch_scale.py)


def derive_seed(*values: int) -> int:
    """A 32-bit seed mixed from non-negative integers (numpy ``SeedSequence``): nearby
    inputs give unrelated seeds."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0])


@contextmanager
def seeded_rngs(seed: int):
    """Seed numpy's global RNG, ``random`` and torch's CPU RNG with ``seed`` inside the block,
    and restore their previous states afterwards (so the caller's streams are untouched)."""
    np_state, py_state, torch_state = (
        np.random.get_state(),
        random.getstate(),
        torch.get_rng_state(),
    )
    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        torch.set_rng_state(torch_state)


class ResumableTrainingSampler(Sampler):
    """Infinite, rank-sharded stream of ``(dataset index, seed, global position)`` items.

    Rank ``r`` of ``W`` yields positions ``start + r, start + r + W, ...``; position ``p`` is
    dataset index ``perm_{p // size}[p % size]`` (a fresh permutation per epoch, from
    ``(seed, epoch)``; ``shuffle=False`` keeps dataset order).

    Args:
        size: number of dataset dicts (N).
        shuffle: permute each epoch.
        seed: stream seed; None draws one shared by all ranks (all ranks must construct
            the sampler then). Saved in checkpoints by the trainer, so that a resumed run
            continues the same stream.
        start: global position of the first sample (``start_iter * total batch size``).
    """

    def __init__(self, size: int, shuffle: bool = True, seed=None, start: int = 0):
        if not isinstance(size, int) or size <= 0:
            raise ValueError(
                f"ResumableTrainingSampler needs a positive dataset size, got {size!r}"
            )
        self._size = size
        self._shuffle = shuffle
        self.seed = int(comm.shared_random_seed() if seed is None else seed)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0 or None, got {seed}")
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()
        self.set_start(start)

    @property
    def start(self) -> int:
        return self._start

    def set_start(self, position: int) -> None:
        """Start the stream at global position ``position`` (before iterating)."""
        if position < 0:
            raise ValueError(f"start position must be >= 0, got {position}")
        self._start = int(position)

    def start_at_iteration(self, iteration: int, batch_size: int) -> None:
        """Start the stream at training iteration ``iteration`` of ``batch_size`` clips per
        step over all processes (position ``iteration * batch_size``)."""
        self.set_start(iteration * batch_size)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Dataset indices of epoch ``epoch``, int64 (N,)."""
        if not self._shuffle:
            return np.arange(self._size, dtype=np.int64)
        return np.random.default_rng(derive_seed(self.seed, SEED_TAG_EPOCH, epoch)).permutation(
            self._size
        )

    def __iter__(self):
        epoch, order = -1, None
        for p in itertools.count(self._start + self._rank, self._world_size):
            e, i = divmod(p, self._size)
            if e != epoch:
                epoch, order = e, self.epoch_order(e)
            yield int(order[i]), self.seed, p

    def state_dict(self):
        return {"seed": self.seed}

    def load_state_dict(self, state):
        self.seed = int(state["seed"])


class SeededMapDataset(Dataset):
    """Map-style dataset of :class:`ResumableTrainingSampler` items.

    ``dataset[(index, seed, position)]`` is ``mapper(dicts[index])`` with the augmentation
    RNGs seeded from ``(seed, position)``. When the mapper skips a sample (returns None,
    counted by the mapper), another index drawn from ``(seed, position, retry)`` is tried,
    so the replacement is reproducible too; after ``max_retries`` skips in a row it fails
    with an error (the data is mostly unreadable).

    Args:
        dicts: list of dataset dicts (stored serialised, as Detectron2's ``DatasetFromList``,
            so DataLoader workers do not copy them on access).
        mapper: callable dict -> model input dict or None.
        max_retries: consecutive skips tolerated per item.
    """

    def __init__(self, dicts, mapper, max_retries: int = 64):
        self._dicts = DatasetFromList(dicts, copy=False, serialize=True)
        self._mapper = mapper
        self._max_retries = int(max_retries)

    def __len__(self):
        return len(self._dicts)

    def __getitem__(self, item):
        return self.map_item(item, self._mapper)

    def map_item(self, item, mapper):
        """``mapper(dicts[index])`` for the item ``(index, seed, position)`` (the retries and
        seeds of ``__getitem__``) with another mapper (e.g. one of another clip shape)."""
        index, seed, position = item
        n = len(self._dicts)
        for retry in range(self._max_retries + 1):
            sample_seed = derive_seed(seed, SEED_TAG_SAMPLE, position, retry)
            with seeded_rngs(sample_seed):
                if retry:
                    index = int(np.random.randint(n))
                out = mapper(self._dicts[index])
            if out is not None:
                if retry:
                    logger.debug(
                        "training sample at position %d: %d skipped dict(s) replaced",
                        position,
                        retry,
                    )
                return out
        raise RuntimeError(
            f"{self._max_retries + 1} training samples in a row were skipped by the mapper "
            f"(at stream position {position}): the data is mostly unreadable; see the data "
            "warnings above"
        )
