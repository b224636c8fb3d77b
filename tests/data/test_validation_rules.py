"""One rule, one place: the box, action-id and keyframe checks of ``slowfast_det.ava.checks``,
and the loader (raises / counts) and the checker (reports) flagging the same rows with them."""

import os
import re
from collections import Counter

import numpy as np
import pytest
from ava_tiny import write_annotation

from slowfast_det.ava.checks import (
    action_id_message,
    action_ids_outside,
    box_ranges,
    box_row_errors,
    keyframe_outside_message,
    keyframes_outside,
)
from slowfast_det.ava.io import AVAFormatError
from slowfast_det.data.ava_dicts import load_ava_dicts
from slowfast_det.data.checker import check_ava_dataset
from slowfast_det.data.mapper import AVADatasetMapper


def _rows(boxes, action=None, last=None):
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    return {
        "x1": boxes[:, 0],
        "y1": boxes[:, 1],
        "x2": boxes[:, 2],
        "y2": boxes[:, 3],
        "action_id": np.asarray(action if action is not None else [1] * n, dtype=np.int64),
        "last": np.asarray(last if last is not None else [0.0] * n, dtype=np.float64),
    }


def test_box_row_errors_fields_rows_and_order():
    rows = _rows(
        [
            [0.1, 0.1, 0.5, 0.5],
            [0.5, 0.1, 0.1, 0.5],
            [0.1, 0.6, 0.5, 0.2],
            [0.1, 0.1, 0.5, 0.5],
            [0.1, 0.1, 0.5, 0.5],
        ],
        action=[1, 2, 3, 81, 0],
    )
    errors = box_row_errors(rows, "groundtruth", num_classes=80)
    found = [(e.field, e.positions.tolist()) for e in errors]
    assert found == [("x2", [1]), ("y2", [2]), ("action_id", [3, 4])]
    assert errors[0].message() == "box has x2 < x1 (0.1 < 0.5)"
    assert errors[1].message() == "box has y2 < y1 (0.2 < 0.6)"
    assert [errors[2].message(k) for k in range(2)] == [
        "action id 81 outside 1..80",
        "action id 0 outside 1..80",
    ]
    scores = _rows([[0.1, 0.1, 0.5, 0.5]] * 3, last=[0.9, np.nan, np.nan])
    (missing,) = box_row_errors(scores, "proposals")
    assert missing.field == "score" and missing.positions.tolist() == [1, 2]
    assert missing.message().startswith("missing or empty")
    assert box_row_errors(_rows([[0.0, 0.0, 1.0, 1.0]]), "groundtruth", num_classes=1) == []


def test_box_ranges_outside_pixels_and_empty():
    boxes = [[0.1, 0.1, 0.5, 0.5], [-0.1, 0.2, 1.2, 0.9], [10, 20, 300, 400], [1.1, 0.1, 1.3, 0.5]]
    r = box_ranges(_rows(boxes))
    assert r["outside"].tolist() == [False, True, True, True]
    assert r["pixel_like"].tolist() == [False, False, True, False]
    assert r["empty"].tolist() == [False, False, True, True]  # nothing left inside the frame
    np.testing.assert_array_equal(r["clipped"][1], [0.0, 0.2, 1.0, 0.9])
    np.testing.assert_array_equal(r["coords"][2], [10, 20, 300, 400])
    assert box_ranges(_rows(np.zeros((0, 4))))["clipped"].shape == (0, 4)


def test_action_ids_outside_with_and_without_upper_bound():
    ids = [0, 1, 80, 81, -2]
    assert action_ids_outside(ids, 80).tolist() == [0, 3, 4]
    assert action_ids_outside(ids).tolist() == [0, 4]  # the mapper: no NUM_CLASSES, 0 is padding
    assert action_ids_outside([]).tolist() == []
    assert action_id_message(81, 80) == "action id 81 outside 1..80"
    assert action_id_message(0) == "action id 0 is not >= 1"


def test_keyframes_outside():
    centers, outside = keyframes_outside(np.array([899, 900, 903, 904]), 100, 900, 30)
    assert centers.tolist() == [-30, 0, 90, 120] and outside.tolist() == [True, False, False, True]
    unknown_length = keyframes_outside(np.array([899, 904]), None, 900, 30)[1]
    assert unknown_length.tolist() == [True, False]
    center, out = keyframes_outside(902.5, 100, 900, 30)
    assert int(center) == 75 and not out
    assert keyframe_outside_message(120, 100) == "frame index 120 outside the video's frames 0..99"
    before = keyframe_outside_message(-30, None)
    assert before == "frame index -30 is before the video's first frame (0)"


def _flagged_lines(examples):
    return sorted(int(re.match(r"[^:]+:(\d+):", e).group(1)) for e in examples)


def _loader_raised(root, name, split, pred=None):
    """The (line, field) of each error the loader raises, blanking each raised line in turn."""
    path = os.path.join(root, "annotations", name)
    lines = open(path).read().split("\n")
    raised = []
    for _ in range(len(lines)):
        write_annotation(root, name, "\n".join(lines))
        stats = Counter()
        try:
            load_ava_dicts(
                os.path.join(root, "frames"),
                os.path.join(root, "frame_lists", f"{split}.csv"),
                os.path.join(root, "annotations", f"ava_{split}_v2.2.csv"),
                pred,
                None,
                split,
                stats=stats,
            )
        except AVAFormatError as e:
            raised.append((e.line, e.field))
            lines[e.line - 1] = ""  # blank lines keep the numbering
            continue
        return raised, stats
    raise AssertionError("the loader never finished")


BAD_GT = (
    "vidA,0902,0.1,0.2,0.5,0.9,12,0\n"
    "vidA,0902,0.5,0.2,0.1,0.9,12,0\n"  # 2: x2 < x1
    "vidB,0901,0.2,0.6,0.4,0.4,3,0\n"  # 3: y2 < y1
    "vidA,0903,0.1,0.2,0.5,0.9,99,0\n"  # 4: action id outside 1..80
    "vidA,0903,0.1,0.2,0.5,0.9,0,0\n"  # 5: action id outside 1..80
    "vidB,0902,0.6,0.1,1.2,0.8,5,1\n"  # outside [0, 1]: clipped, warned
    "vidB,0902,-0.1,0.1,0.3,0.8,5,2\n"  # outside [0, 1]: clipped, warned
    "vidB,0902,10,20,30,40,5,3\n"  # pixels: a checker problem; the loader clips (and drops) it
    "vidB,0904,0.2,0.2,0.4,0.4,3,0\n"  # keyframe 120 outside frames 0..99
)


def test_loader_and_checker_flag_the_same_groundtruth_rows(fresh_ava_root):
    root = fresh_ava_root
    write_annotation(root, "ava_train_v2.2.csv", BAD_GT)
    report = check_ava_dataset(root, splits=("train",), verify_images="none", num_classes=80)
    raised, stats = _loader_raised(root, "ava_train_v2.2.csv", "train")
    assert raised == [(2, "x2"), (3, "y2"), (4, "action_id"), (5, "action_id")]
    assert _flagged_lines(report.examples["bad_box"]) == [2, 3]
    assert _flagged_lines(report.examples["unknown_label_id"]) == [4, 5]
    first = report.examples["bad_box"][0]
    assert first == "annotations/ava_train_v2.2.csv:2: box has x2 < x1 (0.1 < 0.5)"
    # what the loader repairs and counts, the checker reports
    assert stats["gt_boxes_clipped"] == 3
    assert report.warnings["box_out_of_range"] + report.problems["boxes_in_pixels"] == 3
    assert stats["keyframes_outside_video"] == report.problems["keyframe_outside_video"] == 1
    outside = report.examples["keyframe_outside_video"][0]
    assert "vidB,0904: frame index 120 outside the video's frames 0..99" in outside


def test_loader_and_checker_flag_the_same_missing_scores(fresh_ava_root):
    root = fresh_ava_root
    pred = (
        "vidA,0902,0.1,0.2,0.5,0.9,,0.9\n"
        "vidA,0902,0.1,0.2,0.5,0.9,,\n"  # 2: no score
        "vidB,0901,0.2,0.2,0.4,0.4,,0.8\n"
        "vidB,0901,0.2,0.2,0.6,0.6,,\n"  # 4: no score
    )
    write_annotation(root, "ava_val_predicted_boxes.csv", pred)
    report = check_ava_dataset(root, splits=("val",), verify_images="none", num_classes=80)
    path = os.path.join(root, "annotations", "ava_val_predicted_boxes.csv")
    raised, _ = _loader_raised(root, "ava_val_predicted_boxes.csv", "val", pred=path)
    assert raised == [(2, "score"), (4, "score")]
    assert _flagged_lines(report.examples["bad_row"]) == [2, 4]
    assert "field 'score' missing or empty" in report.examples["bad_row"][0]


def test_mapper_action_ids_use_the_same_rule():
    actions = AVADatasetMapper._gt_actions([[3, 1], [2]], {"image_id": "v,0902"})
    assert actions.tolist() == [[3, 1], [2, 0]]
    with pytest.raises(ValueError, match=r"v,0902: action id 0 is not >= 1"):
        AVADatasetMapper._gt_actions([[3], [1, 0]], {"image_id": "v,0902"})
