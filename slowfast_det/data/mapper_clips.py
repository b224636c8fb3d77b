"""The AVA mapper's clip reading: the clip's frames from its source, decoded into the clip.

:class:`AVAClipReading` is the part of :class:`~.mapper.AVADatasetMapper` that finds the
clip's frames (``INPUT.NUM_FRAMES`` / ``INPUT.SAMPLING_RATE`` around the keyframe,
:func:`~slowfast_det.data.frames.clip_frame_indices`) in the dict's ``frame_source`` (image
files, or the movie decoded by time: :mod:`slowfast_det.data.video_reader`), reads the
source's frame size, and decodes the frames one at a time straight into the uint8 RGB clip
(:class:`~slowfast_det.data.warp.FrameWarp`). :func:`replace_missing_frames` is the clip's
recovery of frames that are missing or cannot be decoded (also the classification mapper's).
"""

import logging

import numpy as np

from .clip_ops import new_clip_tensor
from .decode import read_frame, read_frame_size
from .frames import clip_frame_indices
from .video_reader import read_clip as read_video_clip
from .warp import FrameWarp

__all__ = ["AVAClipReading", "replace_missing_frames"]

# The mapper's logger name, kept from before the clip reading had its own module: logs and
# tests filter the missing-frame warnings on it.
logger = logging.getLogger("slowfast_det.data.mapper")

_DETAILED_WARNINGS = 20  # per process; afterwards only the counts (epoch summary) report
_warnings_left = [_DETAILED_WARNINGS]


def _log_issue(msg, *args):
    if _warnings_left[0] > 0:
        _warnings_left[0] -= 1
        suffix = (
            "" if _warnings_left[0] else " (further data warnings of this process are only counted)"
        )
        logger.warning(msg + suffix, *args)
    else:
        logger.debug(msg, *args)


def replace_missing_frames(names, missing, readable, copy, why=""):
    """The clip's recovery of missing frames: each clip position in ``missing`` gets the
    nearest position in ``readable`` (ties: the earlier one); logged, counted by the caller.

    Args:
        names: per clip position, how logs name the frame (path, or movie@index).
        missing, readable: clip positions (lists of ints); ``readable`` is not empty.
        copy: ``copy(i, j)`` gives position ``i`` the frame of position ``j``.
        why: text appended to the log message (e.g. the decoder's error).
    Returns:
        the number of replaced frames (``len(missing)``).
    """
    for i in missing:
        j = min(readable, key=lambda r: (abs(r - i), r))
        _log_issue("Frame %s is missing or unreadable%s; using %s instead", names[i], why, names[j])
        copy(i, j)
    return len(missing)


class AVAClipReading:
    """The clip reading of :class:`~.mapper.AVADatasetMapper` (a base class of it; uses the
    mapper's ``num_frames`` and ``sampling_rate``)."""

    def _source(self, dataset_dict, kinds=("frames", "video")):
        src = dataset_dict["frame_source"]
        if src.get("type") not in kinds:
            raise ValueError(
                f"{dataset_dict.get('image_id')}: frame_source type {src.get('type')!r} is not "
                f"supported (supported: {', '.join(map(repr, kinds))})"
            )
        return src

    def clip_frame_indices(self, dataset_dict):
        """The clip's frame indices in the source's frame index (the AVA clip convention)."""
        src = self._source(dataset_dict)
        n = (
            len(src["table"])
            if src["type"] == "frames"
            else (src["num_frames"] or np.iinfo(np.int32).max)
        )
        return clip_frame_indices(
            dataset_dict["timestamp"],
            self.num_frames,
            self.sampling_rate,
            n,
            src["fps"],
            src["start_second"],
        ).tolist()

    def clip_frame_paths(self, dataset_dict):
        """The paths of the dict's clip frames, in time order (frame sources of image files)."""
        return self._source(dataset_dict, ("frames",))["table"].paths(
            self.clip_frame_indices(dataset_dict)
        )

    def read_clip_frames(self, dataset_dict, factor):
        """The clip's frames from a "video" source (the movie, decoded by time:
        :mod:`slowfast_det.data.video_reader`): (names, list of BGR arrays or None (missing),
        error). ``names`` name each clip frame in logs (movie and frame index). Image-file
        sources are decoded straight into the clip by :meth:`decode_clip`.
        """
        src = self._source(dataset_dict, ("video",))
        idx = self.clip_frame_indices(dataset_dict)
        frames, error = read_video_clip(src, idx, factor)
        return [f"{src['path']}@{i}" for i in idx], frames, error

    def source_size(self, dataset_dict):
        """(height, width) of the dict's frames, or None when no frame can be read."""
        src = self._source(dataset_dict)
        if src["type"] == "video":
            return (src["height"], src["width"]) if src.get("height") else None
        return self._source_size(dataset_dict, self.clip_frame_paths(dataset_dict))

    def _source_size(self, dataset_dict, paths):
        mid = len(paths) // 2
        order = sorted(range(len(paths)), key=lambda i: (abs(i - mid), i))
        for p in [dataset_dict.get("keyframe_path")] + [paths[i] for i in order]:
            if p:
                size = read_frame_size(p)
                if size is not None:
                    return size
        return None

    @staticmethod
    def _new_clip_tensor(shape):
        return new_clip_tensor(shape)

    def frames_to_clip(self, frames, affine, src_hw, factor, out_hw):
        """Decoded frames -> the uint8 RGB clip tensor (3, T, H, W)
        (:class:`~slowfast_det.data.warp.FrameWarp`).

        Args:
            frames: list of T BGR uint8 arrays; a frame object that repeats (clamped clip
                ends) is warped once.
            affine: (ax, bx, ay, by), the clip transform from source to output pixels.
            src_hw: source frame size; factor: decode reduction the frames were read at;
            out_hw: output size (H, W).
        """
        clip = self._new_clip_tensor((3, len(frames), *out_hw))
        if frames:
            FrameWarp(affine, src_hw, factor, frames[0].shape[:2], out_hw).write_clip(
                frames, clip.numpy()
            )
        return clip

    def decode_clip(self, paths, factor, affine, src_hw, out_hw):
        """Decode the clip's image files one at a time straight into the uint8 RGB clip.

        Each frame is decoded (at 1/``factor`` size), warped and split into the clip's
        planes while it is in cache; a path that repeats (clamped clip ends) is decoded
        once. A missing or unreadable frame gets the planes of the nearest readable frame
        of the clip (logged). Same clip as ``frames_to_clip`` of all decoded frames.

        Returns:
            (clip tensor (3, T, H, W), number of replaced frames), or (None, T) when no
            frame can be read.
        """
        clip = self._new_clip_tensor((3, len(paths), *out_hw))
        dst = clip.numpy()
        first, readable, missing, warps = {}, [], [], {}  # path -> its first clip index
        for i, p in enumerate(paths):
            j = first.setdefault(p, i)
            if j != i:  # decoded (or found unreadable) at index j already
                if j in readable:
                    dst[:, i] = dst[:, j]
                    readable.append(i)
                else:
                    missing.append(i)
                continue
            img = read_frame(p, factor)
            if img is None:
                missing.append(i)
                continue
            warp = warps.get(img.shape)
            if warp is None:
                warp = warps[img.shape] = FrameWarp(affine, src_hw, factor, img.shape[:2], out_hw)
            warp.write(img, dst[:, i])
            readable.append(i)
        if not readable:
            return None, len(paths)

        def copy(i, j):
            dst[:, i] = dst[:, j]

        return clip, replace_missing_frames(paths, missing, readable, copy)
