"""Silent-but-harmful inputs get a warning (evaluator, loader) or a finding (checker):
pixel boxes, repeated ground-truth rows, classes outside the label map, frame lists
without header or with commas."""

import logging
import os

import pytest
from ava_tiny import make_ava_root, write_annotation

from slowfast_det.ava.checks import BoxScale, check_groundtruth, classes_outside, repeated_rows
from slowfast_det.ava.evaluate import evaluate_files
from slowfast_det.ava.io import AVAFormatError, frame_list_has_header, read_box_csv, read_frame_list
from slowfast_det.data.checker import check_ava_dataset

LABEL_MAP = 'item { name: "a" id: 1 }\nitem { name: "b" id: 2 }\n'
GT = "v,0902,0.1,0.1,0.5,0.5,1,0\nv,0902,0.5,0.5,0.9,0.9,2,1\nv,0903,0.1,0.1,0.5,0.5,1,0\n"
DET = "v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0902,0.5,0.5,0.9,0.9,2,0.8\nv,0903,0.1,0.1,0.5,0.5,1,0.7\n"
GT_PIXELS = "v,0902,32,24,160,120,1,0\nv,0902,160,120,288,216,2,1\nv,0903,32,24,160,120,1,0\n"
DET_PIXELS = (
    "v,0902,32,24,160,120,1,0.9\nv,0902,160,120,288,216,2,0.8\nv,0903,32,24,160,120,1,0.7\n"
)


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _rows(tmp_path, text, kind="groundtruth"):
    return read_box_csv(_write(tmp_path, "t.csv", text), kind=kind).rows


# ------------------------------------------------------------------ the shared checks


def test_box_scale_tells_pixels_from_overshoot(tmp_path):
    s = BoxScale().add(_rows(tmp_path, GT))
    assert (s.rows, s.outside, s.pixel_like, s.looks_like_pixels) == (3, 0, 0, False) and s.message(
        "gt.csv"
    ) == ""
    s = BoxScale().add(_rows(tmp_path, "v,902,0.6,0.1,1.2,0.8,5,1\nv,902,-0.01,0.1,0.5,0.8,5,1\n"))
    assert (s.outside, s.pixel_like) == (2, 0)  # clipped by the loader, not pixels
    s = BoxScale().add(_rows(tmp_path, "v,902,0.1,0.1,0.5,0.5,1,0\n" + GT_PIXELS))
    assert (s.rows, s.pixel_like, s.first_pixel_line, s.max_coord) == (4, 3, 2, 288.0)
    assert s.message("gt.csv") == (
        "gt.csv:2: 3 of 4 boxes have coordinates above 1.5 (largest 288): "
        "the boxes look like pixels; "
        "AVA boxes are normalised to [0, 1] (x / frame width, y / frame height)"
    )


def test_box_scale_adds_chunks():
    import pandas as pd

    s = BoxScale()
    for x2, line in ((0.5, 1), (300.0, 2), (0.4, 3), (2.0, 4)):
        s.add(pd.DataFrame({"x1": [0.1], "y1": [0.1], "x2": [x2], "y2": [0.5], "line": [line]}))
    assert (s.rows, s.pixel_like, s.first_pixel_line, s.max_coord) == (4, 2, 2, 300.0)


def test_repeated_rows_are_exact_repeats(tmp_path):
    text = (
        "v,0902,0.1,0.1,0.5,0.5,1,0\n"
        "v,0902,0.1,0.1,0.5,0.5,2,0\n"  # same box, other action: multi-label, not a repeat
        "v,0902,0.1,0.1,0.5,0.5,1,7\n"  # other person id: not exact
        "v,902,0.1,0.1,0.5,0.5,1,0\n"  # line 1 again (0902 is 902)
        "v,0902,0.1,0.1,0.5,0.5,2,0\n"  # line 2 again
        "v,0903\n"
        "v,0902,0.1,0.1,0.5,0.5,1,0\n"  # line 1 a third time
    )
    assert repeated_rows(_rows(tmp_path, text)) == (3, 4, 1)
    assert repeated_rows(_rows(tmp_path, GT)) == (0, None, None)


def test_classes_outside_the_label_map(tmp_path):
    rows = _rows(
        tmp_path,
        GT + "v,0904,0.1,0.1,0.5,0.5,7,0\nv,0904,0.1,0.1,0.5,0.5,5,0\nv,0905,0.1,0.1,0.5,0.5,7,0\n",
    )
    assert classes_outside(rows, [1, 2]) == (3, [5, 7])
    assert classes_outside(rows, [1, 2, 5, 7]) == (0, [])


def test_check_groundtruth_logs_counts_and_file(tmp_path, caplog):
    rows = _rows(tmp_path, GT + GT.splitlines()[0] + "\nv,0904,0.1,0.1,0.5,0.5,7,0\n")
    with caplog.at_level(logging.WARNING):
        counts = check_groundtruth(rows, "gt.csv", [1, 2])
    assert counts == {
        "gt_boxes_pixel_like": 0,
        "gt_rows_repeated": 1,
        "gt_rows_other_class": 1,
        "gt_other_class_ids": [7],
    }
    text = caplog.text
    assert (
        "gt.csv: 1 ground-truth rows repeat an earlier row exactly (first: line 4 repeats line 1)"
        in text
    )
    assert (
        "gt.csv: 1 of 5 ground-truth rows have action ids not in the label map "
        "and are not evaluated" in text
    )
    assert "ids: 7" in text


# ------------------------------------------------------------------ the evaluator


@pytest.fixture
def evaluate(tmp_path):
    lm = _write(tmp_path, "lm.pbtxt", LABEL_MAP)

    def run(gt, det):
        return evaluate_files(lm, _write(tmp_path, "gt.csv", gt), _write(tmp_path, "det.csv", det))[
            0
        ]

    return run


def test_evaluator_clean_files_no_input_warnings(evaluate, caplog):
    with caplog.at_level(logging.WARNING):
        r = evaluate(GT, DET)
    assert r.mAP == 1.0 and caplog.text == ""
    assert (
        r.counts["gt_rows_repeated"],
        r.counts["gt_boxes_pixel_like"],
        r.counts["det_boxes_pixel_like"],
    ) == (0, 0, 0)


def test_evaluator_warns_pixel_detections_against_normalised_groundtruth(evaluate, caplog):
    with caplog.at_level(logging.WARNING):
        r = evaluate(GT, DET_PIXELS)
    assert r.mAP == 0.0 and r.counts["det_boxes_pixel_like"] == 3
    assert (
        "det.csv:1: 3 of 3 boxes have coordinates above 1.5 (largest 288): "
        "the boxes look like pixels" in caplog.text
    )
    text = caplog.text
    assert "det.csv: 3 of 3 detection rows look like pixels while no ground-truth box of " in text
    assert "gt.csv does: those rows are compared with the normalised boxes as written" in text


def test_evaluator_warns_pixel_groundtruth_against_normalised_detections(evaluate, caplog):
    with caplog.at_level(logging.WARNING):
        r = evaluate(GT_PIXELS, DET)
    assert (
        r.mAP == 0.0
        and r.counts["gt_boxes_pixel_like"] == 3
        and r.counts["det_boxes_pixel_like"] == 0
    )
    assert "gt.csv: 3 of 3 ground-truth rows look like pixels while no detection of " in caplog.text
    text = caplog.text
    assert "det.csv does: those rows are compared with the normalised boxes as written" in text


def test_evaluator_both_files_in_pixels_warns_but_scores(evaluate, caplog):
    """IoU does not depend on the scale: the official script scores pixel files as well."""
    with caplog.at_level(logging.WARNING):
        r = evaluate(GT_PIXELS, DET_PIXELS)
    assert (
        r.mAP == 1.0
        and r.counts["gt_boxes_pixel_like"] == 3
        and r.counts["det_boxes_pixel_like"] == 3
    )
    assert "gt.csv:1: 3 of 3 boxes" in caplog.text and "det.csv:1: 3 of 3 boxes" in caplog.text
    assert "near 0" not in caplog.text


def test_evaluator_repeated_groundtruth_halves_recall_as_official_and_warns(evaluate, caplog):
    """The official evaluator takes two copies for two boxes: one detection finds one, so that
    class's AP is 0.5 (recall 1/2 at precision 1)."""
    with caplog.at_level(logging.WARNING):
        r = evaluate(GT + "v,0902,0.5,0.5,0.9,0.9,2,1\n", DET)
    assert r.per_class == {1: 1.0, 2: 0.5} and r.mAP == 0.75
    assert r.counts["gt_rows_repeated"] == 1
    assert (
        "gt.csv: 1 ground-truth rows repeat an earlier row exactly (first: line 4 repeats line 2)"
        in caplog.text
    )


def test_evaluator_counts_and_names_dropped_groundtruth_classes(evaluate, caplog):
    with caplog.at_level(logging.WARNING):
        r = evaluate(GT + "v,0904,0.1,0.1,0.5,0.5,9,0\nv,0904,0.1,0.1,0.5,0.5,4,0\n", DET)
    assert r.mAP == 1.0 and r.counts["gt_rows_other_class"] == 2  # dropped, as the official script
    assert (
        "gt.csv: 2 of 5 ground-truth rows have action ids not in the label map" in caplog.text
        and "ids: 4, 9" in caplog.text
    )


# ------------------------------------------------------------------ frame lists

HEADER = "original_vido_id video_id frame_id path labels\n"


def test_frame_list_without_header_reads_line_1_and_warns(tmp_path, caplog):
    p = _write(tmp_path, "fl.csv", 'v 0 0 v/v_000001.jpg ""\nv 0 1 v/v_000002.jpg ""\n')
    assert frame_list_has_header(p) is False
    with caplog.at_level(logging.WARNING):
        df = read_frame_list(p)
    assert df["frame_id"].tolist() == [0, 1] and df["line"].tolist() == [1, 2]
    assert (
        "fl.csv: line 1 is a frame, not the header 'original_vido_id video_id frame_id path labels'"
        in caplog.text
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        df = read_frame_list(_write(tmp_path, "ok.csv", HEADER + 'v 0 0 v/v_000001.jpg ""\n'))
    assert df["line"].tolist() == [2] and caplog.text == ""


@pytest.mark.parametrize(
    "text,line,sep",
    [
        (HEADER + 'v,0,0,v/v_000001.jpg,""\nv,0,1,v/v_000002.jpg,""\n', 2, ","),
        (HEADER.replace(" ", ",") + "v,0,0,v/v_000001.jpg,\n", 2, ","),
        ('v,0,0,v/v_000001.jpg,""\nv,0,1,v/v_000002.jpg,""\n', 1, ","),
        (HEADER + "v;0;0;v/v_000001.jpg\n", 2, ";"),
    ],
    ids=["comma-rows", "comma-header-too", "comma-no-header", "semicolons"],
)
def test_separated_frame_list_says_the_separator(tmp_path, text, line, sep):
    with pytest.raises(
        AVAFormatError,
        match=rf"fl.csv:{line}: fields separated by '{sep}': frame lists are space-separated",
    ) as e:
        read_frame_list(_write(tmp_path, "fl.csv", text))
    assert e.value.whole_file


# ------------------------------------------------------------------ the checker


def test_checker_reports_pixel_boxes_as_a_problem(tmp_path):
    root = make_ava_root(tmp_path / "ava")
    write_annotation(
        root, "ava_val_v2.2.csv", "vidA,0902,10,20,40,47,12,0\nvidB,0901,5,5,30,30,3,0\n"
    )
    report = check_ava_dataset(root, splits=("val",), verify_images="none")
    assert not report.ok and report.problems["boxes_in_pixels"] == 2
    assert report.examples["boxes_in_pixels"] == [
        "annotations/ava_val_v2.2.csv:1: 2 of 2 boxes have coordinates above 1.5 (largest 47): "
        "the boxes look like "
        "pixels; AVA boxes are normalised to [0, 1] (x / frame width, y / frame height)"
    ]
    assert "box_out_of_range" not in report.warnings  # the pixel rows are not also "clipped"


def test_checker_lists_repeated_groundtruth_rows(tmp_path):
    root = make_ava_root(tmp_path / "ava")
    write_annotation(
        root,
        "ava_train_v2.2.csv",
        "vidA,0902,0.1,0.2,0.5,0.9,12,0\nvidB,0901,0.2,0.2,0.4,0.4,3,0\nvidA,902,0.1,0.2,0.5,0.9,12,0\n",
    )
    report = check_ava_dataset(root, splits=("train",), verify_images="none")
    assert report.ok and report.warnings["repeated_groundtruth_row"] == 1
    text = report.format()
    assert (
        "repeated_groundtruth_row: 1" in text
        and "annotations/ava_train_v2.2.csv:3: repeats line 1 (first of 1)" in text
    )
    assert text.endswith("Result: OK with warnings (1 warning categories, see above)")


def test_checker_frame_list_without_header_is_a_listed_warning(tmp_path):
    root = make_ava_root(tmp_path / "ava")
    write_annotation(
        root,
        "ava_train_v2.2.csv",
        "vidA,0902,0.1,0.2,0.5,0.9,12,0\nvidB,0901,0.2,0.2,0.4,0.4,3,0\n",
    )
    fl = os.path.join(root, "frame_lists", "train.csv")
    lines = open(fl).read().splitlines()
    with open(fl, "w") as f:
        f.write("\n".join(lines[1:]) + "\n")
    report = check_ava_dataset(root, splits=("train",), verify_images="none")
    assert report.ok and report.warnings == {"frame_list_without_header": 1}
    assert report.examples["frame_list_without_header"] == [
        "frame_lists/train.csv:1: a frame, not the header"
    ]
    assert report.info["train"]["frames listed"] == 200  # line 1 is read as a frame


def test_checker_comma_frame_list_is_one_clear_problem(tmp_path):
    root = make_ava_root(tmp_path / "ava")
    fl = os.path.join(root, "frame_lists", "val.csv")
    lines = open(fl).read().splitlines()
    with open(fl, "w") as f:
        f.write("\n".join([lines[0]] + [ln.replace(" ", ",") for ln in lines[1:]]) + "\n")
    report = check_ava_dataset(root, splits=("val",), verify_images="none")
    assert report.problems["bad_row"] == 1  # once for the file, not once per row
    assert report.examples["bad_row"][0].startswith(
        "frame_lists/val.csv:2: fields separated by ',': frame lists are space-separated"
    )


def test_checker_label_map_with_bom_and_one_line_items(tmp_path):
    root = make_ava_root(tmp_path / "ava")
    write_annotation(
        root,
        "ava_train_v2.2.csv",
        "vidA,0902,0.1,0.2,0.5,0.9,12,0\nvidB,0901,0.2,0.2,0.4,0.4,3,0\nvidB,0901,0.2,0.2,0.4,0.4,4,0\n",
    )
    lm = os.path.join(root, "annotations", "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    with open(lm, "wb") as f:
        f.write(
            b"\xef\xbb\xbf"
            + b"".join(b'item { name: "a%d" id: %d }\r\n' % (i, i) for i in (1, 3, 5, 12, 80))
        )
    report = check_ava_dataset(root, splits=("train",), verify_images="none")
    assert report.ok, report.format()
    facts = report.info["train"]
    assert facts["action ids not in the label map (trained, not evaluated)"] == 1
    assert facts["ground-truth rows of those ids"] == "1 (ids 4)"
