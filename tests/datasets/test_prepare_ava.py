"""datasets/prepare_ava.py on real movies encoded here with PyAV (64x48, a few seconds).

Each source frame i carries its index in binary: 8 vertical bands of 8 pixels, band b white
when bit b of i is set, so every extracted JPEG tells which source frame it came from and
the by-time rule (output frame k = source frame whose interval contains 900 + k / 30 s,
here with --start 1) is checked frame by frame for 25, 29.97 and 30 fps movies. A truncated
Matroska file and an unreadable file check the counted recovery and the failure; the ffmpeg
binary path is checked with a fake ffmpeg (ffmpeg is not installed here).
"""

import json
import os
import stat
import sys
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from movie_helpers import H, W, source_index, write_movie
from script_modules import load_script

from slowfast_det.ava.io import read_frame_list
from slowfast_det.utils.argv import attach_dash_values

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECONDS = 3
RATES = {"m25": Fraction(25), "m2997": Fraction(30000, 1001), "m30": Fraction(30)}
EXTENSIONS = {"m25": ".mp4", "m2997": ".mp4", "m30": ".mkv"}  # Matroska: 1 ms time base


@pytest.fixture(scope="module")
def prepare():
    yield load_script(
        "datasets/prepare_ava.py", register=True
    )  # the worker pool pickles its functions by module name
    del sys.modules["prepare_ava"]


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    for vid, rate in RATES.items():
        write_movie(d / f"{vid}{EXTENSIONS[vid]}", rate, int(SECONDS * rate))
    (d / "notes.txt").write_text("not a movie")
    return d


def ids_file(tmp_path, ids):
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(ids) + "\n")
    return str(path)


def argv(videos, root, *extra):
    return ["--videos", str(videos), "--root", str(root), "--workers", "2", "--no-progress", *extra]


def test_frames_by_time_25_2997_30_fps(prepare, movies, tmp_path, capsys):
    root = tmp_path / "ava"
    # seconds [1, 4): the movies end at 3 s, so 60 frames each, and seeking is exercised
    assert (
        prepare.main(
            argv(
                movies,
                root,
                "--start",
                "1",
                "--duration",
                "3",
                "--split",
                f"train={ids_file(tmp_path, sorted(RATES))}",
            )
        )
        == 0
    )
    out = capsys.readouterr()
    assert "3 extracted, 0 truncated (frames kept), 0 already done, 0 failed" in out.out
    assert "m25: 60 frames (the movie ends before second 4: 30 frames fewer)" in out.err
    for vid, rate in RATES.items():
        folder = root / "frames" / vid
        names = sorted(n for n in os.listdir(folder) if n.endswith(".jpg"))
        assert names == [f"{vid}_{k:06d}.jpg" for k in range(1, 61)], vid
        got = [source_index(folder / n) for n in names]
        # frame k (file k + 1) = the source frame whose interval [i / r, (i + 1) / r) holds
        # 1 + k / 30
        assert got == [int((1 + Fraction(k, 30)) * rate) for k in range(60)], vid
        marker = json.loads((folder / prepare.MARKER).read_text())
        assert (
            marker["frames"] == 60
            and marker["backend"] == "pyav"
            and marker["av"] == av.__version__
        )
        assert marker["truncated"] is None and Fraction(marker["source_fps"]) == rate
    # 25 fps: every fifth source frame twice; 29.97 fps: all distinct here (one skip per 1001)
    assert len(set(got)) == 60
    fl = read_frame_list(str(root / "frame_lists" / "train.csv"))
    assert list(fl["video_id"].unique()) == sorted(RATES) and len(fl) == 180
    assert list(fl["frame_id"][:3]) == [0, 1, 2]


def test_jpeg_quality_is_ffmpegs_q_scale(prepare):
    img = cv2.GaussianBlur(
        np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8), (5, 5), 0
    )

    def size(q):
        enc = prepare.jpeg_encoder(W, H, q)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuvj420p")
        return b"".join(bytes(p) for p in enc.encode(frame))

    best, two, worst = size(1), size(2), size(31)
    assert best == two  # ffmpeg clamps -q:v 1 to its qmin of 2; so does this path
    assert len(worst) < len(best) and best[:2] == b"\xff\xd8"


def test_truncated_and_unreadable_movies(prepare, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_movie(videos / "whole.mkv", 30, 90)
    data = (videos / "whole.mkv").read_bytes()
    (videos / "cut.mkv").write_bytes(data[: len(data) // 2])
    (videos / "junk.mp4").write_bytes(b"\0not a movie" * 50)
    root = tmp_path / "ava"
    ids = ids_file(tmp_path, ["whole", "cut", "junk"])
    run = argv(videos, root, "--start", "0", "--duration", "3", "--split", f"val={ids}")
    assert prepare.main(run) == 1
    out = capsys.readouterr()
    assert "1 extracted, 1 truncated (frames kept), 0 already done, 1 failed" in out.out
    assert "FAILED junk:" in out.err and "cannot decode" in out.err
    line = next(x for x in out.err.splitlines() if x.startswith("TRUNCATED cut:"))
    n = len([x for x in os.listdir(root / "frames" / "cut") if x.endswith(".jpg")])
    assert (
        0 < n < 90
        and f"{n} of the 90 frames the header declares were decoded ({90 - n} missing" in line
    )
    got = [source_index(root / "frames" / "cut" / f"cut_{k + 1:06d}.jpg") for k in range(n)]
    assert got == list(range(n))  # what was decoded is right
    assert json.loads((root / "frames" / "cut" / prepare.MARKER).read_text())[
        "truncated"
    ].startswith(f"{n} of the 90")
    assert sorted(os.listdir(root / "frames")) == [
        "cut",
        "whole",
    ]  # nothing (no tmp folder) for junk
    assert "frame_lists/val.csv: 2 videos, 1 without frames: ['junk']" in out.out
    assert len(read_frame_list(str(root / "frame_lists" / "val.csv"))) == 90 + n

    # a second run skips both, still reports the truncation; --allow-truncated accepts it
    (videos / "junk.mp4").unlink()
    ids = ids_file(tmp_path, ["whole", "cut"])
    run = argv(videos, root, "--start", "0", "--duration", "3", "--split", f"val={ids}")
    assert prepare.main(run) == 1
    assert (
        "0 extracted, 1 truncated (frames kept), 1 already done, 0 failed"
        in capsys.readouterr().out
    )
    assert prepare.main(run + ["--allow-truncated"]) == 0


def test_resume_and_interrupted_runs(prepare, movies, tmp_path, capsys):
    root = tmp_path / "ava"
    frames = root / "frames"
    (frames / ".tmp_m25").mkdir(parents=True)  # a partial extraction of an interrupted run
    (frames / ".tmp_m25" / "m25_000001.jpg").write_bytes(b"partial")
    (frames / "m30").mkdir()  # a folder without marker (not finished by this tool)
    (frames / "m30" / "m30_000099.jpg").write_bytes(b"stale")
    run = argv(
        movies,
        root,
        "--start",
        "0",
        "--duration",
        "1",
        "--split",
        f"train={ids_file(tmp_path, ['m25', 'm30'])}",
        "--only",
        "m25",
        "m30",
    )
    assert prepare.main(run) == 0
    assert "2 extracted" in capsys.readouterr().out
    assert sorted(os.listdir(frames)) == ["m25", "m30"]
    assert sorted(os.listdir(frames / "m30")) == [prepare.MARKER] + [
        f"m30_{k:06d}.jpg" for k in range(1, 31)
    ]
    assert prepare.main(run) == 0
    assert (
        "0 extracted, 0 truncated (frames kept), 2 already done, 0 failed"
        in capsys.readouterr().out
    )


def test_ids_beginning_with_a_dash(prepare, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for vid in ("-5KQ66BBWC4", "plain", "-other"):
        write_movie(videos / f"{vid}.mkv", 30, 15)
    root = tmp_path / "ava"
    split = [
        "--split",
        f"train={ids_file(tmp_path, ['-5KQ66BBWC4', 'plain'])}",
        "--duration",
        "1",
        "--start",
        "0",
    ]
    assert prepare.main(argv(videos, root, "--only", "-5KQ66BBWC4", "plain", *split)) == 0
    assert sorted(os.listdir(root / "frames")) == ["-5KQ66BBWC4", "plain"]
    assert prepare.main(argv(videos, root, "--only=-other", *split)) == 0
    assert "-other" in os.listdir(root / "frames")
    assert prepare.parse_args(
        ["--videos", "v", "--root", "r", "--only", "a", "-b", "--only=-c", "--workers", "1"]
    ).only == ["a", "-b", "-c"]
    with pytest.raises(SystemExit):  # --only without a value is still an error
        prepare.parse_args(["--videos", "v", "--root", "r", "--only", "--workers", "1"])
    capsys.readouterr()


def test_attach_dash_values():
    assert attach_dash_values(
        ["--video-id", "-5KQ66BBWC4", "MODEL.WEIGHTS", "x"], single=("--video-id",)
    ) == ["--video-id=-5KQ66BBWC4", "MODEL.WEIGHTS", "x"]
    assert attach_dash_values(["--only", "a", "-b", "-h"], multiple=("--only",)) == [
        "--only=a",
        "--only=-b",
        "-h",
    ]
    assert attach_dash_values(["--x", "--", "--only", "-a"], multiple=("--only",)) == [
        "--x",
        "--",
        "--only",
        "-a",
    ]
    assert attach_dash_values(["--video-id=-a"], single=("--video-id",)) == ["--video-id=-a"]


def test_no_frame_list_fails_before_extracting(prepare, movies, tmp_path, capsys):
    root = tmp_path / "ava"
    with pytest.raises(SystemExit) as e:
        prepare.main(argv(movies, root))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert (
        "no frame list can be written" in err
        and "ava_train_v2.2.csv" in err
        and "ava_val_v2.2.csv" in err
    )
    assert not (root / "frames").exists()
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "ava_train_v2.1.csv").write_text("m25,0902,0.1,0.1,0.5,0.5,3,0\n")
    with pytest.raises(SystemExit) as e:
        prepare.main(argv(movies, root))
    assert e.value.code == 2 and "Found ava_train_v2.1.csv" in capsys.readouterr().err
    # the default v2.2 annotation names are found
    (root / "annotations" / "ava_val_v2.2.csv").write_text("m30,0000,0.1,0.1,0.5,0.5,3,0\n")
    assert prepare.main(argv(movies, root, "--only", "m30", "--start", "0", "--duration", "1")) == 0
    assert "frame_lists/val.csv: 1 videos" in capsys.readouterr().out


FAKE_FFMPEG = """#!{python}
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["FAKE_FFMPEG_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
for i in range(30):
    shutil.copy(os.environ["FAKE_FFMPEG_JPEG"], args[-1] % (1 + i))
"""


def test_ffmpeg_backend(prepare, movies, tmp_path, monkeypatch):
    cmd = prepare.ffmpeg_command("ffmpeg", "/v/abc.mkv", "/out/.tmp_abc", "abc")
    assert cmd == [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-ss",
        "900",
        "-t",
        "901",
        "-i",
        "/v/abc.mkv",
        "-r",
        "30",
        "-q:v",
        "1",
        "-start_number",
        "1",
        "/out/.tmp_abc/abc_%06d.jpg",
    ]
    exe = tmp_path / "ffmpeg"
    exe.write_text(FAKE_FFMPEG.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    jpeg = tmp_path / "x.jpg"
    cv2.imwrite(str(jpeg), np.zeros((H, W, 3), np.uint8))
    monkeypatch.setenv("FAKE_FFMPEG_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("FAKE_FFMPEG_JPEG", str(jpeg))
    root = tmp_path / "ava"
    run = argv(
        movies,
        root,
        "--backend",
        "ffmpeg",
        "--ffmpeg",
        str(exe),
        "--only",
        "m30",
        "--start",
        "0",
        "--duration",
        "1",
        "--split",
        f"train={ids_file(tmp_path, ['m30'])}",
    )
    assert prepare.main(run) == 0
    calls = [json.loads(x) for x in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == 1 and calls[0][calls[0].index("-t") + 1] == "1"
    assert json.loads((root / "frames" / "m30" / prepare.MARKER).read_text())["backend"] == "ffmpeg"
    # a missing ffmpeg binary fails with a pointer to the default backend
    run[run.index(str(exe))] = str(tmp_path / "no-ffmpeg")
    (root / "frames" / "m30" / prepare.MARKER).unlink()
    assert prepare.main(run) == 1


def test_unsafe_split_ids_rejected(prepare, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("ok1\n../../etc\n")
    with pytest.raises(ValueError, match=r"ids.txt:2: field 'video_id' unsafe"):
        prepare.read_split_ids(str(ids))


def test_own_short_movies_start_at_second_0_and_record_it(prepare, tmp_path, capsys):
    """Issue 26: own movies of a few seconds, annotated in movie seconds. By default prepare_ava
    extracts them from second 0 (the annotations start before 900) to their end, records the
    start in frame_lists/frames.json, and warns about a 6 fps source as the demo does; AVA's
    start fails on them with what to do; another start into the same root is refused."""
    videos = tmp_path / "videos"
    videos.mkdir()
    write_movie(videos / "own.mp4", 30, 285)  # 9.5 s: frames 0..284
    write_movie(videos / "slow.mp4", 6, 18)  # 3 s at 6 fps
    root = tmp_path / "own_ava"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "ava_train_v2.2.csv").write_text(
        "own,0002,0.1,0.1,0.5,0.9,11,0\nown,0008,0.1,0.1,0.5,0.9,12,0\n"
    )
    (root / "annotations" / "ava_val_v2.2.csv").write_text("slow,0001,0.1,0.1,0.5,0.9,91,0\n")
    assert prepare.main(argv(videos, root)) == 0
    out = capsys.readouterr()
    assert "keyframes from second 1, before AVA's 900: extracting from second 0" in out.err
    assert "2 extracted, 0 truncated (frames kept), 0 already done, 0 failed" in out.out
    origin = json.loads((root / "frame_lists" / "frames.json").read_text())
    assert origin == {"start_second": 0, "fps": 30}
    names = sorted(n for n in os.listdir(root / "frames" / "own") if n.endswith(".jpg"))
    assert len(names) == 285  # the whole movie, not 901 s from second 900
    assert [source_index(root / "frames" / "own" / names[k]) for k in (0, 60, 240)] == [0, 60, 240]
    slow = next(x for x in out.err.splitlines() if x.startswith("slow: "))
    assert "source at 6 fps, far from the 30 fps the model was trained at" in slow
    assert "repeats source frames" in slow
    assert len(read_frame_list(str(root / "frame_lists" / "train.csv"))) == 285

    # AVA's start on them: a failure that says what to do
    other = tmp_path / "at_900"
    ids = ids_file(tmp_path, ["own"])
    assert prepare.main(argv(videos, other, "--start", "900", "--split", f"train={ids}")) == 1
    err = capsys.readouterr().err
    assert "FAILED own:" in err and "the movie is 9.50 s long, it ends before --start 900" in err
    assert "use --start 0" in err
    # another start into the root whose frames start at second 0: refused before extracting
    with pytest.raises(SystemExit) as e:
        prepare.main(argv(videos, root, "--start", "900"))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "frames.json (and 2 more): the frames under" in err
    assert "start at second 0 at 30 fps" in err
    assert "--start 0 --fps 30" in err
    # without the file (frames of an older run), the movies' markers still refuse the mix
    (root / "frame_lists" / "frames.json").unlink()
    with pytest.raises(SystemExit) as e:
        prepare.main(argv(videos, root, "--start", "900", "--split", f"train={ids}"))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "frames/own (and 1 more): the frames under" in err
    assert not (root / "frame_lists" / "frames.json").exists()


def test_default_start_from_the_annotations(prepare, tmp_path):
    ava = tmp_path / "ava.csv"
    ava.write_text("-5KQ66BBWC4,0902,0.1,0.1,0.5,0.9,12,0\n")
    own = tmp_path / "own.csv"
    own.write_text("mine,0002.5,0.1,0.1,0.5,0.9,12,0\n")
    assert prepare.default_start({"train": str(ava)}) == (900, None)
    assert prepare.default_start({"train": ids_file(tmp_path, ["mine"])}) == (900, None)  # no times
    start, why = prepare.default_start({"train": str(ava), "val": str(own)})
    assert start == 0 and "keyframes from second 2.5" in why
