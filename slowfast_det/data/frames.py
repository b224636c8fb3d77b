"""Frame sources of the dataset dicts: where a video's frames are, and the clip convention.

A dataset dict does not fix the clip: it names its keyframe (``timestamp``) and its video's
frames (``frame_source``); the mapper turns ``INPUT.NUM_FRAMES`` / ``SAMPLING_RATE`` into
frame indices with :func:`clip_frame_indices` and reads them through the source.

``frame_source`` is a dict with a ``"type"``: ``"frames"`` (:func:`frames_source`): image
frames (JPEG or PNG) listed in a frame list, ``{"type": "frames", "table": FrameTable,
"fps": 30, "start_second": 900}``; or ``"video"`` (:func:`.video_reader.video_source`): the
movie, read by time in the same frame index. The mapper dispatches on ``"type"``.

The frames' origin (the movie second of frame index 0 and the frame rate) is one rule,
:func:`frame_origin`: the values given (a tool's ``--start-second`` / ``--fps``, a
registration's arguments), else those ``datasets/prepare_ava.py`` recorded next to the frame
lists (``frame_lists/frames.json``, :data:`FRAME_ORIGIN_FILE`), else AVA's (second 900 at
30 fps for extracted frames; second 0 for movies, whose timestamps are movie times). Every
reader of extracted frames (registration, the checker, ``detect_persons``, ``infer_ava``)
resolves it here.

The source frame-rate rule (:func:`fps_warning`): clips are sampled by time in the 30 fps
index, so a source far from 30 fps repeats or skips many frames; the demo and the dataset
checker warn with the same line.
"""

import json
import os
import re
from collections import namedtuple

import numpy as np

from slowfast_det.ava.errors import AVAFormatError
from slowfast_det.ava.timestamps import frame_position, frame_positions
from slowfast_det.utils.file_io import atomic_path

__all__ = [
    "AVA_FPS",
    "AVA_START_SECOND",
    "FPS_RANGE",
    "FRAME_ORIGIN_FILE",
    "FrameOrigin",
    "FrameTable",
    "clip_frame_indices",
    "default_start_second",
    "fps_warning",
    "frame_origin",
    "frame_origin_path",
    "origin_hint",
    "frames_source",
    "keyframe_index",
    "read_frame_origin",
    "write_frame_origin",
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


#: The file, next to the frame lists, that records where the extracted frames start.
FRAME_ORIGIN_FILE = "frames.json"

#: Where frame index 0 of a dataset's videos is: ``start_second`` (the movie second of frame
#: index 0), ``fps`` (frames per second of the index) and ``source`` (where the values came
#: from, for messages: ``"given"``, the origin file's path, or ``"AVA's default"``).
FrameOrigin = namedtuple("FrameOrigin", "start_second fps source")


def frame_origin_path(frame_lists_dir):
    """The origin file of the frame lists in ``frame_lists_dir``."""
    return os.path.join(frame_lists_dir, FRAME_ORIGIN_FILE)


def write_frame_origin(frame_lists_dir, start_second, fps):
    """Record the origin of the frames listed in ``frame_lists_dir`` (atomically):
    ``{"start_second": S, "fps": F}``. Returns the file's path."""
    path = frame_origin_path(frame_lists_dir)
    os.makedirs(frame_lists_dir, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump({"start_second": int(start_second), "fps": int(fps)}, f)
            f.write("\n")
    return path


def read_frame_origin(path):
    """The :class:`FrameOrigin` recorded in ``path``, or None when there is no such file.

    Raises:
        AVAFormatError naming the file and field when it is not ``{"start_second": int >= 0,
        "fps": int > 0}``.
    """
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as e:
        raise AVAFormatError(path, None, None, f"cannot be read as JSON: {e}") from None
    if not isinstance(record, dict):
        raise AVAFormatError(path, None, None, 'expected {"start_second": S, "fps": F}')
    values = {}
    for key, low in (("start_second", 0), ("fps", 1)):
        v = record.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise AVAFormatError(path, None, key, f"expected an integer >= {low}, got {v!r}")
        values[key] = v
    return FrameOrigin(values["start_second"], values["fps"], path)


def frame_origin(frame_source="frames", origin_file=None, *, start_second=None, fps=None):
    """The origin of a dataset's frame index: the one rule every reader of frames uses.

    Each of ``start_second`` / ``fps`` is the value given; else, for extracted frames, the
    one recorded in ``origin_file`` (``frame_lists/frames.json``, written by
    ``datasets/prepare_ava.py``) when it exists; else the default: AVA's second 900 at 30 fps
    for frames, second 0 at 30 fps for movies (:func:`default_start_second`; a movie's
    origin file is never read: its timestamps are movie times).

    Returns:
        :class:`FrameOrigin`; ``source`` says where ``start_second`` came from.
    Raises:
        AVAFormatError for a malformed origin file.
    """
    recorded = None
    if frame_source != "video" and origin_file is not None:
        recorded = read_frame_origin(origin_file)
    if start_second is not None:
        start, source = int(start_second), "given"
    elif recorded is not None:
        start, source = recorded.start_second, recorded.source
    else:
        start, source = default_start_second(frame_source), "AVA's default"
    if fps is None:
        fps = recorded.fps if recorded is not None else AVA_FPS
    return FrameOrigin(start, int(fps), source)


def origin_hint(origin):
    """What to do when keyframes fall before frame 0 of their videos under ``origin`` (a
    :class:`FrameOrigin`): one sentence for the loader's log and the checker."""
    if origin.source == "given":
        where = "given"
    elif origin.source == "AVA's default":
        where = f"AVA's default: no {FRAME_ORIGIN_FILE} next to the frame lists"
    else:
        where = f"recorded in {origin.source}"
    return (
        f"frame index 0 is read as movie second {origin.start_second} ({where}); if the frames "
        "start at another second (own movies extracted from second 0), rerun "
        f"datasets/prepare_ava.py (it records the start in frame_lists/{FRAME_ORIGIN_FILE}) or "
        "give the start second (--start-second, --register-ava NAME=ROOT:START)"
    )


# Source frame rates at which a clip is sampled without repeating or dropping many frames;
# outside it the demo and the dataset checker warn (the clip still spans the training extent).
FPS_RANGE = (24.0, 60.0)


def fps_warning(fps, num_frames=None, sampling_rate=None):
    """One line when a source at ``fps`` frames per second is outside :data:`FPS_RANGE`
    (else None); with the clip's ``num_frames`` and ``sampling_rate`` (in 30 fps frames) it
    also gives the clip's extent in seconds."""
    lo, hi = FPS_RANGE
    if lo <= fps <= hi:
        return None
    how = "repeats source frames" if fps < lo else "skips source frames"
    if num_frames is None or sampling_rate is None:
        clip = f"a clip spans the same time as at {AVA_FPS} fps"
    else:
        extent = num_frames * sampling_rate / AVA_FPS
        clip = (
            f"the {num_frames}-frame clip still spans {extent:.2f} s (INPUT.SAMPLING_RATE "
            f"{sampling_rate} is in {AVA_FPS} fps frames)"
        )
    return (
        f"source at {fps:.4g} fps, far from the {AVA_FPS} fps the model was trained at: "
        f"{clip} but {how}; scores may differ from the training conditions"
    )


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
