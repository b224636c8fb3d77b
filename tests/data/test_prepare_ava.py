"""datasets/prepare_ava.py with a fake ffmpeg (ffmpeg is not installed here).

The fake records its arguments and writes a few JPEGs where the output pattern says; a
movie whose name contains "broken" makes it fail. This tests the command, the parallel
driver, resume / skip logic and the frame lists, not ffmpeg's own decoding.
"""
import importlib.util
import json
import os
import stat
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAKE_FFMPEG = """#!{python}
import json, os, sys
import cv2, numpy as np
args = sys.argv[1:]
with open(os.environ["FAKE_FFMPEG_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
src = args[args.index("-i") + 1]
if "broken" in src:
    sys.stderr.write("broken.mkv: Invalid data found when processing input\\n")
    sys.exit(1)
pattern = args[-1]
first = int(args[args.index("-start_number") + 1])
for i in range(int(os.environ.get("FAKE_FFMPEG_FRAMES", "4"))):
    cv2.imwrite(pattern % (first + i), np.full((8, 8, 3), i, np.uint8))
"""


@pytest.fixture(scope="module")
def prepare():
    spec = importlib.util.spec_from_file_location("prepare_ava", os.path.join(REPO, "datasets", "prepare_ava.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["prepare_ava"] = mod  # the worker pool pickles its functions by module name
    spec.loader.exec_module(mod)
    yield mod
    del sys.modules["prepare_ava"]


@pytest.fixture
def fake_ffmpeg(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "ffmpeg"
    exe.write_text(FAKE_FFMPEG.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "ffmpeg_calls.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_FFMPEG_LOG", str(log))

    def calls():
        return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []

    return calls


def test_ffmpeg_command(prepare):
    cmd = prepare.ffmpeg_command("ffmpeg", "/v/abc.mkv", "/out/.tmp_abc", "abc")
    assert cmd == [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-ss", "900", "-t", "900", "-i", "/v/abc.mkv",
        "-r", "30", "-q:v", "1", "-start_number", "1", "/out/.tmp_abc/abc_%06d.jpg",
    ]


def _movies(tmp_path, names):
    d = tmp_path / "videos"
    d.mkdir()
    for n in names:
        (d / n).write_bytes(b"movie")
    (d / "notes.txt").write_text("not a movie")
    return str(d)


def test_extract_resume_and_frame_lists(prepare, fake_ffmpeg, tmp_path, capsys):
    videos = _movies(tmp_path, ["vid1.mkv", "vid2.mp4", "broken.webm"])
    root = tmp_path / "ava"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "ava_train_v2.2.csv").write_text("vid1,0902,0.1,0.1,0.5,0.5,3,0\nvid2,0903\n")
    (root / "annotations" / "ava_val_v2.2.csv").write_text("broken,0902,0.1,0.1,0.5,0.5,3,0\n")
    argv = ["--videos", videos, "--root", str(root), "--workers", "2", "--no-progress"]

    assert prepare.main(argv) == 1  # broken.webm failed; split val lists it without frames
    calls = fake_ffmpeg()
    assert sorted(c[c.index("-i") + 1].rsplit("/", 1)[1] for c in calls) == ["broken.webm", "vid1.mkv", "vid2.mp4"]
    frames = root / "frames"
    assert sorted(os.listdir(frames)) == ["vid1", "vid2"]  # no tmp folder left, nothing for broken
    assert sorted(os.listdir(frames / "vid1")) == [prepare.MARKER] + [f"vid1_{i:06d}.jpg" for i in range(1, 5)]
    assert json.loads((frames / "vid1" / prepare.MARKER).read_text())["frames"] == 4
    train = (root / "frame_lists" / "train.csv").read_text().splitlines()
    assert train[0] == "original_vido_id video_id frame_id path labels"
    assert train[1:3] == ['vid1 0 0 vid1/vid1_000001.jpg ""', 'vid1 0 1 vid1/vid1_000002.jpg ""']
    assert train[-1] == 'vid2 1 3 vid2/vid2_000004.jpg ""' and len(train) == 9
    assert (root / "frame_lists" / "val.csv").read_text().splitlines() == ["original_vido_id video_id frame_id path labels"]
    out = capsys.readouterr()
    assert "2 extracted, 0 already done, 1 failed" in out.out and "FAILED broken" in out.err

    # the frame list is readable by the project's reader
    from slowfast_det.data.ava_io import read_frame_list

    fl = read_frame_list(str(root / "frame_lists" / "train.csv"))
    assert list(fl["video_id"].unique()) == ["vid1", "vid2"] and list(fl["frame_id"][:4]) == [0, 1, 2, 3]

    # second run: finished videos are skipped, only the failed one is tried again
    n = len(calls)
    assert prepare.main(argv) == 1
    again = fake_ffmpeg()[n:]
    assert [c[c.index("-i") + 1].rsplit("/", 1)[1] for c in again] == ["broken.webm"]
    assert "0 extracted, 2 already done, 1 failed" in capsys.readouterr().out


def test_interrupted_runs_are_redone(prepare, fake_ffmpeg, tmp_path, monkeypatch):
    videos = _movies(tmp_path, ["vid1.mkv", "vid2.mkv"])
    root = tmp_path / "ava"
    frames = root / "frames"
    (frames / ".tmp_vid1").mkdir(parents=True)  # a partial extraction of an interrupted run
    (frames / ".tmp_vid1" / "vid1_000001.jpg").write_bytes(b"partial")
    (frames / "vid2").mkdir()  # a folder without marker (not finished by this tool)
    (frames / "vid2" / "vid2_000009.jpg").write_bytes(b"stale")
    monkeypatch.setenv("FAKE_FFMPEG_FRAMES", "3")
    ids = tmp_path / "train.txt"
    ids.write_text("vid1.mkv\nvid2\n")
    argv = ["--videos", videos, "--root", str(root), "--workers", "1", "--no-progress", "--split", f"train={ids}"]
    assert prepare.main(argv) == 0
    assert len(fake_ffmpeg()) == 2
    assert sorted(os.listdir(frames)) == ["vid1", "vid2"]
    assert sorted(os.listdir(frames / "vid2")) == [prepare.MARKER, "vid2_000001.jpg", "vid2_000002.jpg", "vid2_000003.jpg"]
    assert len((root / "frame_lists" / "train.csv").read_text().splitlines()) == 1 + 6


def test_unsafe_split_ids_rejected(prepare, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("ok1\n../../etc\n")
    with pytest.raises(ValueError, match=r"ids.txt:2: field 'video_id' unsafe"):
        prepare.read_split_ids(str(ids))
