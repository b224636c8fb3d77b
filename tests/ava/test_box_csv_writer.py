"""The one AVA CSV writer (slowfast_det.ava.files): its text, round trips through the project's
reader, and the same bytes from every caller (evaluator, infer_ava, detect_persons, demo)."""

import os

import numpy as np
import pytest

from slowfast_det.ava.files import (
    NUMBER_FORMAT,
    box_csv_text,
    detection_tables,
    format_numbers,
    write_box_csv,
    write_detections_csv,
)
from slowfast_det.ava.io import read_box_csv, read_exclusions


def random_keyframes(rng, n=6, num_classes=3):
    """Keyframe results as the model gives them: float32 boxes in [0, 1] and float32 scores;
    whole-second and sub-second timestamps, a keyframe without boxes, videos out of order."""
    out = []
    for i in range(n):
        r = int(rng.integers(0, 4))
        xy = rng.random((r, 2), dtype=np.float32) * 0.5
        boxes = np.concatenate([xy, xy + rng.random((r, 2), dtype=np.float32) * 0.5], axis=1)
        ts = 902 + i // 2 + (0.5 if i % 3 == 2 else 0)
        out.append((f"v{(5 - i) % 3}", ts, boxes, rng.random((r, num_classes), dtype=np.float32)))
    return out


def test_text_of_each_kind_of_row():
    text = box_csv_text(
        {
            "video_id": ["v", "v", "w", "w"],
            "timestamp": [902, 902.5, 3, 900.033333],
            "x1": [0.1, np.nan, -0.0, 0.25],
            "y1": [0.2, np.nan, 0.0, 0.5],
            "x2": [0.5, np.nan, 1.0, 0.75],
            "y2": [0.9, np.nan, 1.0, 1.0],
            "action_id": [3, -1, -1, 80],
            "last": [0.875, np.nan, np.nan, np.float32(1 / 3)],
        }
    )
    assert text == (
        "v,0902,0.1,0.2,0.5,0.9,3,0.875\n"  # short decimals are written as given
        "v,0902.5\n"  # no box: the 2-column key row
        "w,0003,0,0,1,1,,\n"  # empty action id and last; -0.0 as 0
        "w,0900.033333,0.25,0.5,0.75,1,80,0.333333343\n"
    )  # a float32: 9 significant digits
    assert box_csv_text({"video_id": [], "timestamp": []}) == ""
    # integers (person ids, action ids) are written as integers
    assert (
        box_csv_text(
            {
                "video_id": ["v"],
                "timestamp": [902],
                "x1": [0.1],
                "y1": [0.1],
                "x2": [0.2],
                "y2": [0.2],
                "action_id": [12],
                "last": np.array([1234567891]),
            }
        )
        == "v,0902,0.1,0.1,0.2,0.2,12,1234567891\n"
    )
    assert format_numbers(np.array([1.0, 0.5, np.nan])).tolist() == ["1", "0.5", ""]


def test_float32_values_round_trip_through_the_reader(tmp_path):
    rng = np.random.default_rng(0)
    keyframes = random_keyframes(rng, n=12)
    path = tmp_path / "det.csv"
    n = write_detections_csv(keyframes, [2, 5, 9], str(path))
    rows = read_box_csv(str(path), kind="detections").rows
    assert len(rows) == n == sum(len(k[2]) * 3 for k in keyframes)
    expected = [
        (v, t, b, a, s)
        for v, t, boxes, scores in sorted(keyframes, key=lambda k: (k[0], k[1]))
        for b, sc in zip(boxes, scores)
        for a, s in zip([2, 5, 9], sc)
    ]
    assert list(zip(rows["video_id"], rows["timestamp"], rows["action_id"])) == [
        (v, t, a) for v, t, _, a, _ in expected
    ]
    # read back and cast to float32: the very float32 values written
    np.testing.assert_array_equal(
        rows[["x1", "y1", "x2", "y2"]].to_numpy().astype(np.float32),
        np.array([e[2] for e in expected], dtype=np.float32),
    )
    np.testing.assert_array_equal(
        rows["last"].to_numpy().astype(np.float32), np.array([e[4] for e in expected])
    )
    # every number is written in the one format
    for line in path.read_text().splitlines():
        assert all(
            f == NUMBER_FORMAT % float(f) for f in line.split(",")[2:6] + line.split(",")[7:]
        )


def test_read_table_round_trips_with_key_rows(tmp_path):
    src = tmp_path / "gt.csv"
    src.write_text("v,0902,0.100,0.2,0.5,0.900,3,0\nv,902.5,0.1,0.2,0.5,0.9,7,1\nw,0903\n")
    table = read_box_csv(str(src))
    r = table.rows
    ((key_video, key_time),) = table.keys_without_boxes
    rows = {
        c: np.append(r[c].to_numpy(np.float64), np.nan) for c in ("x1", "y1", "x2", "y2", "last")
    }
    rows.update(
        video_id=list(r["video_id"]) + [key_video],
        timestamp=list(r["timestamp"]) + [key_time],
        action_id=np.append(r["action_id"].to_numpy(), -1),
    )
    out = tmp_path / "out.csv"
    assert write_box_csv(rows, str(out)) == 3
    assert out.read_text() == "v,0902,0.1,0.2,0.5,0.9,3,0\nv,0902.5,0.1,0.2,0.5,0.9,7,1\nw,0903\n"
    again = read_box_csv(str(out))
    assert again.keys == table.keys and again.rows.drop(columns="line").equals(
        table.rows.drop(columns="line")
    )
    # a DataFrame (the reader's rows) is a table too; 2-column tables are key files
    assert box_csv_text(table.rows) == "".join(out.read_text().splitlines(True)[:2])
    excl = tmp_path / "excl.csv"
    write_box_csv({"video_id": ["v", "w"], "timestamp": [902, 903.5]}, str(excl))
    assert read_exclusions(str(excl)) == {("v", 902), ("w", 903.5)}


def test_same_bytes_from_every_caller(tmp_path):
    from slowfast_det.engine.demo_results import write_persons_csv
    from slowfast_det.engine.detect_persons import boxes_csv_text

    keyframes = random_keyframes(np.random.default_rng(1), n=9)
    class_ids = [1, 4, 6]
    write_detections_csv(
        keyframes, class_ids, str(tmp_path / "evaluator.csv")
    )  # the evaluator, the demo and infer_ava
    evaluator = (tmp_path / "evaluator.csv").read_text()
    # tools/infer_ava.py writes its CSV with write_detections_csv itself (engine/infer.py)
    assert (
        "".join(box_csv_text(t) for t in detection_tables(keyframes, class_ids, rows_per_table=4))
        == evaluator
    )
    assert (
        write_box_csv(
            detection_tables(keyframes, class_ids, rows_per_table=1), str(tmp_path / "chunks.csv")
        )
        > 0
    )
    assert (tmp_path / "chunks.csv").read_text() == evaluator

    # detect_persons: one box row per person (empty action id), a key row for a keyframe without
    items = [(v, t, b, s[:, 0]) for v, t, b, s in keyframes]
    table = {"video_id": [], "timestamp": [], "x1": [], "y1": [], "x2": [], "y2": [], "last": []}
    for v, t, b, s in items:
        for box, score in zip(b.tolist(), s.tolist()) if len(b) else [([np.nan] * 4, np.nan)]:
            for c, x in zip(table, [v, t, *box, score]):
                table[c].append(x)
    assert boxes_csv_text(items) == box_csv_text(table)
    assert any(line.count(",") == 1 for line in boxes_csv_text(items).splitlines())

    # the demo's persons CSV: one row per drawn action, an empty action id for a person without
    persons = [
        ("clip", 2, np.float32([0.1, 0.2, 0.3, 0.4]), 7, [(3, 0.9), (5, 0.8)]),
        ("clip", 1, np.float32([0.5, 0.5, 1.0, 1.0]), 2, []),
    ]
    assert write_persons_csv(persons, str(tmp_path / "persons.csv")) == 3
    assert (tmp_path / "persons.csv").read_text() == box_csv_text(
        {
            "video_id": ["clip"] * 3,
            "timestamp": [1, 2, 2],
            "x1": np.float32([0.5, 0.1, 0.1]),
            "y1": np.float32([0.5, 0.2, 0.2]),
            "x2": np.float32([1.0, 0.3, 0.3]),
            "y2": np.float32([1.0, 0.4, 0.4]),
            "action_id": [-1, 3, 5],
            "last": np.array([2, 7, 7]),
        }
    )
    assert (tmp_path / "persons.csv").read_text().splitlines()[0] == "clip,0001,0.5,0.5,1,1,,2"


@pytest.mark.parametrize(
    "rows,match",
    [
        ({"video_id": ["a,b"], "timestamp": [902]}, "video id 'a,b'"),
        ({"video_id": [""], "timestamp": [902]}, "video id ''"),
        (
            {
                "video_id": ["v"],
                "timestamp": [902],
                "x1": [0.1],
                "y1": [0.1],
                "x2": [0.2],
                "y2": [0.2],
                "action_id": [1.5],
            },
            "action id 1.5 is not an integer",
        ),
        ({"video_id": ["v", "w"], "timestamp": [902]}, "different lengths"),
        ({"video_id": ["v"], "timestamp": [902], "x1": [0.1]}, "without the others"),
    ],
)
def test_bad_rows_are_refused(rows, match):
    with pytest.raises(ValueError, match=match):
        box_csv_text(rows)


def test_write_is_atomic(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("old\n")
    good = {"video_id": ["v"], "timestamp": [902]}
    with pytest.raises(ValueError, match="video id"):
        write_box_csv([good, {"video_id": ["bad\n"], "timestamp": [903]}], str(path))
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["boxes.csv"]
