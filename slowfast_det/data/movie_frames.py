"""A movie's frames resampled to a fixed frame rate by time, decoded with PyAV.

The rule (AVA's 30 fps convention, used by ``datasets/prepare_ava.py``): output frame ``k``
(``k = 0, 1, ...``; file number ``k + 1``) is the source frame whose presentation interval
``[t_i, t_(i+1))`` contains ``t_k = start + k / fps`` seconds. ``t_i`` is the frame's
presentation time (``pts * time_base``) measured from the video stream's ``start_time``, so
second 0 is the first frame of the movie, as ``ffmpeg -ss`` counts. Containers store times
rounded to their time base (1 ms in Matroska / WebM), which can move a frame start that
coincides with ``t_k`` to just after it; ``t_k`` is therefore compared half a time-base unit
late (``t_i <= t_k + time_base / 2``). A source frame is repeated when the movie has fewer
than ``fps`` frames per second (25 fps: every fifth frame twice) and skipped when it has
more. Targets before the first decoded frame take the first frame; the last frame's interval
ends at its ``pts + duration``. All times are exact fractions.

The same mapping serves any source rate (23.976, 25, 29.97, 30, 60 fps, variable).
"""
import math
from fractions import Fraction

import av

__all__ = ["probe_movie", "iter_frames_by_time", "expected_frame_count"]


def _open_video(path):
    container = av.open(path)
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path}: no video stream")
    return container, container.streams.video[0]


def _origin(stream):
    return Fraction(stream.start_time or 0) * stream.time_base


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
    container, stream = _open_video(path)
    try:
        if stream.duration is not None:
            duration = Fraction(stream.duration) * stream.time_base
        elif container.duration is not None:
            duration = Fraction(container.duration, av.time_base)
        else:
            duration = None
        return {
            "fps": Fraction(stream.average_rate) if stream.average_rate else None,
            "time_base": Fraction(stream.time_base),
            "duration": duration,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "codec": stream.codec_context.name,
        }
    finally:
        container.close()


def expected_frame_count(start, duration, fps, movie_duration, time_base=Fraction(0)):
    """Number of output frames of seconds ``[start, start + duration)`` that a movie of
    ``movie_duration`` seconds (None: unknown, assume it is long enough) can give."""
    start, fps = Fraction(start), Fraction(fps)
    wanted = math.ceil(Fraction(duration) * fps)
    if movie_duration is None:
        return wanted
    # k counts while start + k / fps + time_base / 2 < movie_duration
    room = (Fraction(movie_duration) - start - Fraction(time_base) / 2) * fps
    return max(0, min(wanted, math.ceil(room)))


def iter_frames_by_time(path, start, duration, fps=30, info=None):
    """Yield ``(k, frame)`` for the output frames of seconds ``[start, start + duration)``.

    ``frame`` is a decoded ``av.VideoFrame``; a repeated source frame is yielded as the same
    object, so callers can encode it once. Decoding seeks to the key frame before ``start``
    and stops after the last frame needed. Yields nothing past the end of the movie.

    Args:
        info: optional dict that receives ``decoded`` (source frames decoded), ``last_time``
            (presentation time of the last decoded frame, seconds, or None), ``source_fps``
            and, when decoding failed part way, ``error`` (the decoder's message); the frames
            up to the failure are still yielded.
    Raises:
        av.error.FFmpegError when the file cannot be opened; ValueError when it has no video.
    """
    info = {} if info is None else info
    start, fps = Fraction(start), Fraction(fps)
    wanted = math.ceil(Fraction(duration) * fps)
    container, stream = _open_video(path)
    tb = Fraction(stream.time_base)
    origin, tol = _origin(stream), tb / 2
    rate = Fraction(stream.average_rate) if stream.average_rate else fps
    info.update(decoded=0, last_time=None, source_fps=rate)
    k = 0
    prev, prev_t, prev_dur = None, None, None
    try:
        if start > 0:
            container.seek(int((start + origin) / tb), stream=stream, backward=True)
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    t = prev_t + 1 / rate if prev_t is not None else Fraction(0)
                else:
                    t = Fraction(frame.pts) * tb - origin
                info["decoded"] += 1
                info["last_time"] = t
                if prev is not None:
                    while k < wanted and start + k / fps + tol < t:
                        yield k, prev
                        k += 1
                if k >= wanted:
                    return
                prev, prev_t = frame, t
                prev_dur = Fraction(frame.duration) * tb if frame.duration else 1 / rate
        except av.error.FFmpegError as e:
            info["error"] = f"decoding stopped after {info['decoded']} frames: {e}"
        if prev is not None:  # the last decoded frame covers its own interval
            while k < wanted and start + k / fps + tol < prev_t + prev_dur:
                yield k, prev
                k += 1
    finally:
        container.close()
