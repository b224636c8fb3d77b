"""The checker on a video root (frame source "video"): movies made here with PyAV."""

import os
import subprocess
import sys

from movie_helpers import write_movie

from slowfast_det.data.checker import check_ava_dataset
from slowfast_det.data.frames import fps_warning

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START = 1  # movie second of AVA frame index 0 (tiny movies)
GT = """\
good,0002,0.1,0.1,0.6,0.9,1,0
good,0003,0.1,0.1,0.6,0.9,1,0
good,0009,0.1,0.1,0.6,0.9,1,0
pal,0002,0.1,0.1,0.6,0.9,1,0
cut,0002,0.1,0.1,0.6,0.9,1,0
cut,0004,0.1,0.1,0.6,0.9,1,0
bad,0002,0.1,0.1,0.6,0.9,1,0
gone,0002,0.1,0.1,0.6,0.9,1,0
"""


def make_video_root(root):
    videos = root / "videos"
    os.makedirs(videos)
    os.makedirs(root / "annotations")
    write_movie(
        videos / "good.mp4", 30, 150, codec="libx264", options={"preset": "ultrafast"}
    )  # 5 s
    write_movie(videos / "pal.mkv", 25, 100)  # 4 s
    write_movie(root / "full.mkv", 30, 150)
    data = (root / "full.mkv").read_bytes()
    (videos / "cut.mkv").write_bytes(data[: len(data) // 2])  # the header still declares 5 s
    (videos / "bad.webm").write_bytes(b"not a movie" * 50)
    (root / "annotations" / "ava_train_v2.2.csv").write_text(GT)
    (root / "annotations" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(
        'item {\n  name: "a"\n  id: 1\n}\n'
    )
    return root


def test_video_root_problems(tmp_path):
    root = make_video_root(tmp_path / "ava")
    report = check_ava_dataset(
        root, splits=("train",), frame_source="video", start_second=START, verify_images="all"
    )
    text = report.format()
    assert report.problems["missing_video"] == 1 and "videos/gone.{mp4,mkv,webm}" in text
    assert report.problems["unreadable_video"] == 1 and "videos/bad.webm" in text
    assert report.problems["keyframe_outside_video"] == 1 and "good,0009" in text
    assert report.problems["truncated_video"] == 1 and "videos/cut.mkv" in text
    assert report.problems["undecodable_keyframe"] == 1 and "cut,0004" in text  # after the cut
    assert (
        "missing_file" not in report.problems and "video_not_in_frame_list" not in report.problems
    )
    facts = report.info["train"]
    assert facts["movies found"] == 3
    assert facts["movie frame rates"] == "25.000 fps x 1, 30.000 fps x 2"
    assert facts["movie durations"] == "4-5 s"
    # headers only: the truncation is not seen, the rest is
    quick = check_ava_dataset(
        root, splits=("train",), frame_source="video", start_second=START, verify_images="none"
    )
    assert "truncated_video" not in quick.problems and "undecodable_keyframe" not in quick.problems
    assert quick.problems["unreadable_video"] == 1 and quick.problems["keyframe_outside_video"] == 1


def test_clean_video_root_and_tool(tmp_path):
    root = make_video_root(tmp_path / "ava")
    for name in ("cut.mkv", "bad.webm"):
        os.remove(root / "videos" / name)
    gt = "".join(
        line + "\n"
        for line in GT.splitlines()
        if line.split(",")[0] in ("good", "pal") and "0009" not in line
    )
    (root / "annotations" / "ava_train_v2.2.csv").write_text(gt)
    report = check_ava_dataset(root, splits=("train",), frame_source="video", start_second=START)
    assert report.ok, report.format()
    assert report.format().endswith("Result: OK")
    # the tool: movie timestamps are movie times by default; with AVA's frame origin (second 900)
    # every keyframe of these tiny movies lies outside them
    tool = [
        sys.executable,
        os.path.join(REPO, "tools", "check_ava_dataset.py"),
        str(root),
        "--splits",
        "train",
        "--frame-source",
        "video",
    ]
    proc = subprocess.run(
        tool, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=REPO)
    )
    assert proc.returncode == 0 and proc.stdout.endswith("Result: OK\n"), proc.stdout + proc.stderr
    proc = subprocess.run(
        tool + ["--start-second", "900"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=REPO),
    )
    assert proc.returncode == 1 and "keyframe_outside_video: 3" in proc.stdout, (
        proc.stdout + proc.stderr
    )


def test_low_frame_rate_movie_warns_as_the_demo_and_val_wording(tmp_path):
    """Issue 26: a 6 fps movie of your own is listed with the demo's frame-rate warning; action
    ids outside the label map are "not evaluated" on val (and trained on train)."""
    root = tmp_path / "own"
    os.makedirs(root / "videos")
    os.makedirs(root / "annotations")
    write_movie(root / "videos" / "slow.mp4", 6, 57)  # 9.5 s at 6 fps
    write_movie(root / "videos" / "usual.mp4", 30, 90)
    (root / "annotations" / "my_actions.pbtxt").write_text(
        'item { name: "sit" id: 11 }\nitem { name: "stand" id: 12 }\nitem { name: "wave" id: 91 }\n'
    )
    gt = (
        "slow,0002,0.1,0.1,0.6,0.9,11,0\n"
        "slow,0003,0.1,0.1,0.6,0.9,5,0\n"  # id 5: not in the label map
        "usual,0001,0.1,0.1,0.5,0.5,12,0\n"
    )
    for split in ("train", "val"):
        (root / "annotations" / f"ava_{split}_v2.2.csv").write_text(gt)
    (root / "annotations" / "ava_val_predicted_boxes.csv").write_text(
        "slow,0002,0.1,0.1,0.6,0.9,,1\nslow,0003,0.1,0.1,0.6,0.9,,1\nusual,0001,0.1,0.1,0.5,0.5,,1\n"
    )
    report = check_ava_dataset(root, frame_source="video")
    assert report.ok, report.format()
    assert report.warnings["video_frame_rate"] == 2  # the slow movie, once per split
    example = report.examples["video_frame_rate"][0]
    assert example == f"videos/slow.mp4: {fps_warning(6.0)}"
    assert "source at 6 fps, far from the 30 fps" in example and "repeats source frames" in example
    text = report.format()
    assert "usual.mp4" not in text.split("Warnings:")[1]  # 30 fps: no warning
    assert report.info["train"]["action ids not in the label map (trained, not evaluated)"] == 1
    assert report.info["val"]["action ids not in the label map (not evaluated)"] == 1
    assert "(trained, not evaluated)" not in str(report.info["val"])
