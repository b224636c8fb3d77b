"""Issue 26: messy AVA files give the official value or an error naming file, line and field,
in every reader (box CSVs, exclusions, frame lists, label maps) and in the dataset checker.
Each fixture is written by the test."""

import gzip
import io
import logging
import os

import numpy as np
import pytest
from ava_tiny import make_ava_root, write_annotation

from slowfast_det.ava.io import (
    AVAFormatError,
    read_box_csv,
    read_exclusions,
    read_frame_list,
    read_label_map,
)
from slowfast_det.ava.timestamps import normalize, normalize_array, parse_timestamp
from slowfast_det.data.checker import check_ava_dataset

ROWS = "v,902,0.1,0.1,0.5,0.5,1,0.9\nv,903,0.1,0.1,0.5,0.5,1,0.8\n"


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(p)


# ---------------------------------------------------------------- NUL bytes


@pytest.mark.parametrize(
    "row,field",
    [
        ("v,904,0.1,0.1,0.5,0.5,1,0.\x00999909388622", "score"),  # pandas read 0.0
        ("v,904,0.1,0.1,0.5,0.5,1,0.4\x00999", "score"),  # pandas read 0.4
        ("v\x00x,904,0.1,0.1,0.5,0.5,1,0.4", "video_id"),  # pandas read 'v'
        ("v,904\x00,0.1,0.1,0.5,0.5,1,0.4", "timestamp"),
    ],
)
def test_nul_byte_in_a_box_field_names_line_and_field(tmp_path, row, field):
    p = _write(tmp_path, "det.csv", ROWS + row + "\n")
    with pytest.raises(AVAFormatError, match=rf"det.csv:3: field '{field}' contains a NUL byte"):
        read_box_csv(p, "detections")


def test_nul_byte_in_exclusions_and_frame_lists(tmp_path):
    p = _write(tmp_path, "ex.csv", "v,902\nv,90\x003\n")
    with pytest.raises(AVAFormatError, match=r"ex.csv:2: field 'timestamp' contains a NUL byte"):
        read_exclusions(p)
    p = _write(
        tmp_path,
        "fl.csv",
        'original_vido_id video_id frame_id path labels\nv 0 1\x002 v/v_1.jpg ""\n',
    )
    with pytest.raises(AVAFormatError, match=r"fl.csv:2: field 'frame_id' contains a NUL byte"):
        read_frame_list(p)


# ---------------------------------------------------------------- half microseconds


def test_timestamp_keys_follow_the_2020_script_at_half_microseconds():
    # "%.6f" % Decimal(text) formats the nearest float: 902.0000005 is just above the half,
    # 902.1234575 just below (the inexact t * 1e6 made both exact halves, rounded to even).
    assert parse_timestamp("902.0000005") == 902.000001
    assert parse_timestamp("902.1234575") == 902.123457
    assert normalize_array(np.array([902.0000005, 902.1234575])).tolist() == [
        902.000001,
        902.123457,
    ]
    assert normalize(902.0078125) == 902.007812  # an exact binary half: to even, as "%.6f"
    assert normalize_array(np.array([902.0000001, 903.0])).dtype == np.int64


def test_box_and_exclusion_keys_at_half_microseconds(tmp_path):
    p = _write(
        tmp_path, "gt.csv", "v,902.0000005,0.1,0.1,0.5,0.5,1,0\nv,902.1234575,0.1,0.1,0.5,0.5,1,0\n"
    )
    assert read_box_csv(p).rows["timestamp"].tolist() == [902.000001, 902.123457]
    x = _write(tmp_path, "ex.csv", "v,902.0000005\nv,902.1234575\n")
    assert read_exclusions(x) == {("v", 902.000001), ("v", 902.123457)}


# ---------------------------------------------------------------- empty score field


def test_empty_eighth_field_is_refused_seven_fields_are_not(tmp_path):
    p = _write(tmp_path, "det.csv", ROWS + "v,904,0.1,0.1,0.5,0.5,1,\n")
    with pytest.raises(
        AVAFormatError, match=r"det.csv:3: field 'score' empty \(the row has 8 fields\)"
    ):
        read_box_csv(p, "detections", official_scores=True)
    p = _write(tmp_path, "det7.csv", ROWS + "v,904,0.1,0.1,0.5,0.5,1\n")
    assert np.isnan(read_box_csv(p, "detections", official_scores=True).rows["last"].iloc[2])


# ---------------------------------------------------------------- label maps


def test_ava_full_action_list_layout_is_read(tmp_path):
    text = (
        'label {\n  name: "bend/bow (at the waist)"\n  label_id: 1\n'
        "  label_type: PERSON_MOVEMENT\n}\n"
        'label {\n  name: "carry/hold (an object)"\n  label_id: 17\n'
        "  label_type: OBJECT_MANIPULATION\n}\n"
    )
    names, ids = read_label_map(_write(tmp_path, "ava_action_list_v2.2.pbtxt", text))
    assert ids == [1, 17] and names[17] == "carry/hold (an object)"


# ---------------------------------------------------------------- encodings, compression


def test_gzip_named_csv_says_so_and_csv_gz_is_read(tmp_path):
    p = _write(tmp_path, "gt.csv", gzip.compress(ROWS.encode()))
    with pytest.raises(
        AVAFormatError, match=r"gt.csv:1: the file is gzip-compressed .* rename it to gt.csv.gz"
    ):
        read_box_csv(p)
    with pytest.raises(AVAFormatError, match=r"ex.csv:1: the file is gzip-compressed"):
        read_exclusions(_write(tmp_path, "ex.csv", gzip.compress(b"v,902\n")))
    assert len(read_box_csv(_write(tmp_path, "gt.csv.gz", gzip.compress(ROWS.encode()))).rows) == 2
    assert read_exclusions(_write(tmp_path, "ex.csv.gz", gzip.compress(b"v,902\n"))) == {("v", 902)}


def test_utf16_with_bom_is_read_like_the_label_maps(tmp_path):
    table = read_box_csv(_write(tmp_path, "gt.csv", ROWS.encode("utf-16")))
    assert table.rows["video_id"].tolist() == ["v", "v"] and table.rows["timestamp"].tolist() == [
        902,
        903,
    ]
    assert read_exclusions(_write(tmp_path, "ex.csv", "v,902\n".encode("utf-16"))) == {("v", 902)}
    fl = 'original_vido_id video_id frame_id path labels\nv 0 0 v/v_1.jpg ""\n'
    assert read_frame_list(_write(tmp_path, "fl.csv", fl.encode("utf-16")))["path"].tolist() == [
        "v/v_1.jpg"
    ]


def test_latin1_and_utf16_without_bom_name_the_line_and_the_bytes(tmp_path):
    p = _write(tmp_path, "gt.csv", (ROWS + "vidé,904,0.1,0.1,0.5,0.5,1,0\n").encode("latin-1"))
    with pytest.raises(
        AVAFormatError,
        match=r"gt.csv:3: not valid UTF-8 text: bytes b'\\xe9' at column 4 look "
        r"like Latin-1 / Windows-1252 \('é'\)",
    ):
        read_box_csv(p)
    with pytest.raises(AVAFormatError, match=r"ex.csv:2: not valid UTF-8 text"):
        read_exclusions(_write(tmp_path, "ex.csv", "v,902\nvé,903\n".encode("latin-1")))
    p = _write(tmp_path, "gt16.csv", ROWS.encode("utf-16-le"))
    with pytest.raises(
        AVAFormatError,
        match=r"gt16.csv:1: not valid UTF-8 text: it looks like UTF-16 without a "
        r"byte-order mark",
    ):
        read_box_csv(p)


# ---------------------------------------------------------------- separators


@pytest.mark.parametrize("sep,name", [(";", "';'"), ("\t", "tabs")])
def test_box_csv_with_another_separator_says_which(tmp_path, sep, name):
    p = _write(tmp_path, "gt.csv", ROWS.replace(",", sep))
    with pytest.raises(
        AVAFormatError, match=rf"gt.csv:1: fields separated by {name}: box CSVs are comma-separated"
    ):
        read_box_csv(p)
    with pytest.raises(AVAFormatError, match=rf"ex.csv:1: fields separated by {name}"):
        read_exclusions(_write(tmp_path, "ex.csv", f"v{sep}902\n"))


def test_semicolons_with_decimal_commas_say_semicolons(tmp_path):
    p = _write(tmp_path, "gt.csv", "v;902;0,1;0,1;0,5;0,5;1;0\n")
    with pytest.raises(AVAFormatError, match=r"gt.csv:1: fields separated by ';'"):
        read_box_csv(p)


# ---------------------------------------------------------------- video ids with spaces


def test_video_ids_are_kept_as_written_by_every_reader(tmp_path, caplog):
    """One rule: the official script keys 'vid ' and 'vid' apart; every reader keeps the id as
    written and warns."""
    with caplog.at_level(logging.WARNING):
        assert read_exclusions(_write(tmp_path, "ex.csv", "vid ,902\nvid,903\n")) == {
            ("vid ", 902),
            ("vid", 903),
        }
        rows = read_box_csv(_write(tmp_path, "gt.csv", "vid ,902,0.1,0.1,0.5,0.5,1,0\n")).rows
    assert rows["video_id"].tolist() == ["vid "]
    assert (
        "ex.csv:1: video id 'vid ' has leading or trailing spaces: kept as written" in caplog.text
    )
    assert "gt.csv:1: video id 'vid ' has leading or trailing spaces" in caplog.text


# ---------------------------------------------------------------- the checker


@pytest.mark.parametrize(
    "data,expected",
    [
        (
            gzip.compress(b"vidA,0902,0.1,0.2,0.5,0.9,12,0\n"),
            "ava_val_v2.2.csv:1: the file is gzip-compressed",
        ),
        (
            "vidA,0902,0.1,0.2,0.5,0.9,12,0\nvidé,0902,0.1,0.2,0.5,0.9,12,0\n".encode("latin-1"),
            "ava_val_v2.2.csv:2: not valid UTF-8 text: bytes b'\\xe9' at column 4",
        ),
        (b"vidA;0902;0.1;0.2;0.5;0.9;12;0\n" * 8, "ava_val_v2.2.csv:1: fields separated by ';'"),
    ],
    ids=["gzip", "latin1", "semicolons"],
)
def test_checker_reports_undecodable_or_misseparated_files_once(tmp_path, data, expected):
    root = make_ava_root(tmp_path / "ava")
    with open(os.path.join(root, "annotations", "ava_val_v2.2.csv"), "wb") as f:
        f.write(data)
    report = check_ava_dataset(root, splits=("val",), verify_images="none")
    assert report.problems["bad_row"] == 1, report.format()
    assert report.examples["bad_row"][0].startswith("annotations/" + expected), report.examples[
        "bad_row"
    ]


def test_checker_reads_the_full_action_list(tmp_path):
    root = make_ava_root(tmp_path / "ava")
    text = "".join(
        f'label {{\n  name: "a{i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
        for i in (1, 3, 5, 12, 80)
    )
    write_annotation(root, "ava_action_list_v2.2_for_activitynet_2019.pbtxt", text)
    report = check_ava_dataset(root, splits=("val",), verify_images="none")
    assert "bad_row" not in report.problems, report.format()
    assert report.info["label map"]["classes"] == 5


def test_buffers_are_checked_for_nul_bytes_too():
    with pytest.raises(AVAFormatError, match=r"field 'x1' contains a NUL byte"):
        read_box_csv(io.StringIO("v,902,0.\x001,0.1,0.5,0.5,1,0\n"))


def test_checker_repairs_a_utf16_file_row_by_row(tmp_path):
    root = make_ava_root(tmp_path / "ava")
    text = (
        "vidA,0902,0.1,0.2,0.5,0.9,12,0\nvidB,0901,0.2,x,0.4,0.4,3,0\n"
        "vidB,0902,0.2,0.2,0.4,0.4,1,0\n"
    )
    with open(os.path.join(root, "annotations", "ava_val_v2.2.csv"), "wb") as f:
        f.write(text.encode("utf-16"))
    report = check_ava_dataset(root, splits=("val",), verify_images="none")
    assert report.examples["bad_row"] == [
        "annotations/ava_val_v2.2.csv:2: field 'y1' not a number: 'x'"
    ]
    assert report.info["val"]["ground-truth box rows"] == 2
