import os
import subprocess
import sys

from ava_tiny import frame_path, make_ava_root, write_annotation
from own_movies import make_own_frames_root
from script_modules import load_script

from slowfast_det.data.checker import check_ava_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CLEAN_TRAIN_GT = (
    "vidA,0902,0.1,0.2,0.5,0.9,12,0\n"
    "vidA,0902,0.1,0.2,0.5,0.9,80,0\n"
    "vidB,0901,0.2,0.2,0.4,0.4,3,0\n"
)


def _clean(root):
    write_annotation(root, "ava_train_v2.2.csv", CLEAN_TRAIN_GT)
    return root


def test_clean_folder_is_ok(tmp_path):
    root = _clean(make_ava_root(tmp_path / "ava"))
    report = check_ava_dataset(root)
    assert report.ok, report.format()
    assert report.problems == {} and report.warnings == {}
    assert report.info["train"]["videos"] == 2 and report.info["train"]["frames listed"] == 200
    assert (
        report.info["val"]["predicted boxes"] == 4 and report.info["val"]["excluded keyframes"] == 1
    )
    assert report.format().endswith("Result: OK")


def test_problems_are_counted_with_examples(tmp_path):
    root = make_ava_root(tmp_path / "ava")
    write_annotation(
        root,
        "ava_train_v2.2.csv",
        "vidA,0902,0.1,0.2,0.5,0.9,12,0\n"
        "vidA,0902,0.1,zz,0.5,0.9,12,0\n"  # bad row (line 2)
        "vidA,0903,0.1,0.2,0.5,0.9,99,0\n"  # unknown label id
        "vidA,0903,0.1,0.2,0.5,0.9,5,0,7\n"  # bad row: 9 fields (line 4)
        "vidB,0901,0.6,0.2,0.4,0.4,3,0\n"  # x2 < x1
        "vidB,0901,-0.1,0.2,0.4,1.3,3,0\n"  # out of range (warning)
        "vidB,0904,0.2,0.2,0.4,0.4,3,0\n"  # keyframe 120 outside frames 0..99
        "vidQ,0902,0.2,0.2,0.4,0.4,3,0\n",  # video not in the frame list
    )
    os.remove(frame_path(root, "vidA", 10))
    os.remove(frame_path(root, "vidA", 11))
    with open(frame_path(root, "vidB", 30), "wb") as f:  # the vidB 901 keyframe: corrupt
        f.write(b"garbage")
    fl = os.path.join(root, "frame_lists", "val.csv")
    lines = open(fl).read().splitlines()
    with open(fl, "w") as f:  # drop vidA frame 40 from the val list: a gap
        f.write("\n".join(lines[:41] + lines[42:]) + "\n")
    report = check_ava_dataset(root, splits=("train", "val"))
    assert not report.ok
    p = report.problems
    assert p["bad_row"] == 2
    assert p["unknown_label_id"] == 1
    assert p["bad_box"] == 1
    assert p["missing_frame"] == 4  # 2 files x listed in train.csv and val.csv
    assert p["unreadable_frame"] == 2  # vidB 901 is annotated in train and val
    assert p["keyframe_outside_video"] == 1
    assert p["video_not_in_frame_list"] == 1
    assert p["frame_list_gap"] == 1
    assert report.warnings["box_out_of_range"] == 1
    ex = report.examples
    bad_rows = sorted(ex["bad_row"])
    assert bad_rows[0] == "annotations/ava_train_v2.2.csv:2: field 'y1' not a number: 'zz'"
    assert bad_rows[1].startswith("annotations/ava_train_v2.2.csv:4: expected 2 or 8")
    assert ex["unknown_label_id"] == [
        "annotations/ava_train_v2.2.csv:3: action id 99 outside 1..80"
    ]
    assert ex["missing_frame"][0] == "frames/vidA/vidA_000011.jpg (frame_lists/train.csv:12)"
    assert (
        "vidB,0904: frame index 120 outside the video's frames 0..99"
        in ex["keyframe_outside_video"][0]
    )
    assert (
        "video 'vidQ' (1 keyframes) not in frame_lists/train.csv"
        in ex["video_not_in_frame_list"][0]
    )
    assert "1 of frame ids 0..99 not listed (first: 40)" in ex["frame_list_gap"][0]
    text = report.format()
    assert "Result: FAILED (8 problem categories)" in text and "box_out_of_range: 1" in text


def test_bad_row_counting_is_capped(tmp_path):
    root = _clean(make_ava_root(tmp_path / "ava"))
    write_annotation(
        root, "ava_val_v2.2.csv", "".join(f"vidA,0902,0.1,x{i},0.5,0.9,12,0\n" for i in range(10))
    )
    report = check_ava_dataset(root, splits=("val",), verify_images="none", max_bad_rows=3)
    assert report.problems["bad_row"] == 4
    assert report.examples["bad_row"][-1].endswith("more malformed rows not counted (limit 3)")


def test_missing_files_and_bad_label_map(tmp_path):
    root = _clean(make_ava_root(tmp_path / "ava"))
    os.remove(os.path.join(root, "annotations", "ava_val_predicted_boxes.csv"))
    os.remove(os.path.join(root, "frame_lists", "train.csv"))
    write_annotation(
        root,
        "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
        'item {\n  name: "x"\n  id: one\n}\n',
    )
    report = check_ava_dataset(root, verify_images="none")
    assert report.problems["missing_file"] == 1
    assert report.examples["missing_file"] == ["frame_lists/train.csv"]
    # proposals are made after the check (tools/detect_persons.py): a warning that says so
    assert report.examples["predicted_boxes_missing"] == ["annotations/ava_val_predicted_boxes.csv"]
    assert "tools/detect_persons.py" in report.format()
    assert report.examples["bad_row"] == [
        "annotations/ava_action_list_v2.2_for_activitynet_2019.pbtxt:3: "
        "field 'id' not an integer: 'one'"
    ]


def _tool():
    return load_script("tools/check_ava_dataset.py", "check_ava_dataset_tool")


def test_tool_exit_status_and_report(tmp_path, capsys):
    root = _clean(make_ava_root(tmp_path / "ava"))
    tool = _tool()
    assert tool.main([root]) == 0
    assert "Result: OK" in capsys.readouterr().out
    os.remove(frame_path(root, "vidB", 5))
    assert tool.main([root, "--splits", "train", "--verify-images", "none"]) == 1
    out = capsys.readouterr().out
    assert (
        "missing_frame: 1" in out
        and "frames/vidB/vidB_000006.jpg (frame_lists/train.csv:107)" in out
    )
    # as a command: the exit status is 1
    cmd = [
        sys.executable,
        os.path.join(REPO, "tools", "check_ava_dataset.py"),
        root,
        "--splits",
        "train",
    ]
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "Result: FAILED (1 problem categories)" in bad.stdout


def test_own_movie_frames_origin_and_hint(tmp_path, capsys):
    """Issue 26: frames of short own movies extracted from second 0. The checker reads where they
    start from frame_lists/frames.json (as registration does); without the file it reads them as
    AVA's (second 900), fails, and says what to do: --start-second 0."""
    root = make_own_frames_root(tmp_path / "own")
    tool = _tool()
    assert tool.main([root, "--splits", "train"]) == 0
    out = capsys.readouterr().out
    assert "frame index: frame 0 at movie second 0, fps 30, from frame_lists/frames.json" in out
    assert out.rstrip().endswith("Result: OK")

    os.remove(os.path.join(root, "frame_lists", "frames.json"))
    report = check_ava_dataset(root, splits=("train", "val"))
    assert not report.ok and report.problems["keyframe_outside_video"] == 6
    text = report.format()
    assert "clipA,0002: frame index -26940 outside the video's frames 0..284" in text
    hint = next(line for line in text.splitlines() if line.startswith("Hint: "))
    assert hint.startswith("Hint: 6 keyframes lie before frame 0 of their video: frame index 0 is")
    assert "movie second 900 (AVA's default: no frames.json" in hint and "--start-second" in hint
    assert text.endswith("Result: FAILED (1 problem categories)")
    # the override the hint names
    assert tool.main([root, "--splits", "train", "--start-second", "0"]) == 0
    assert "frame 0 at movie second 0, fps 30, from given" in capsys.readouterr().out
