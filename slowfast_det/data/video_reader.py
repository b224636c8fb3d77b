"""Clip frames straight from the movies (``frame_source`` type ``"video"``), decoded with PyAV
through :class:`~.movie_frames.Movie` (the one movie opener and decoding loop).

A video source is ``{"type": "video", "path": <movie>, "fps": 30, "start_second": 900,
"num_frames": N or None, "height": h, "width": w}``. The clip convention is defined in the
30 fps AVA frame index, exactly as for extracted frames (:func:`~.frames.clip_frame_indices`,
clamped to ``[0, num_frames - 1]``); frame index ``i`` is the movie time
:func:`~.movie_frames.index_time` ``= start_second + i / fps``, and the clip frame is the source
frame whose presentation interval contains that time (:func:`~.movie_frames.shown_frames`, which
``datasets/prepare_ava.py`` extracts frames with, so a clip read here is the clip built from
the frames extracted from the same movie, up to the JPEG re-encoding). This works for any
source rate (23.976, 25, 29.97, 30 fps, variable frame rate).

Reading a clip (:func:`read_clip`) costs one seek (to the key frame at or before the clip's
first time) and decodes forward until the frame after the clip's last time (up to one
second before the clip the decoder drops the frames nothing references); only the
source frames the clip uses are converted to BGR arrays (at ``1 / factor`` of their size
when the mapper's transform allows, the counterpart of the JPEG reduced decode). Each
process keeps a few containers open (:class:`VideoReader`, a small LRU per DataLoader
worker), so consecutive clips of a movie do not reopen it.

A movie that cannot be opened gives no frame; a truncated one (or one whose decoding fails
part way) gives the frames up to the failure. The mapper replaces the missing clip frames
by the nearest decoded ones and counts them, as for missing frame files.
"""

import itertools
import logging
import os
from collections import OrderedDict
from fractions import Fraction

from .frames import AVA_FPS, AVA_START_SECOND
from .movie_frames import (
    MOVIE_ERRORS,
    Movie,
    expected_frame_count,
    index_time,
    probe_movie,
    shown_frames,
)

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoReader",
    "find_movie",
    "index_time",
    "list_movies",
    "probe_video_source",
    "read_clip",
    "video_source",
]

logger = logging.getLogger(__name__)

#: Movie file extensions searched under ``<root>/videos`` (in this order).
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm")
#: Open containers kept per process.
CACHE_SIZE = 4
#: Seconds before a clip's first time from which every frame is decoded (see VideoReader).
PREROLL_MARGIN = Fraction(1)


def video_source(
    path, fps=AVA_FPS, start_second=AVA_START_SECOND, num_frames=None, height=None, width=None
):
    """The ``frame_source`` of a movie. ``num_frames``: frames of the AVA index the movie
    covers from ``start_second`` on (None: unknown, not clamped at the end)."""
    return {
        "type": "video",
        "path": str(path),
        "fps": int(fps),
        "start_second": int(start_second),
        "num_frames": None if num_frames is None else int(num_frames),
        "height": None if height is None else int(height),
        "width": None if width is None else int(width),
    }


def find_movie(videos_dir, video_id, listing=None):
    """``<videos_dir>/<video_id>.<ext>`` for the first of :data:`VIDEO_EXTENSIONS` present, or None.

    ``listing``: the folder's file names (a set), to avoid one stat per extension.
    """
    for ext in VIDEO_EXTENSIONS:
        name = video_id + ext
        if (
            (name in listing)
            if listing is not None
            else os.path.isfile(os.path.join(videos_dir, name))
        ):
            return os.path.join(videos_dir, name)
    return None


def list_movies(videos_dir):
    """Video id -> movie path of every ``<video_id>.{mp4,mkv,webm}`` in ``videos_dir`` (as
    :func:`find_movie` picks it when an id has several), in id order."""
    listing = set(os.listdir(videos_dir))
    ids = sorted(
        {os.path.splitext(n)[0] for n in listing if os.path.splitext(n)[1] in VIDEO_EXTENSIONS}
    )
    return {vid: find_movie(videos_dir, vid, listing) for vid in ids}


def probe_video_source(path, fps=AVA_FPS, start_second=AVA_START_SECOND):
    """:func:`video_source` of a movie with ``num_frames`` and the size from its header.

    Raises the PyAV error (or ValueError: no video stream) when it cannot be opened.
    """
    info = probe_movie(path)
    n = None
    if info["duration"] is not None:
        span = max(Fraction(0), info["duration"] - start_second) + 1  # long enough for anything
        n = expected_frame_count(start_second, span, fps, info["duration"], info["time_base"])
    return video_source(path, fps, start_second, n, info["height"], info["width"])


class VideoReader:
    """Reads clip frames from movies by time, keeping the last ``cache_size`` containers open.

    Args:
        cache_size: containers kept open (per process: a reader made before a DataLoader
            forks its workers reopens its movies in each worker).
        threads: decoder threads per container (1 in DataLoader workers).
        skip_preroll: between the key frame and ``PREROLL_MARGIN`` before the clip, let the
            decoder drop non-reference frames (B-frames nothing refers to); the frames of the
            clip are the same either way (a clip whose first frame would come from before the
            margin is decoded again without skipping).
    """

    def __init__(self, cache_size=CACHE_SIZE, threads=1, skip_preroll=True):
        self.skip_preroll = bool(skip_preroll)
        self.cache_size = int(cache_size)
        self.threads = int(threads)
        self._open = OrderedDict()
        self._pid = os.getpid()

    def _get(self, path):
        if self._pid != os.getpid():  # forked: the parent's containers are not ours
            self._open, self._pid = OrderedDict(), os.getpid()
        movie = self._open.pop(path, None)
        if movie is None:
            movie = Movie(path, threads=self.threads, default_rate=AVA_FPS)
            while len(self._open) >= self.cache_size:
                self._open.popitem(last=False)[1].close()
        self._open[path] = movie
        return movie

    def movie(self, path):
        """The open :class:`~.movie_frames.Movie` of ``path`` (opened now, or the one kept
        open), e.g. for its :meth:`~.movie_frames.Movie.header`; the reader owns it (closes it
        when it leaves the cache), and :meth:`read` of the same path reuses it. Raises
        :data:`~.movie_frames.MOVIE_ERRORS` when the movie cannot be opened."""
        return self._get(path)

    def _drop(self, path):
        movie = self._open.pop(path, None)
        if movie is not None:
            movie.close()

    def close(self):
        while self._open:
            self._open.popitem()[1].close()

    def read(self, path, times, factor=1):
        """Decode the source frames shown at ``times`` (seconds from the first frame, Fractions,
        any order).

        Returns:
            (frames, error): ``frames`` a list with, per time, a BGR uint8 array (H, W, 3)
            (at ``1 / factor`` of the movie's size, rounded up) or None when the movie has no
            frame there (cannot be opened, truncated, ends before); a source frame used at
            several times is the same array object. ``error``: None, or why frames are missing.
        """
        times = [Fraction(t) for t in times]
        if not times:
            return [], None
        try:
            movie = self._get(path)
        except MOVIE_ERRORS as e:
            return [None] * len(times), f"cannot open {path}: {e}"
        try:
            got, error = self._decode(movie, times, factor)
        except MOVIE_ERRORS as e:  # seek failure etc.
            got, error = {}, f"{path}: {e}"
        if error is not None:
            self._drop(path)  # a broken demuxer / decoder state is not reused
        return [got.get(i) for i in range(len(times))], error

    def _decode(self, movie, times, factor):
        """{position in times: array} for the times the movie shows, and the error if any."""
        tol = movie.tolerance
        order = sorted(range(len(times)), key=times.__getitem__)
        out, last = {}, [None, None]  # times are taken in order: a repeated frame is consecutive

        def take(frame, j):
            if last[0] is not frame:
                last[:] = frame, _to_bgr(frame, factor)
            out[order[j]] = last[1]

        ts = [times[i] for i in order]
        seek_at = max(Fraction(0), ts[0])
        skip = self.skip_preroll
        while True:
            out.clear()
            movie.seek(seek_at)
            skip_until = ts[0] - PREROLL_MARGIN if skip else None
            frames, info, taken, retry = movie.frames(skip_until), {}, 0, None
            try:
                timed = movie.timed(frames, seek_at, info)
                first = next(timed, None)
                if first is not None and ts[0] + tol < first[1] and first[1] > tol and seek_at > 0:
                    retry = "seek"  # the seek landed after the clip's start: decode from the start
                else:
                    timed = timed if first is None else itertools.chain([first], timed)
                    for j, frame, t in shown_frames(timed, ts, tol):
                        if j == 0 and skip_until is not None and t < skip_until:
                            retry = "skip"  # a skipped frame may have shown the clip's first time
                            break
                        take(frame, j)
                        taken = j + 1
            finally:
                frames.close()
            if retry == "seek":
                seek_at = Fraction(0)
            elif retry == "skip":
                skip = False
            else:
                break
        error = info.get("error")
        if taken < len(ts) and error is None:
            end = float(info["end"]) if info["end"] is not None else 0.0
            error = f"no frame at {float(ts[taken]):.3f} s (the decoded movie ends at {end:.3f} s)"
        return out, error


def _to_bgr(frame, factor):
    if factor > 1:
        w, h = -(-frame.width // factor), -(-frame.height // factor)
        return frame.reformat(width=w, height=h, format="bgr24", interpolation="AREA").to_ndarray()
    return frame.to_ndarray(format="bgr24")


_reader = [None]


def read_clip(source, indices, factor=1):
    """The frames of AVA frame indices ``indices`` of a video ``source`` (per-process reader).

    Returns (list of BGR arrays or None, error or None); see :meth:`VideoReader.read`.
    """
    if _reader[0] is None:
        _reader[0] = VideoReader()
    times = [index_time(i, source["fps"], source["start_second"]) for i in indices]
    return _reader[0].read(source["path"], times, factor)


def index_movies(videos_dir, video_ids, fps=AVA_FPS, start_second=AVA_START_SECOND):
    """Video sources of the movies of ``video_ids`` under ``videos_dir`` (one listing, one
    header probe per movie).

    Returns:
        (sources, missing, unreadable): ``sources`` video id -> :func:`video_source` (a movie
        whose header cannot be read keeps ``num_frames`` / size None: the mapper's counted
        recovery handles it), ``missing`` the ids without a movie, ``unreadable`` id -> error.
    """
    try:
        listing = set(os.listdir(videos_dir))
    except OSError:
        listing = set()
    sources, missing, unreadable = {}, [], {}
    for vid in video_ids:
        path = find_movie(videos_dir, vid, listing)
        if path is None:
            missing.append(vid)
            continue
        try:
            sources[vid] = probe_video_source(path, fps, start_second)
        except MOVIE_ERRORS as e:
            unreadable[vid] = f"{path}: {e}"
            sources[vid] = video_source(path, fps, start_second)
    return sources, missing, unreadable
