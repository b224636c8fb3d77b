"""Movies read with PyAV: the one place that opens and decodes them, and the time rule.

Every reader of movie files goes through :class:`Movie` (``video_reader``'s clip reader,
the checker, ``datasets/prepare_ava.py``, the loader benchmark), so there is one opener,
one decoding loop, one definition of a frame's presentation time and one time rule.

The rule (AVA's 30 fps convention): output frame ``k`` (``k = 0, 1, ...``; file number
``k + 1``; AVA frame index ``k`` when ``start`` is ``start_second``) is shown at movie time
``t_k = start + k / fps`` (:func:`index_time`), and the frame shown there is the source
frame whose presentation interval ``[t_i, t_(i+1))`` contains ``t_k``
(:func:`shown_frames`). ``t_i`` is the frame's presentation time (``pts * time_base``)
measured from the video stream's ``start_time``, so second 0 is the first frame of the
movie, as ``ffmpeg -ss`` counts (:meth:`Movie.timed`). Containers store times rounded to
their time base (1 ms in Matroska / WebM), which can move a frame start that coincides with
``t_k`` to just after it; ``t_k`` is therefore compared half a time-base unit late
(``t_i <= t_k + time_base / 2``). A source frame is repeated when the movie has fewer than
``fps`` frames per second (25 fps: every fifth frame twice) and skipped when it has more.
Targets before the first decoded frame take the first frame; the last frame's interval
ends at its ``pts + duration`` (:func:`expected_frame_count` counts the targets before that
end from the header). All times are exact fractions.

The same mapping serves any source rate (23.976, 25, 29.97, 30, 60 fps, variable).
"""

import math
from fractions import Fraction

import av

from .frames import AVA_FPS, AVA_START_SECOND

__all__ = [
    "MOVIE_ERRORS",
    "Movie",
    "expected_frame_count",
    "index_time",
    "iter_frames_by_time",
    "probe_movie",
    "shown_frames",
]

#: What opening, probing or seeking a movie raises: PyAV's error for a file it cannot read,
#: ValueError for a file without a video stream, OSError. (Decoding errors part way are
#: recorded by :meth:`Movie.timed`, not raised.)
MOVIE_ERRORS = (av.error.FFmpegError, ValueError, OSError)


def index_time(index, fps=AVA_FPS, start_second=AVA_START_SECOND):
    """Movie time (seconds, exact Fraction) of output frame / AVA frame index ``index``:
    ``start_second + index / fps``."""
    return Fraction(start_second) + Fraction(int(index)) / Fraction(fps)


def _tolerance(time_base):
    """How late a target time is compared with frame times: half a time-base unit."""
    return Fraction(time_base) / 2


def shown_frames(timed, times, tolerance):
    """The time rule: the source frame shown at each of ``times``.

    Args:
        timed: iterable of ``(frame, t, duration)`` in presentation order (:meth:`Movie.timed`).
        times: sorted sequence of target times (seconds, Fractions).
        tolerance: :attr:`Movie.tolerance` (half a time-base unit).

    Yields:
        ``(j, frame, t)`` for ``j = 0, 1, ...`` in order: ``frame`` (shown at ``times[j]``,
        presentation time ``t``) is the last frame with ``t <= times[j] + tolerance``, or the
        first frame when ``times[j]`` is before it. Stops at the first target after the end
        of the last frame of ``timed`` (``t + duration``), and reads ``timed`` only up to the
        frame after the last target.
    """
    j, n, prev = 0, len(times), None
    for frame, t, dur in timed:
        while j < n and times[j] + tolerance < t:
            shown = prev if prev is not None else (frame, t)
            yield j, shown[0], shown[1]
            j += 1
        if j >= n:
            return
        prev = (frame, t, dur)
    if prev is not None:  # the last frame covers its own interval
        frame, t, dur = prev
        while j < n and times[j] + tolerance < t + dur:
            yield j, frame, t
            j += 1


class Movie:
    """The first video stream of a movie file, open for reading; a context manager.

    Args:
        path: the movie file.
        threads: decoder threads (None: PyAV's default).
        default_rate: frame rate assumed for frame durations when the stream declares none.

    Attributes:
        path, container, stream: the file and PyAV's objects.
        time_base: the stream's time base (Fraction); ``tolerance`` is half of it.
        origin: the stream's ``start_time`` in seconds (movie time 0 is the first frame).
        declared_rate: the stream's average frame rate (Fraction, or None when unknown);
            ``rate`` is it or ``default_rate``.

    Raises:
        av.error.FFmpegError when the file cannot be opened; ValueError when it has no video
        stream (both in :data:`MOVIE_ERRORS`).
    """

    def __init__(self, path, threads=None, default_rate=AVA_FPS):
        self.path = path
        self.container = av.open(path)
        if not self.container.streams.video:
            self.container.close()
            raise ValueError(f"{path}: no video stream")
        self.stream = self.container.streams.video[0]
        if threads is not None:
            self.stream.codec_context.thread_count = threads
        self.time_base = Fraction(self.stream.time_base)
        self.tolerance = _tolerance(self.time_base)
        self.origin = Fraction(self.stream.start_time or 0) * self.time_base
        rate = self.stream.average_rate
        self.declared_rate = Fraction(rate) if rate else None
        self.rate = self.declared_rate or Fraction(default_rate)

    def close(self):
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def header(self):
        """What the container declares (see :func:`probe_movie`)."""
        stream, container = self.stream, self.container
        if stream.duration is not None:
            duration = Fraction(stream.duration) * self.time_base
        elif container.duration is not None:
            duration = Fraction(container.duration, av.time_base)
        else:
            duration = None
        return {
            "fps": self.declared_rate,
            "time_base": self.time_base,
            "duration": duration,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "codec": stream.codec_context.name,
        }

    def seek(self, t):
        """Move to the key frame at or before movie time ``t`` (seconds). Raises PyAV's error."""
        target = math.floor((Fraction(t) + self.origin) / self.time_base)
        self.container.seek(target, stream=self.stream, backward=True, any_frame=False)

    def frames(self, skip_until=None):
        """The stream's decoded frames (``av.VideoFrame``) from the current position.

        Before ``skip_until`` (movie seconds; None: never) the decoder drops the frames no
        other frame references (``skip_frame`` NONREF: a pre-roll from a key frame needs only
        the reference frames). Every frame at or after ``skip_until`` is decoded: a frame
        comes in decode order after the frames it references, so the first packet at or after
        ``skip_until`` precedes all of them. Raises PyAV's error when decoding fails.
        """
        cc = self.stream.codec_context
        skipping = skip_until is not None
        cc.skip_frame = "NONREF" if skipping else "DEFAULT"
        try:
            for packet in self.container.demux(self.stream):
                if skipping and (packet.pts is None or self.time_of(packet.pts) >= skip_until):
                    cc.skip_frame = "DEFAULT"
                    skipping = False
                yield from packet.decode()
        finally:
            cc.skip_frame = "DEFAULT"

    def time_of(self, pts):
        """Movie time (seconds, Fraction) of a presentation timestamp of the stream."""
        return Fraction(pts) * self.time_base - self.origin

    def timed(self, frames, first_time=Fraction(0), info=None):
        """``(frame, t, duration)`` for each of ``frames`` (from :meth:`frames`), in seconds.

        ``t`` is :meth:`time_of` the frame's pts; a frame without pts follows the previous
        one (the first: ``first_time``, where decoding started). ``duration`` is the frame's,
        else ``1 / rate``. A decoding error ends the frames; it is recorded, not raised.

        Args:
            info: optional dict that receives ``decoded`` (frames decoded), ``last_time``
                (the last frame's time or None), ``end`` (the latest frame end ``t +
                duration``, or None) and, when decoding failed part way, ``error`` (message).
        """
        info = {} if info is None else info
        info.update(decoded=0, last_time=None, end=None)
        t = dur = None
        try:
            for frame in frames:
                if frame.pts is not None:
                    t = self.time_of(frame.pts)
                else:
                    t = first_time if t is None else t + dur
                dur = Fraction(frame.duration) * self.time_base if frame.duration else 1 / self.rate
                info["decoded"] += 1
                info["last_time"] = t
                info["end"] = t + dur if info["end"] is None else max(info["end"], t + dur)
                yield frame, t, dur
        except av.error.FFmpegError as e:
            where = f"{float(t):.3f} s" if t is not None else "the start"
            info["error"] = f"decoding stopped after {info['decoded']} frames ({where}): {e}"


def probe_movie(path):
    """What the container declares about its first video stream.

    Returns:
        dict: ``fps`` (average frame rate, Fraction or None), ``time_base`` (Fraction),
        ``duration`` (seconds from the first frame, Fraction, or None when unknown: the video
        stream's duration, else the container's), ``width``, ``height``, ``codec``.
    Raises:
        av.error.FFmpegError when the file cannot be opened (unreadable, truncated index);
        ValueError when it has no video stream.
    """
    with Movie(path) as movie:
        return movie.header()


def expected_frame_count(start, duration, fps, movie_duration, time_base=Fraction(0)):
    """Number of output frames of seconds ``[start, start + duration)`` that a movie of
    ``movie_duration`` seconds (None: unknown, assume it is long enough) can give: the
    targets :func:`shown_frames` gives a frame for when the last frame ends there."""
    start, fps = Fraction(start), Fraction(fps)
    wanted = math.ceil(Fraction(duration) * fps)
    if movie_duration is None:
        return wanted
    # k counts while index_time(k, fps, start) + tolerance < movie_duration
    room = (Fraction(movie_duration) - start - _tolerance(time_base)) * fps
    return max(0, min(wanted, math.ceil(room)))


def iter_frames_by_time(path, start, duration, fps=30, info=None):
    """Yield ``(k, frame)`` for the output frames of seconds ``[start, start + duration)``.

    ``frame`` is a decoded ``av.VideoFrame``; a repeated source frame is yielded as the same
    object, so callers can encode it once. Decoding seeks to the key frame before ``start``
    and stops after the last frame needed. Yields nothing past the end of the movie.

    Args:
        info: optional dict that receives ``source_fps`` and what :meth:`Movie.timed`
            records (``decoded``, ``last_time``, ``end`` and, when decoding failed part way,
            ``error``); the frames up to the failure are still yielded.
    Raises:
        av.error.FFmpegError when the file cannot be opened; ValueError when it has no video.
    """
    info = {} if info is None else info
    start, fps = Fraction(start), Fraction(fps)
    times = [index_time(k, fps, start) for k in range(math.ceil(Fraction(duration) * fps))]
    with Movie(path, default_rate=fps) as movie:
        info.update(decoded=0, last_time=None, source_fps=movie.rate)
        if start > 0:
            movie.seek(start)
        frames = movie.frames()
        try:
            timed = movie.timed(frames, max(start, Fraction(0)), info)
            for k, frame, _ in shown_frames(timed, times, movie.tolerance):
                yield k, frame
        finally:
            frames.close()
