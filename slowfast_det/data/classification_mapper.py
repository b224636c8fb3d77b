"""ClassificationMapper: a classification dataset dict (one video) -> the model input.

Training (one clip per video): ``INPUT.NUM_FRAMES`` frames ``INPUT.SAMPLING_RATE`` apart in
30 fps time (``clip_span = NUM_FRAMES * SAMPLING_RATE / 30`` seconds), starting at a time
drawn uniformly in ``[0, max(duration - clip_span, 0)]`` (PySlowFast's random clip), read by
time at any source frame rate (:class:`~.video_clips.VideoClipReader`); the geometric
transform (short side jittered in ``INPUT.TRAIN_JITTER_SCALES``, a random
``INPUT.TRAIN_CROP_SIZE`` square, a flip with ``INPUT.FLIP_PROB``) and the colour jitter are
sampled by the AVA mapper's code (:mod:`.clip_ops`). Output::

    {"clip": uint8 (3, T, S, S), "label": int | "labels": list[int], "video_id": str,
     "color_jitter": [(name, factor), ...] (with INPUT.COLOR_JITTER > 0), "data_issues": {...}}

Testing (PySlowFast's views): ``N = TEST.NUM_TEMPORAL_CLIPS`` clips, clip ``i`` starting at
``delta * i / N`` with ``delta = max(duration - clip_span, 0)``, x ``C =
TEST.NUM_SPATIAL_CROPS`` squares of ``S = INPUT.TEST_SIZE`` along the long side after the
short side is resized to ``S`` (1: the centre; 3: left / centre / right, or top / centre /
bottom; C in general: evenly spaced, the first and last at the ends). The video is opened and
decoded once for all its views (one seek, one forward pass over the times the views need);
each source frame is resized and split into RGB planes once, and its crops copied into
every view that shows it.
Output, one dict per video::

    {"clips": uint8 (V, 3, T, S, S), V = N * C in (temporal, spatial) order, "video_id",
     "video_index": int (position in the dataset; set by the test loader), "label" | "labels",
     "data_issues": {...}}

Clip times past the end of a short video are clamped to its last frame (PySlowFast clamps
the frame indices). Bad data: frames the video cannot give (truncated, decoding errors, a
missing frame file) are replaced by the nearest decoded frame of the video, logged and
counted (``missing_frames``); a video that gives no frame (cannot be opened, missing) is
counted (``unreadable_videos``) and the mapper returns None: the training loader draws
another video from the sample's seed, the test loader leaves the video out.
"""

import logging
import sys
from collections import Counter
from fractions import Fraction

import numpy as np
from detectron2.config import configurable
from detectron2.data import transforms as T

from .clip_ops import new_clip_tensor, sample_clip_transform, sample_color_jitter
from .clip_ops import train_augmentations as _train_augmentations
from .decode import reduced_decode_factor
from .frames import AVA_FPS
from .mapper import ISSUE_MISSING_FRAMES
from .mapper_clips import replace_missing_frames
from .video_clips import VideoClipReader
from .warp import FrameWarp, write_rgb_planes

__all__ = ["ClassificationMapper", "ISSUE_UNREADABLE_VIDEOS", "crop_offsets"]

logger = logging.getLogger(__name__)

#: ``data_issues`` key of videos that give no frame (training: replaced; testing: left out).
ISSUE_UNREADABLE_VIDEOS = "unreadable_videos"
_DETAILED_WARNINGS = 20  # per process; afterwards only the counts (epoch summary) report


def crop_offsets(length, size, num_crops):
    """Start of each of ``num_crops`` crops of ``size`` along an axis of ``length`` pixels:
    one crop: the centre (``ceil((length - size) / 2)``, as PySlowFast's ``uniform_crop``);
    several: evenly spaced from 0 to ``length - size`` (3: left, centre, right)."""
    room = length - size
    if num_crops == 1:
        return [-(-room // 2)]
    return [-(-c * room // (num_crops - 1)) for c in range(num_crops)]


class ClassificationMapper:
    """Map a classification dataset dict to the model input (see the module doc)."""

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        num_frames=32,
        sampling_rate=2,
        jitter_scales=(256, 320),
        crop_size=224,
        flip_prob=0.5,
        color_jitter=0.0,
        test_size=256,
        num_temporal_clips=10,
        num_spatial_crops=3,
        reduced_decode=True,
    ):
        """
        Args:
            is_train: one random clip (training) or the test views.
            num_frames, sampling_rate: the clip: ``num_frames`` frames ``sampling_rate``
                frames of 30 fps apart.
            jitter_scales, crop_size, flip_prob: training short-side range, square crop
                (every training clip is ``crop_size`` square: ``jitter_scales[0] >=
                crop_size``), flip probability.
            color_jitter: brightness / contrast / saturation jitter at training (0: off).
            test_size: the test views' short side and square size.
            num_temporal_clips, num_spatial_crops: the test views (N, C).
            reduced_decode: decode at 1/2, 1/4, 1/8 size when the output allows.
        """
        if num_frames < 1 or sampling_rate < 1:
            raise ValueError(
                f"INPUT.NUM_FRAMES and INPUT.SAMPLING_RATE must be >= 1, got {num_frames}, "
                f"{sampling_rate}"
            )
        if is_train and not 0 < crop_size <= min(jitter_scales):
            raise ValueError(
                f"classification training needs INPUT.TRAIN_CROP_SIZE in 1..{min(jitter_scales)} "
                f"(the smallest of INPUT.TRAIN_JITTER_SCALES {list(jitter_scales)}), got "
                f"{crop_size}: every clip of a batch must be the same square"
            )
        if not is_train and min(test_size, num_temporal_clips, num_spatial_crops) < 1:
            raise ValueError(
                "INPUT.TEST_SIZE, TEST.NUM_TEMPORAL_CLIPS and TEST.NUM_SPATIAL_CROPS must be >= 1"
            )
        self.is_train = bool(is_train)
        self.num_frames, self.sampling_rate = int(num_frames), int(sampling_rate)
        self.crop_size = int(crop_size)
        self.augmentations = T.AugmentationList(
            _train_augmentations(jitter_scales, crop_size, flip_prob)
        )
        self.color_jitter = float(color_jitter) if is_train else 0.0
        self.test_size = int(test_size)
        self.num_temporal_clips, self.num_spatial_crops = num_temporal_clips, num_spatial_crops
        self.reduced_decode = bool(reduced_decode)
        self.reader = VideoClipReader()
        self._pending = Counter()
        self._warnings_left = _DETAILED_WARNINGS

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        return {
            "is_train": is_train,
            "num_frames": cfg.INPUT.NUM_FRAMES,
            "sampling_rate": cfg.INPUT.SAMPLING_RATE,
            "jitter_scales": tuple(cfg.INPUT.TRAIN_JITTER_SCALES),
            "crop_size": cfg.INPUT.TRAIN_CROP_SIZE,
            "flip_prob": cfg.INPUT.FLIP_PROB,
            "color_jitter": cfg.INPUT.COLOR_JITTER,
            "test_size": cfg.INPUT.TEST_SIZE,
            "num_temporal_clips": cfg.TEST.NUM_TEMPORAL_CLIPS,
            "num_spatial_crops": cfg.TEST.NUM_SPATIAL_CROPS,
            "reduced_decode": cfg.INPUT.REDUCED_DECODE,
        }

    # ------------------------------------------------------------------ time

    @property
    def clip_span(self):
        """Seconds a clip covers: ``NUM_FRAMES * SAMPLING_RATE / 30`` (Fraction)."""
        return Fraction(self.num_frames * self.sampling_rate, AVA_FPS)

    def clip_times(self, start, last_time):
        """The clip's frame times from ``start`` (seconds), clamped to ``last_time``."""
        step = Fraction(self.sampling_rate, AVA_FPS)
        return [min(Fraction(start) + j * step, last_time) for j in range(self.num_frames)]

    def train_clip_start(self, duration):
        """A random clip start in ``[0, max(duration - clip_span, 0)]`` (numpy's global RNG,
        seeded per sample by the training loader)."""
        return Fraction(float(np.random.uniform(0.0, float(max(duration - self.clip_span, 0)))))

    def test_clip_starts(self, duration):
        """PySlowFast's test clip starts: ``delta * i / N``, ``delta = max(duration -
        clip_span, 0)``, for ``i < N``."""
        delta, n = max(Fraction(duration) - self.clip_span, Fraction(0)), self.num_temporal_clips
        return [delta * i / n for i in range(n)]

    @property
    def views(self):
        """The test views ``(temporal clip, spatial crop)`` in output order."""
        return [
            (i, c) for i in range(self.num_temporal_clips) for c in range(self.num_spatial_crops)
        ]

    # ------------------------------------------------------------------ issues

    def take_issues(self, extra=None):
        """Counts of problems met since the last returned sample (plus ``extra``); resets them."""
        issues, self._pending = self._pending, Counter()
        if extra:
            issues.update(extra)
        return dict(issues)

    def _warn(self, msg, *args):
        if self._warnings_left > 0:
            self._warnings_left -= 1
            logger.warning(msg, *args)
        else:
            logger.debug(msg, *args)

    def _unreadable(self, d, why):
        self._pending[ISSUE_UNREADABLE_VIDEOS] += 1
        what = "replaced by another video" if self.is_train else "left out"
        self._warn("Video %s gives no frame (%s): %s", d.get("video_id"), why, what)
        return None

    def read_frames(self, d, times, factor=1):
        """The frames of video ``d`` at ``times`` (seconds), each missing one replaced by the
        nearest decoded frame in time (logged): how the training and test clips, and the
        windows of :func:`~slowfast_det.engine.classify_video.classify_windows`, are read.

        Args:
            d: a dataset dict of the classification datasets (``file_name`` or ``frame_dir``,
                ``video_id``).
            times: frame times in seconds (any order; repeats allowed).
            factor: reduced-decode factor (1, 2, 4 or 8) of the reader.
        Returns:
            ``(frames, replaced, error)``: ``frames[i]`` the BGR uint8 array ``(h, w, 3)`` for
            ``times[i]`` (repeated times share one array), ``replaced`` the number of missing
            frames replaced (None when no frame was decoded: the video is unreadable), and
            the reader's error text (None when every frame decoded).
        """
        frames, error = self.reader.read(d, times, factor)
        order = sorted(range(len(times)), key=times.__getitem__)
        readable = [r for r, i in enumerate(order) if frames[i] is not None]
        if not readable:
            return frames, None, error
        missing = [r for r, i in enumerate(order) if frames[i] is None]
        if not missing:
            return frames, 0, error
        names = [f"{d['video_id']}@{float(times[i]):.3f}s" for i in order]

        def copy(r, s):
            frames[order[r]] = frames[order[s]]

        replaced = replace_missing_frames(
            names, missing, readable, copy, f" ({error})" if error else ""
        )
        return frames, replaced, error

    def _labels(self, d, out):
        if "labels" in d:
            out["labels"] = list(d["labels"])
        else:
            out["label"] = int(d["label"])
        return out

    # ------------------------------------------------------------------ main

    def __call__(self, dataset_dict):
        """dataset dict -> model input dict, or None when the video gives no frame."""
        if self.is_train:
            return self.map_train(dataset_dict)
        return self.map_views(dataset_dict)

    def map_train(self, d):
        """One random training clip of the video (see the module doc)."""
        info, why = self.reader.info(d)
        if info is None:
            return self._unreadable(d, why)
        times = self.clip_times(self.train_clip_start(info.duration), info.last_time)
        _, out_hw, affine = sample_clip_transform(self.augmentations, info.height, info.width)
        factor = reduced_decode_factor(affine[2], affine[0]) if self.reduced_decode else 1
        frames, replaced, error = self.read_frames(d, times, factor)
        if replaced is None:
            return self._unreadable(d, error)
        clip = new_clip_tensor((3, len(frames), *out_hw))
        src_hw = (info.height, info.width)
        FrameWarp(affine, src_hw, factor, frames[0].shape[:2], out_hw).write_clip(
            frames, clip.numpy()
        )
        out = {"clip": clip, "video_id": d["video_id"]}
        jitter = sample_color_jitter(self.color_jitter)
        if jitter:
            out["color_jitter"] = jitter
        out["data_issues"] = self.take_issues(
            {ISSUE_MISSING_FRAMES: replaced} if replaced else None
        )
        return self._labels(d, out)

    def map_views(self, d, views=None):
        """The test views of the video, decoded once (see the module doc).

        Args:
            views: ``(temporal clip, spatial crop)`` pairs to make (default :attr:`views`, all).
        Returns:
            the output dict with ``"clips"`` ``(len(views), 3, T, S, S)``, or None.
        """
        views = self.views if views is None else list(views)
        info, why = self.reader.info(d)
        if info is None:
            return self._unreadable(d, why)
        starts = self.test_clip_starts(info.duration)
        clips = sorted({i for i, _ in views})
        times = [t for i in clips for t in self.clip_times(starts[i], info.last_time)]
        h, w, s = info.height, info.width, self.test_size
        new_h, new_w = T.ResizeShortestEdge.get_output_shape(h, w, s, sys.maxsize)
        affine = (new_w / w, 0.0, new_h / h, 0.0)
        factor = reduced_decode_factor(affine[2], affine[0]) if self.reduced_decode else 1
        frames, replaced, error = self.read_frames(d, times, factor)  # one pass, every view
        if replaced is None:
            return self._unreadable(d, error)
        along_x = new_w >= new_h
        offsets = crop_offsets(new_w if along_x else new_h, s, self.num_spatial_crops)
        boxes = [(0, o) if along_x else (o, 0) for o in offsets]
        out = new_clip_tensor((len(views), 3, self.num_frames, s, s))
        dst = out.numpy()
        slots = {}  # id(frame) -> (frame, [(clip position, frame position)]), in time order
        for k, frame in enumerate(frames):
            slots.setdefault(id(frame), (frame, []))[1].append(divmod(k, self.num_frames))
        by_clip = {}
        for v, (i, c) in enumerate(views):
            by_clip.setdefault(clips.index(i), []).append((v, boxes[c]))
        warp = FrameWarp(affine, (h, w), factor, frames[0].shape[:2], (new_h, new_w))
        planes = np.empty((3, new_h, new_w), np.uint8)
        for frame, uses in slots.values():
            write_rgb_planes(warp(frame), planes)  # each source frame resized and split once
            for p, j in uses:
                for v, (y, x) in by_clip[p]:
                    dst[v, :, j] = planes[:, y : y + s, x : x + s]
        issues = {ISSUE_MISSING_FRAMES: replaced} if replaced else None
        out = {"clips": out, "video_id": d["video_id"], "video_index": d.get("video_index", -1)}
        out["data_issues"] = self.take_issues(issues)
        return self._labels(d, out)
