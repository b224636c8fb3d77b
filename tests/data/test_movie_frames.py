"""One movie opener and one time rule (``slowfast_det.data.movie_frames``) for every reader:
the clip reader, the frame extraction and the checker give the same frames / ends."""

import logging
import math
from fractions import Fraction

import pytest
from movie_helpers import image_index, write_movie

from slowfast_det.data import checker_video
from slowfast_det.data.mapper_clips import replace_missing_frames
from slowfast_det.data.movie_frames import (
    MOVIE_ERRORS,
    Movie,
    expected_frame_count,
    index_time,
    iter_frames_by_time,
    probe_movie,
    shown_frames,
)
from slowfast_det.data.video_reader import VideoReader


def _timed(names, rate):
    """(name, t, duration) of constant-rate frames, recording how far they were read."""
    read = []

    def gen():
        for i, name in enumerate(names):
            read.append(name)
            yield name, Fraction(i) / rate, 1 / Fraction(rate)

    return gen(), read


def test_shown_frames_interval_rule():
    timed, read = _timed("abcd", 25)  # frames at 0, 0.04, 0.08, 0.12 s, each 0.04 s long
    times = [Fraction(-1, 100), Fraction(0), Fraction(1, 30), Fraction(2, 30), Fraction(1, 10)]
    got = list(shown_frames(timed, times, Fraction(0)))
    assert [(j, f) for j, f, _ in got] == [(0, "a"), (1, "a"), (2, "a"), (3, "b"), (4, "c")]
    assert got[3][2] == Fraction(1, 25)  # the shown frame's own time
    assert read == ["a", "b", "c", "d"]  # stops at the frame after the last target


def test_shown_frames_tolerance_and_end():
    tol = Fraction(1, 2000)  # half a 1 ms time base
    timed, _ = _timed("ab", 25)
    just_before_b = Fraction(1, 25) - Fraction(1, 4000)  # b's start stored up to 1/2 unit late
    assert [f for _, f, _ in shown_frames(timed, [just_before_b], tol)] == ["b"]
    timed, _ = _timed("ab", 25)
    # the last frame covers [0.04, 0.08): 0.079 is shown, 0.08 is past the end
    got = list(shown_frames(timed, [Fraction(79, 1000), Fraction(8, 100)], tol))
    assert [(j, f) for j, f, _ in got] == [(0, "b")]


def test_index_time_and_expected_count():
    assert index_time(45, 30, 900) == Fraction(1803, 2)
    assert index_time(1, Fraction(30000, 1001), 0) == Fraction(1001, 30000)
    # a 0.8 s movie (1 ms time base) gives targets 0 .. 23 of [0, 1) s at 30 fps
    assert expected_frame_count(0, 1, 30, Fraction(4, 5), Fraction(1, 1000)) == 24
    assert expected_frame_count(0, 1, 30, None) == 30


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    path = tmp_path_factory.mktemp("movie") / "m25.mkv"
    write_movie(path, 25, 20)  # 0.8 s, frame i shows i
    return str(path)


def test_every_reader_uses_the_same_rule(movie):
    with Movie(movie, threads=1) as m:
        header = m.header()
        assert header["fps"] == 25 and header["duration"] == Fraction(4, 5)
        assert [t for _, t, _ in m.timed(m.frames())] == [Fraction(i, 25) for i in range(20)]
    assert probe_movie(movie) == header
    n = expected_frame_count(0, 1, 30, header["duration"], header["time_base"])
    by_time = iter_frames_by_time(movie, 0, 1, 30)
    extracted = [image_index(f.to_ndarray(format="bgr24")) for _, f in by_time]
    expected = [math.floor(Fraction(k, 30) * 25) for k in range(n)]
    assert extracted == expected  # every fifth source frame twice, none past the end
    times = [index_time(k, 30, 0) for k in range(n)]
    frames, error = VideoReader().read(movie, times)
    assert error is None and [image_index(f) for f in frames] == expected
    assert checker_video.decode_to_end(movie) == (Fraction(4, 5), None)


def test_unreadable_movie(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a movie" * 50)
    with pytest.raises(MOVIE_ERRORS):
        Movie(str(junk))
    with pytest.raises(MOVIE_ERRORS):
        probe_movie(str(junk))
    frames, error = VideoReader().read(str(junk), [Fraction(0)])
    assert frames == [None] and error.startswith(f"cannot open {junk}")


def test_replace_missing_frames_takes_the_nearest_earlier_on_ties(caplog):
    clip = ["a", None, "c", None, None]
    copies = []

    def copy(i, j):
        copies.append((i, j))
        clip[i] = clip[j]

    with caplog.at_level(logging.DEBUG, logger="slowfast_det.data.mapper"):
        names = ["f0", "f1", "f2", "f3", "f4"]
        n = replace_missing_frames(names, [1, 3, 4], [0, 2], copy, " (why)")
    assert n == 3 and copies == [(1, 0), (3, 2), (4, 2)] and clip == ["a", "a", "c", "c", "c"]
    assert "Frame f1 is missing or unreadable (why); using f0 instead" in caplog.text
