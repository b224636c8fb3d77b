"""Frame sources of the dataset dicts: where a video's frames are, and the clip convention.

A dataset dict does not fix the clip: it names its keyframe (``timestamp``) and its video's
frames (``frame_source``); the mapper turns ``INPUT.NUM_FRAMES`` / ``SAMPLING_RATE`` into
frame indices with :func:`clip_frame_indices` and reads them through the source.

``frame_source`` is a dict with a ``"type"``: ``"frames"`` (:func:`frames_source`): image
frames (JPEG or PNG) listed in a frame list, ``{"type": "frames", "table": FrameTable,
"fps": 30, "start_second": 900}``; or ``"video"`` (:func:`.video_reader.video_source`): the
movie, read by time in the same frame index. The mapper dispatches on ``"type"``.
"""

import re

import numpy as np

from slowfast_det.ava.timestamps import frame_position, frame_positions

__all__ = [
    "AVA_FPS",
    "AVA_START_SECOND",
    "FrameTable",
    "clip_frame_indices",
    "default_start_second",
    "frames_source",
    "keyframe_index",
]

#: Frame rate of the extracted frames.
AVA_FPS = 30
#: Movie second of the first extracted frame (frame index 0).
AVA_START_SECOND = 900


def default_start_second(frame_source):
    """The movie second of AVA frame index 0 when none is given: AVA's for extracted frames
    (frame 1 is second 900, as AVA and prepare_ava write them); 0 for movies, whose
    timestamps are read as movie times."""
    return 0 if frame_source == "video" else AVA_START_SECOND


_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


def clip_frame_indices(
    timestamps,
    num_frames,
    sampling_rate,
    num_video_frames,
    fps=AVA_FPS,
    start_second=AVA_START_SECOND,
):
    """Frame indices of the clip of each keyframe (the AVA clip convention).

    The keyframe at time ``t`` is frame ``c = (t - start_second) * fps`` (rounded to the
    nearest frame for sub-second times, :mod:`~slowfast_det.ava.timestamps`); its clip is
    ``c - num_frames * sampling_rate // 2 + i * sampling_rate`` for ``i < num_frames``
    (``range(c - L/2, c + L/2, sampling_rate)`` with ``L = num_frames * sampling_rate`` as in
    PySlowFast), clamped to ``[0, num_video_frames - 1]``.

    Args:
        timestamps: number or array (K,) of keyframe times in seconds.
        num_frames, sampling_rate: clip length and stride in frames.
        num_video_frames: frames in the video.

    Returns:
        int64 array (num_frames,) for a scalar timestamp, else (K, num_frames).
    """
    center = frame_positions(timestamps, start_second, fps)
    offsets = (
        np.arange(num_frames, dtype=np.int64) * sampling_rate - (num_frames * sampling_rate) // 2
    )
    idx = center[..., None] + offsets
    return np.clip(idx, 0, num_video_frames - 1)


class FrameTable:
    """The frame paths of one video, indexed by frame id ``0 .. len - 1``.

    Stored compactly when the paths are numbered files (``<prefix><number><suffix>`` with
    consecutive zero-padded numbers, as the AVA extraction writes them): a few strings and
    ints, plus the ids that break the pattern (e.g. gaps filled with a neighbour's path).
    Otherwise the explicit tuple of paths is kept. Detectron2 pickles every dataset dict on
    its own (``DatasetFromList(serialize=True)``), so the table of a 27000-frame video costs
    about a hundred bytes per keyframe, not a megabyte.
    """

    __slots__ = ("_n", "_pattern", "_overrides", "_paths")

    def __init__(self, paths):
        """``paths``: sequence of the frame paths in frame-id order (absolute or not)."""
        paths = [str(p) for p in paths]
        if not paths:
            raise ValueError("FrameTable: a video needs at least one frame")
        self._n = len(paths)
        self._pattern, self._overrides, self._paths = None, None, None
        pattern = self._find_pattern(paths)
        if pattern is not None:
            prefix, first, width, suffix = pattern
            expected = [f"{prefix}{first + i:0{width}d}{suffix}" for i in range(self._n)]
            overrides = {i: p for i, (p, e) in enumerate(zip(paths, expected)) if p != e}
            if len(overrides) <= max(16, self._n // 100):
                self._pattern, self._overrides = pattern, overrides
                return
        self._paths = tuple(paths)

    @staticmethod
    def _find_pattern(paths):
        m = _NUMBERED.match(paths[0])
        if m is None:
            return None
        prefix, digits, suffix = m.groups()
        width = len(digits) if digits.startswith("0") else 1
        return prefix, int(digits), width, suffix

    def __len__(self):
        return self._n

    def __getitem__(self, i):
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"frame id {i} outside 0..{self._n - 1}")
        if self._paths is not None:
            return self._paths[i]
        p = self._overrides.get(i)
        if p is not None:
            return p
        prefix, first, width, suffix = self._pattern
        return f"{prefix}{first + i:0{width}d}{suffix}"

    def paths(self, indices):
        """The paths of frame ids ``indices`` (an iterable of ints), as a list."""
        return [self[i] for i in indices]

    @property
    def compact(self):
        """True when the table is stored as a numbered-file pattern."""
        return self._paths is None

    def __getstate__(self):
        return (self._n, self._pattern, self._overrides, self._paths)

    def __setstate__(self, state):
        self._n, self._pattern, self._overrides, self._paths = state

    def __eq__(self, other):
        return (
            isinstance(other, FrameTable)
            and len(self) == len(other)
            and all(self[i] == other[i] for i in range(len(self)))
        )

    def __repr__(self):
        kind = "pattern" if self.compact else "list"
        return f"FrameTable({self._n} frames, {kind}, first {self[0]!r})"


def frames_source(table, fps=AVA_FPS, start_second=AVA_START_SECOND):
    """The ``frame_source`` of a video stored as frames: ``table`` (a :class:`FrameTable`)
    holds frame ``(t - start_second) * fps`` of movie second ``t``."""
    return {"type": "frames", "table": table, "fps": int(fps), "start_second": int(start_second)}


def keyframe_index(dataset_dict):
    """Frame id of the dict's keyframe in its ``frame_source``."""
    src = dataset_dict["frame_source"]
    return frame_position(dataset_dict["timestamp"], src["start_second"], src["fps"])
