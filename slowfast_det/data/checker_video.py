"""Checks of a video root (``<root>/videos/<video_id>.{mp4,mkv,webm}``, frame source "video").

Used by :func:`slowfast_det.data.checker.check_ava_dataset` with ``frame_source="video"``:
every annotated video needs a movie whose header can be read (:func:`~.movie_frames.probe_movie`:
duration, frame rate, size) and that decodes at its annotated keyframes; with
``verify_images="all"`` each movie is decoded to its end, which finds truncated files.
The movies' frame rates and durations are reported (a rate far from 30 fps with the demo's
warning, :func:`~.frames.fps_warning`); whether the keyframes lie inside the
movies is checked by the caller from the frame counts returned here.
"""

import math
import os
from collections import Counter
from fractions import Fraction

from slowfast_det.ava.checks import keyframes_outside
from slowfast_det.ava.timestamps import format_timestamp

from .frames import fps_warning
from .movie_frames import MOVIE_ERRORS, Movie, expected_frame_count, index_time, probe_movie
from .video_reader import VideoReader, find_movie

__all__ = ["VIDEO_PROBLEMS", "VIDEO_WARNINGS", "check_movies", "decode_to_end"]

#: Problem categories of video roots.
VIDEO_PROBLEMS = {
    "missing_video": "annotated video without a movie videos/<video_id>.{mp4,mkv,webm}",
    "unreadable_video": "movie that cannot be opened or has no video stream",
    "undecodable_keyframe": "movie that gives no frame at an annotated keyframe",
    "truncated_video": (
        "movie that decodes to fewer frames than its header declares (or fails part way)"
    ),
}
#: Warning categories of video roots.
VIDEO_WARNINGS = {
    "video_unknown_duration": (
        "movie whose header gives no duration (keyframes not checked against its end)"
    ),
    "video_frame_rate": (
        "movie far from 30 fps: its clips repeat or skip many source frames "
        "(the demo warns the same)"
    ),
}
TRUNCATION_SLACK = Fraction(1, 2)  # seconds a decoded movie may fall short of its header


def decode_to_end(path):
    """(movie time of the end of the last decoded frame or None, error or None).

    Raises :data:`~.movie_frames.MOVIE_ERRORS` when the movie cannot be opened."""
    info = {}
    with Movie(path, threads=1) as movie:
        for _ in movie.timed(movie.frames(), Fraction(0), info):
            pass
    return info["end"], info.get("error")


def check_movies(
    root, videos_dir, keyframes, report, *, fps, start_second, verify_images, facts, rel
):
    """Check the movies of ``keyframes`` (video id -> sorted keyframe seconds).

    Args:
        report: the AVACheckReport to add problems / warnings to.
        verify_images: "none" (headers only), "keyframes" (decode the first and last
            annotated keyframe of each movie) or "all" (decode every movie to its end).
        facts: the split's info dict (gets movie counts, frame rates, durations).
        rel: path -> text relative to the root.

    Returns:
        video id -> frames of the AVA index the movie covers from ``start_second`` (None:
        unknown), for the movies found and readable.
    """
    try:
        listing = set(os.listdir(videos_dir))
    except OSError:
        listing = set()
    counts, rates, durations = {}, Counter(), []
    reader = VideoReader(cache_size=1)
    for vid, stamps in sorted(keyframes.items()):
        path = find_movie(videos_dir, vid, listing)
        if path is None:
            report.add(
                "missing_video",
                f"{rel(os.path.join(videos_dir, vid))}.{{mp4,mkv,webm}} ({len(stamps)} keyframes)",
            )
            continue
        try:
            info = probe_movie(path)
        except MOVIE_ERRORS as e:
            report.add("unreadable_video", f"{rel(path)}: {e}")
            continue
        rates[f"{float(info['fps']):.3f}" if info["fps"] else "unknown"] += 1
        slow_or_fast = fps_warning(float(info["fps"])) if info["fps"] else None
        if slow_or_fast:
            report.add("video_frame_rate", f"{rel(path)}: {slow_or_fast}")
        n = None
        if info["duration"] is None:
            report.add("video_unknown_duration", rel(path))
        else:
            durations.append(float(info["duration"]))
            span = max(Fraction(0), info["duration"] - start_second) + 1
            n = expected_frame_count(start_second, span, fps, info["duration"], info["time_base"])
        counts[vid] = n
        if verify_images == "all":
            end, error = decode_to_end(path)
            short = (
                info["duration"] is not None and (end or 0) < info["duration"] - TRUNCATION_SLACK
            )
            if error or short:
                got = "no frame" if end is None else f"frames up to {float(end):.2f} s"
                declared = "?" if info["duration"] is None else f"{float(info['duration']):.2f}"
                why = f"; {error}" if error else ""
                report.add(
                    "truncated_video",
                    f"{rel(path)}: {got} of the {declared} s its header declares{why}",
                )
        if verify_images in ("keyframes", "all"):
            for ts in dict.fromkeys((stamps[0], stamps[-1])):
                k, outside = keyframes_outside(ts, n, start_second, fps)
                if outside:
                    continue  # outside the movie: reported by the caller
                frames, error = reader.read(path, [index_time(k, fps, start_second)])
                if frames[0] is None:
                    report.add(
                        "undecodable_keyframe",
                        f"{rel(path)}: keyframe {vid},{format_timestamp(ts)}: {error}",
                    )
    reader.close()
    facts["movies found"] = len(counts)
    if rates:
        facts["movie frame rates"] = ", ".join(f"{r} fps x {c}" for r, c in sorted(rates.items()))
    if durations:
        facts["movie durations"] = f"{math.floor(min(durations))}-{math.ceil(max(durations))} s"
    return counts
