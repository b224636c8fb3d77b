"""Training hooks of slowfast_det."""

import random

import numpy as np
import torch
from detectron2.engine import HookBase
from detectron2.utils import comm

from slowfast_det.data.samplers import SEED_TAG_ITERATION, derive_seed

__all__ = ["IterationSeedHook"]


class IterationSeedHook(HookBase):
    """Seed the training process's RNGs (torch incl. CUDA, numpy, ``random``) before every
    step from ``(seed, iteration, rank)``.

    Dropout masks and any other randomness of the step then depend only on the run seed and
    the iteration, so a run resumed from a checkpoint repeats the uninterrupted run's
    random draws (the data stream is made reproducible by
    :class:`~slowfast_det.data.samplers.ResumableTrainingSampler`).

    The run seed is the trainer's ``seed`` attribute, read at every step (resuming from a
    checkpoint may replace it).
    """

    def before_step(self):
        s = derive_seed(self.trainer.seed, SEED_TAG_ITERATION, self.trainer.iter, comm.get_rank())
        torch.manual_seed(s)
        np.random.seed(s)
        random.seed(s)
