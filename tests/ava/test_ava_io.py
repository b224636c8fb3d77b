import pytest

from slowfast_det.ava.io import (
    AVAFormatError,
    check_video_id,
    read_box_csv,
    read_exclusions,
    read_frame_list,
    read_label_map,
)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_box_csv_rows_keys_and_line_numbers(tmp_path):
    p = write(
        tmp_path,
        "gt.csv",
        "vidA,0902,0.1,0.2,0.5,0.9,12,0\nvidA,902,0.1,0.2,0.5,0.9,80,0\n\nvidB,0903\nvidB,904,0.1,0.1,0.3,0.3,5,1\n",
    )
    t = read_box_csv(p)
    assert list(t.rows["timestamp"]) == [902, 902, 904]
    assert list(t.rows["action_id"]) == [12, 80, 5]
    assert list(t.rows["line"]) == [1, 2, 5]
    assert t.keys_without_boxes == {("vidB", 903)}
    assert t.keys == {("vidA", 902), ("vidB", 903), ("vidB", 904)}


def test_proposals_allow_empty_action(tmp_path):
    p = write(tmp_path, "pred.csv", "v,902,0.1,0.2,0.5,0.9,,0.93\nv,902,0.2,0.2,0.5,0.9,-1,0.5\n")
    t = read_box_csv(p, kind="proposals")
    assert list(t.rows["action_id"]) == [-1, -1]
    assert list(t.rows["last"]) == pytest.approx([0.93, 0.5])
    with pytest.raises(AVAFormatError, match=r"pred.csv:1: field 'action_id' missing"):
        read_box_csv(p, kind="groundtruth")


@pytest.mark.parametrize(
    "text,match",
    [
        ("v,902,0.1,abc,0.5,0.9,12,0\n", r"bad.csv:1: field 'y1' not a number: 'abc'"),
        (
            "v,902,0.1,0.2,0.5,0.9,12,0\nv,902,0.1,0.2,0.5,0.9,12,0,7\n",
            r"bad.csv:2: expected 2 or 8",
        ),
        ("v,902,0.1,0.2,0.5\n", r"bad.csv:1: field 'y2' missing"),
        ("../x,902,0.1,0.2,0.5,0.4,1,1\n", r"bad.csv:1: field 'video_id' unsafe"),
        ("v,inf,0.1,0.2,0.5,0.4,1,1\n", r"bad.csv:1: field 'timestamp' not a finite number"),
        ("v,902,0.1,0.2,0.5,0.4,1.5,1\n", r"bad.csv:1: field 'action_id' not an integer"),
        ("v,902,0.1,0.2,0.5,0.4,1,\n", r"bad.csv:1: field 'score' missing"),
    ],
)
def test_box_csv_errors_name_file_line_field(tmp_path, text, match):
    p = write(tmp_path, "bad.csv", text)
    with pytest.raises(AVAFormatError, match=match):
        read_box_csv(p, kind="detections")


def test_empty_box_csv(tmp_path):
    t = read_box_csv(write(tmp_path, "e.csv", ""), kind="proposals")
    assert len(t.rows) == 0 and t.keys == set()


def test_label_map_both_id_spellings(tmp_path):
    p = write(
        tmp_path,
        "lm.pbtxt",
        'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\n'
        'item {\n  name: "crawl"\n  label_id: 3\n}\n',
    )
    names, ids = read_label_map(p)
    assert names == {1: "bend/bow (at the waist)", 3: "crawl"} and ids == [1, 3]
    bad = write(tmp_path, "bad.pbtxt", 'item {\n  name: "x"\n  id: one\n}\n')
    with pytest.raises(AVAFormatError, match=r"bad.pbtxt:3: field 'id'"):
        read_label_map(bad)


def test_exclusions(tmp_path):
    assert read_exclusions(write(tmp_path, "x.csv", "v1,0902\nv2,1000\n")) == {
        ("v1", 902),
        ("v2", 1000),
    }
    with pytest.raises(AVAFormatError, match=r"x2.csv:2: field 'timestamp'"):
        read_exclusions(write(tmp_path, "x2.csv", "v1,0902\nv2,abc\n"))


def test_frame_list(tmp_path):
    p = write(
        tmp_path,
        "fl.csv",
        "original_vido_id video_id frame_id path labels\n"
        'v 0 0 v/v_000001.jpg ""\nv 0 1 v/v_000002.jpg ""\n',
    )
    df = read_frame_list(p)
    assert list(df["frame_id"]) == [0, 1] and list(df["path"]) == [
        "v/v_000001.jpg",
        "v/v_000002.jpg",
    ]
    bad = write(tmp_path, "fl2.csv", 'h\nv 0 0 ../../etc/passwd ""\n')
    with pytest.raises(AVAFormatError, match=r"fl2.csv:2: field 'path'"):
        read_frame_list(bad)


@pytest.mark.parametrize("vid", ["..", "a/b", "/abs", "a\\b", ""])
def test_video_id_escape_rejected(vid):
    with pytest.raises(AVAFormatError):
        check_video_id(vid)


def test_iter_box_csv_chunks_keep_file_lines(tmp_path):
    from slowfast_det.ava.io import iter_box_csv

    text = (
        "".join(f"v,{902 + i},0.1,0.2,0.5,0.9,{1 + i % 3},0.{i}\n" for i in range(7)) + "\nv,950\n"
    )
    p = write(tmp_path, "c.csv", text)
    chunks = list(iter_box_csv(p, kind="detections", chunksize=3))
    assert [len(c.rows) for c in chunks] == [
        3,
        3,
        1,
    ]  # lines 7-9: a row, a blank line, a 2-column row
    assert [int(x) for c in chunks for x in c.rows["line"]] == list(range(1, 8))
    whole = read_box_csv(p, kind="detections")
    assert list(whole.rows["line"]) == list(range(1, 8)) and whole.keys_without_boxes == {
        ("v", 950)
    }


@pytest.mark.parametrize(
    "text,match",
    [
        ("v,902,0.1,0.2,0.5,0.9,12,inf\n", r"x.csv:1: field 'score' not a finite number"),
        (
            "v,902,0.1,0.2,0.5,0.9,12,0.5\nv,902,0.1,0.2,0.5,0.9,12,nan\n",
            r"x.csv:2: field 'score' not a finite number",
        ),
        (
            "v,902,0.1,0.2,0.5,0.9,12,0.5,7\nv,902,0.1,0.2,0.5,0.9,12,0.5\n",
            r"x.csv:1: expected 2 or 8",
        ),
    ],
)
def test_box_csv_rejects_non_finite_and_extra_fields_on_line_1(tmp_path, text, match):
    with pytest.raises(AVAFormatError, match=match):
        read_box_csv(write(tmp_path, "x.csv", text), kind="detections")


def test_box_csv_floats_parse_like_python(tmp_path):
    vals = ["0.12345678901234567", "1.2345678901234567e-07", "0.30000000000000004"]
    p = write(tmp_path, "f.csv", "".join(f"v,902,0.1,0.2,0.5,0.9,1,{v}\n" for v in vals))
    assert list(read_box_csv(p, kind="detections").rows["last"]) == [float(v) for v in vals]
