"""Keyframe clips of a video stream, sampled by time.

AVA keyframe convention: keyframe ``t`` (seconds from the start of the video) is frame
``round(t * fps)``. Its clip follows the training clip convention, with the stride
``INPUT.SAMPLING_RATE`` counted in 30 fps frames (the rate of AVA's frames, which training
used): frame ``i < NUM_FRAMES`` of the clip is at time
``t + (i * SAMPLING_RATE - NUM_FRAMES * SAMPLING_RATE // 2) / 30`` seconds, taken from the
source frame nearest to it. A 30 fps video gets exactly the training clip indices; a 6 fps
or 60 fps video gets a clip of the same temporal extent (frames repeat at 6 fps, are
skipped at 60 fps).

* :func:`iter_keyframe_clips`: every frame of a video decoded once, grouped into one
  :class:`KeyframeClip` per second (the file demo, which writes every frame).
* :class:`FrameRing`: a fixed-size ring of the newest frames of a live stream, holding just
  the frames the current clip needs (the streaming demo).
"""

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from slowfast_det.data.frames import AVA_FPS, FPS_RANGE, fps_warning

__all__ = [
    "TRAINING_FPS",
    "FPS_RANGE",
    "KeyframeClip",
    "clip_indices",
    "keyframe_center",
    "segment_start",
    "fps_warning",
    "iter_keyframe_clips",
    "FrameRing",
]

logger = logging.getLogger(__name__)

TRAINING_FPS = AVA_FPS
# FPS_RANGE and fps_warning: the source frame-rate rule, shared with the dataset checker
# (slowfast_det.data.frames).


def keyframe_center(t, fps):
    """Frame index of keyframe second ``t``."""
    return int(round(t * fps))


def segment_start(t, fps):
    """First frame of the frames nearest to keyframe ``t`` (times >= t - 0.5 s)."""
    return 0 if t == 0 else int(math.ceil((t - 0.5) * fps))


def clip_indices(center, fps, num_frames, sampling_rate, num_video_frames=None, clamp=True):
    """Source frame indices of the clip around frame ``center``, sampled by time.

    Args:
        center: frame index of the keyframe.
        fps: frame rate of the source.
        num_frames, sampling_rate: ``INPUT.NUM_FRAMES`` and ``INPUT.SAMPLING_RATE`` (the
            stride in 30 fps frames, as in training).
        num_video_frames: clamp to ``[0, num_video_frames - 1]``; None = only to >= 0.
        clamp: False = no clamping at all (offsets from ``center``).
    Returns:
        int64 array (num_frames,); at 30 fps equal to
        ``slowfast_det.data.clip_frame_indices`` for the same keyframe.
    """
    offsets = (
        np.arange(num_frames, dtype=np.int64) * sampling_rate - (num_frames * sampling_rate) // 2
    )
    if fps == TRAINING_FPS:
        idx = center + offsets
    else:
        idx = center + np.round(offsets * (float(fps) / TRAINING_FPS)).astype(np.int64)
    if not clamp:
        return idx
    hi = np.iinfo(np.int64).max if num_video_frames is None else num_video_frames - 1
    return np.clip(idx, 0, hi)


@dataclass
class KeyframeClip:
    """One keyframe of a video and the clip around it.

    Attributes:
        timestamp: keyframe second (keyframe ``t`` is frame ``round(t * fps)``).
        center: frame index of the keyframe.
        keyframe: uint8 array (H, W, 3), BGR, frame ``center``.
        clip: uint8 array (T, H, W, 3), BGR, the frames at ``clip_indices``.
        clip_indices: the T frame indices of the clip (:func:`clip_indices`, clamped to the video).
        segment: ``[(frame_index, frame), ...]``, the frames nearest to this keyframe
            (times in ``[t - 0.5, t + 0.5)`` seconds; the last keyframe also takes the tail),
            in order; empty for a streamed clip.
        frame_time: wall-clock time (``time.monotonic()``) at which the newest frame of the
            clip arrived, for a streamed clip; None otherwise.
    """

    timestamp: int
    center: int
    keyframe: np.ndarray
    clip: np.ndarray
    clip_indices: list
    segment: list = field(default_factory=list)
    frame_time: float = None


def iter_keyframe_clips(frames, fps, num_frames, sampling_rate):
    """Group a frame stream into keyframe clips, decoding every frame once.

    Frames are kept in a sliding buffer from the earliest frame still needed (by the next
    clip or the next segment) to the newest decoded one, so overlapping clips share
    frames and memory stays bounded by about one clip span and one second of frames.

    Args:
        frames: iterable of frames (H, W, 3) in time order.
        fps: frames per second of the stream.
        num_frames, sampling_rate: ``INPUT.NUM_FRAMES``, ``INPUT.SAMPLING_RATE`` (30 fps frames).
    Yields:
        :class:`KeyframeClip` for t = 0, 1, 2, ... while ``round(t * fps)`` is a frame of the
        video.
    """

    def indices(center, num_video_frames=None):
        return clip_indices(center, fps, num_frames, sampling_rate, num_video_frames)

    buffer = {}
    decoded = 0  # number of frames decoded so far
    t = 0

    def emit(t, last_frame, final):
        center = keyframe_center(t, fps)
        idx = indices(center, last_frame + 1)
        seg_end = last_frame + 1 if final else segment_start(t + 1, fps)
        segment = [(i, buffer[i]) for i in range(segment_start(t, fps), seg_end)]
        clip = np.stack([buffer[i] for i in idx])
        return KeyframeClip(
            timestamp=t,
            center=center,
            keyframe=buffer[center],
            clip=clip,
            clip_indices=idx.tolist(),
            segment=segment,
        )

    def evict(t_next):
        lo = min(segment_start(t_next, fps), int(indices(keyframe_center(t_next, fps))[0]))
        for i in [i for i in buffer if i < lo]:
            del buffer[i]

    for frame in frames:
        buffer[decoded] = frame
        decoded += 1
        while True:
            # Keyframe t is complete once its clip is decoded and keyframe t+1 exists
            # (which fixes where t's segment ends).
            clip_last = int(indices(keyframe_center(t, fps))[-1])
            if decoded - 1 < max(clip_last, keyframe_center(t + 1, fps)):
                break
            yield emit(t, decoded - 1, final=False)
            t += 1
            evict(t)
    # End of stream: the remaining keyframes, clips clamped to the last frame.
    last = decoded - 1
    while last >= 0 and keyframe_center(t, fps) <= last:
        final = keyframe_center(t + 1, fps) > last
        yield emit(t, last, final=final)
        t += 1
        evict(t)


class FrameRing:
    """The newest frames of a live stream, in a fixed number of slots.

    Holds ``capacity`` frames: enough for the clip of the newest complete keyframe while
    the next one fills (one clip span plus one second), so memory does not depend on how
    far inference falls behind. Frame ``i`` lives in slot ``i % capacity``.

    Args:
        fps, num_frames, sampling_rate: as for :func:`clip_indices`.
    """

    def __init__(self, fps, num_frames, sampling_rate):
        self.fps = float(fps)
        self.num_frames = int(num_frames)
        self.sampling_rate = int(sampling_rate)
        offsets = clip_indices(0, fps, num_frames, sampling_rate, None, clamp=False)
        self.before, self.after = (
            int(offsets[0]),
            int(offsets[-1]),
        )  # clip frames around the keyframe
        # the newest complete keyframe's clip starts at most one second plus a clip span back
        self.capacity = (self.after - self.before) + int(math.ceil(self.fps)) + 2
        self._frames = [None] * self.capacity
        self._times = [0.0] * self.capacity
        self.count = 0  # frames appended so far; the newest is count - 1

    def append(self, frame, wall_time):
        """Add the next frame of the stream and the time it arrived."""
        slot = self.count % self.capacity
        self._frames[slot] = frame
        self._times[slot] = wall_time
        self.count += 1

    def oldest(self):
        """Index of the oldest frame still in the ring."""
        return max(0, self.count - self.capacity)

    def latest_complete(self, final=False):
        """The newest keyframe second whose clip has arrived (or, when ``final``, whose
        keyframe has: the clip is clamped to the last frame), or None."""
        limit = self.count - 1 if final else self.count - 1 - self.after
        if limit < 0:
            return None
        t = int(limit / self.fps) + 1
        while t >= 0 and keyframe_center(t, self.fps) > limit:
            t -= 1
        return t if t >= 0 else None

    def clip(self, t):
        """:class:`KeyframeClip` of keyframe ``t`` from the ring (indices clamped to the
        frames seen; the oldest frame in the ring stands in for evicted ones)."""
        center = keyframe_center(t, self.fps)
        idx = clip_indices(center, self.fps, self.num_frames, self.sampling_rate, self.count)
        idx = np.maximum(idx, self.oldest())
        frames = [self._frames[i % self.capacity] for i in idx]
        return KeyframeClip(
            timestamp=t,
            center=center,
            keyframe=self._frames[center % self.capacity],
            clip=np.stack(frames),
            clip_indices=idx.tolist(),
            frame_time=self._times[int(idx[-1]) % self.capacity],
        )
