"""Frames of a classification video (a dataset dict of :mod:`.video_lists`) by time.

A dict names a movie (``"file_name"``) or a frame folder (``"frame_dir"`` + ``"num_frames"``,
with ``"frames"``, a :class:`~.frames.FrameTable`, or else the folder's image files in
numbered order from ``"first_frame"`` on). :class:`VideoClipReader` gives, for a dict:

- :meth:`~VideoClipReader.info`: duration, the last time with a frame, the frame size;
- :meth:`~VideoClipReader.read`: the frames shown at any list of times, in one pass.

Times are seconds from the first frame. A movie is read through
:class:`~.video_reader.VideoReader` (the one movie opener and time rule,
:mod:`.movie_frames`): its header and its frames come from the same open container, and all
the times of one call cost one seek and one forward decode. Frame ``k`` of a frame folder is
shown during ``[k / fps, (k + 1) / fps)`` with ``fps`` the dict's ``"fps"`` (default 30: the
clip's ``SAMPLING_RATE`` then counts stored frames, as PySlowFast's and MMAction2's frame
loaders count them).

The last time with a frame is on the 30 fps grid (:func:`~.movie_frames.expected_frame_count`,
AVA's rule), so the mapper clamps clip times that run past the end of a short video to a
time the movie shows.
"""

import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction

from .decode import read_frame, read_frame_size
from .frames import AVA_FPS
from .movie_frames import MOVIE_ERRORS, expected_frame_count
from .video_reader import VideoReader

__all__ = ["FRAME_EXTENSIONS", "VideoClipReader", "VideoInfo", "list_frame_files"]

#: Image files of a frame folder.
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")
_NUMBER = re.compile(r"(\d+)")


@dataclass
class VideoInfo:
    """What a video offers: ``duration`` (seconds, Fraction), ``last_time`` (the last time
    with a frame, Fraction), ``height``, ``width`` (pixels of its frames)."""

    duration: Fraction
    last_time: Fraction
    height: int
    width: int


def _natural_key(name):
    return [int(p) if p.isdigit() else p for p in _NUMBER.split(name)]


def list_frame_files(frame_dir):
    """The image files of ``frame_dir`` in numbered order (``img_9`` before ``img_10``);
    an empty list when the folder is missing or unreadable."""
    try:
        names = os.listdir(frame_dir)
    except OSError:
        return []
    names = [n for n in names if os.path.splitext(n)[1].lower() in FRAME_EXTENSIONS]
    return [os.path.join(frame_dir, n) for n in sorted(names, key=_natural_key)]


class VideoClipReader:
    """Reads classification videos by time (per process; movies kept open in a small cache).

    Args:
        cache_size: movies kept open, and frame folders whose listing is kept.
        threads: decoder threads per movie (1 in DataLoader workers).
    """

    def __init__(self, cache_size=2, threads=1):
        self.movies = VideoReader(cache_size=cache_size, threads=threads)
        self.cache_size = int(cache_size)
        self._listings = OrderedDict()

    def close(self):
        """Close the open movies (the next call opens them again)."""
        self.movies.close()

    # ------------------------------------------------------------------ frame folders

    def frame_paths(self, d):
        """The frame paths of a frame-folder dict, ``num_frames`` long (None where the folder
        has no file for a frame)."""
        n = int(d["num_frames"])
        if d.get("frames") is not None:
            return [d["frames"][k] for k in range(min(n, len(d["frames"])))] + [None] * max(
                0, n - len(d["frames"])
            )
        listing = self._listings.pop(d["frame_dir"], None)
        if listing is None:
            listing = list_frame_files(d["frame_dir"])
            while len(self._listings) >= self.cache_size:
                self._listings.popitem(last=False)
        self._listings[d["frame_dir"]] = listing
        first = int(d.get("first_frame", 0))
        paths = listing[first : first + n]
        return paths + [None] * (n - len(paths))

    @staticmethod
    def _fps(d):
        return Fraction(d.get("fps", AVA_FPS))

    # ------------------------------------------------------------------ the API

    def info(self, d):
        """(:class:`VideoInfo`, None), or (None, why) when the video gives no frame (cannot
        be opened, no video stream, empty, missing folder or no readable frame file)."""
        if "file_name" in d:
            return self._movie_info(d["file_name"])
        paths = self.frame_paths(d)
        present = [i for i, p in enumerate(paths) if p is not None]
        if not present:
            return None, f"no frame files in {d['frame_dir']}"
        mid = len(paths) // 2
        for i in sorted(present, key=lambda i: (abs(i - mid), i)):
            size = read_frame_size(paths[i])
            if size is not None:
                fps = self._fps(d)
                n = len(paths)
                return VideoInfo(Fraction(n) / fps, Fraction(n - 1) / fps, *size), None
        return None, f"none of the {len(present)} frame files of {d['frame_dir']} can be read"

    def _movie_info(self, path):
        try:
            movie = self.movies.movie(path)
            header = movie.header()
            duration = header["duration"]
            if duration is None:  # no duration in the header: the decoded end tells
                info = {}
                movie.seek(0)
                frames = movie.frames()
                try:
                    for _ in movie.timed(frames, Fraction(0), info):
                        pass
                finally:
                    frames.close()
                duration = info["end"]
        except MOVIE_ERRORS as e:
            return None, f"cannot open {path}: {e}"
        if duration is None or not header["height"] or not header["width"]:
            return None, f"{path}: no decodable frame"
        n = expected_frame_count(0, duration + 1, AVA_FPS, duration, header["time_base"])
        if n < 1:
            return None, f"{path}: no frame (duration {float(duration):.3f} s)"
        last = Fraction(n - 1, AVA_FPS)
        return VideoInfo(Fraction(duration), last, header["height"], header["width"]), None

    def read(self, d, times, factor=1):
        """The frames shown at ``times`` (seconds, any order, repeats allowed).

        Args:
            factor: decode at ``1 / factor`` of the size (1, 2, 4, 8; the mapper picks it).
        Returns:
            (frames, error): per time a BGR uint8 array (H, W, 3) or None (no frame there:
            unreadable, truncated, a missing file); one source frame shown at several times is
            one array object. ``error``: None, or why frames are missing.
        """
        times = [Fraction(t) for t in times]
        if "file_name" in d:
            return self.movies.read(d["file_name"], times, factor)
        paths, fps = self.frame_paths(d), self._fps(d)
        decoded, frames = {}, []
        for t in times:
            k = min(max(math.floor(t * fps), 0), len(paths) - 1)
            if k not in decoded:
                decoded[k] = None if paths[k] is None else read_frame(paths[k], factor)
            frames.append(decoded[k])
        missing = sorted(k for k, f in decoded.items() if f is None)
        error = None
        if missing:
            error = f"{len(missing)} frame(s) of {d['frame_dir']} missing or unreadable"
            error += f" (first: frame {missing[0]})"
        return frames, error
