"""Parameters of the synthetic AVA-format dataset (:class:`SyntheticSpec`) and what follows
from them for each video: its id, its keyframe timestamps, its random streams and its scene
(:func:`build_video`). Each video draws from its own ``numpy`` stream seeded by
``(seed, split, index)``, so the output is a pure function of the parameters.
"""

import os
from dataclasses import dataclass

import numpy as np

from .render import CameraNoise, make_background
from .sampling import sample_video
from .scene import FIRST_SECOND

__all__ = [
    "SPLITS",
    "SyntheticSpec",
    "default_root",
    "video_ids",
    "keyframe_seconds",
    "build_video",
    "video_rng",
    "STREAM_SCENE",
    "STREAM_DETECTOR",
    "STREAM_EXCLUDE",
]

SPLITS = ("train", "val")
_SPLIT_CODE = {"train": 0, "val": 1}
# independent random streams of one video (the ``stream`` argument of :func:`video_rng`)
STREAM_SCENE, STREAM_DETECTOR, STREAM_EXCLUDE = 0, 1, 2


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of a synthetic dataset (all of them are recorded in the manifest)."""

    seed: int = 0
    num_train_videos: int = 32
    num_val_videos: int = 8
    duration_s: int = 34  # keyframes 902 .. 900 + duration_s - 2
    width: int = 160
    height: int = 120
    min_persons: int = 2
    max_persons: int = 4
    jpeg_quality: int = 90

    def validate(self):
        if self.num_train_videos < 1 or self.num_val_videos < 1:
            raise ValueError("synthetic AVA: num_train_videos and num_val_videos must be >= 1")
        if self.duration_s < 4:
            raise ValueError(
                "synthetic AVA: duration_s must be >= 4 (keyframes 902..duration-2), "
                f"got {self.duration_s}"
            )
        if self.width < 32 or self.height < 32:
            raise ValueError(
                f"synthetic AVA: frames must be at least 32x32, got {self.width}x{self.height}"
            )
        if not 1 <= self.min_persons <= self.max_persons:
            raise ValueError(
                "synthetic AVA: need 1 <= min_persons <= max_persons, "
                f"got {self.min_persons}, {self.max_persons}"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(
                f"synthetic AVA: jpeg_quality must be in 1..100, got {self.jpeg_quality}"
            )
        return self


def default_root():
    """``$DETECTRON2_DATASETS/synthetic_ava`` (``./datasets/synthetic_ava`` by default)."""
    return os.path.join(os.environ.get("DETECTRON2_DATASETS", "datasets"), "synthetic_ava")


def video_ids(spec, split):
    """Video ids of a split, e.g. ``syntrain0000``; safe for paths and CSVs."""
    n = spec.num_train_videos if split == "train" else spec.num_val_videos
    return [f"syn{split}{i:04d}" for i in range(n)]


def keyframe_seconds(spec):
    """Keyframe timestamps of every video: 902 .. 900 + duration_s - 2."""
    return list(range(FIRST_SECOND + 2, FIRST_SECOND + spec.duration_s - 1))


def video_rng(spec, split, index, stream):
    """Random stream ``stream`` (a ``STREAM_*``) of video ``index`` of ``split``."""
    return np.random.default_rng(
        np.random.SeedSequence([spec.seed, _SPLIT_CODE[split], index, stream])
    )


def build_video(spec, split, index):
    """The scene of video ``index`` of ``split``: ``(video, background, camera, rng)``.

    ``rng`` is the stream that continues into the per-frame camera noise, so rendering
    frames ``0..F-1`` in order with it reproduces the written JPEGs exactly.
    """
    rng = video_rng(spec, split, index, STREAM_SCENE)
    vid = video_ids(spec, split)[index]
    video = sample_video(
        rng, vid, spec.duration_s, spec.width, spec.height, spec.min_persons, spec.max_persons
    )
    background = make_background(rng, spec.width, spec.height)
    camera = CameraNoise(rng, video.num_frames)
    return video, background, camera, rng
