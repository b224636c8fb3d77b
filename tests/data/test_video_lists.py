"""Video lists of every format parsed from tiny files written here: the dicts, class names,
multi-label, and the bad lines (AVAFormatError naming file:line:field)."""

import json

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from slowfast_det.ava.errors import AVAFormatError
from slowfast_det.data import (
    read_label_names,
    read_video_list,
    register_video_list,
    unregister_video_dataset,
)
from slowfast_det.data.frames import FrameTable


def _write(path, text):
    path.write_text(text)
    return str(path)


def _bad(tmp_path, text, fmt="pyslowfast", **kw):
    path = _write(tmp_path / "list.txt", text)
    with pytest.raises(AVAFormatError) as e:
        read_video_list(path, str(tmp_path), fmt=fmt, **kw)
    return e.value


# --------------------------------------------------------------------------- pyslowfast


def test_pyslowfast_two_and_three_fields(tmp_path):
    path = _write(tmp_path / "train.csv", "a/x.mp4 3\n\nb/y.mp4 fn 1\r\n/abs/z.mp4 0\n")
    vl = read_video_list(path, str(tmp_path / "videos"), fmt="pyslowfast")
    assert vl.multi_label is False and vl.class_names == ["0", "1", "2", "3"]
    assert vl.dicts == [
        {
            "video_id": "a/x.mp4",
            "file_name": str(tmp_path / "videos/a/x.mp4"),
            "label": 3,
            "line": 1,
        },
        {
            "video_id": "b/y.mp4",
            "file_name": str(tmp_path / "videos/b/y.mp4"),
            "label": 1,
            "line": 3,
        },
        {"video_id": "/abs/z.mp4", "file_name": "/abs/z.mp4", "label": 0, "line": 4},
    ]


def test_pyslowfast_other_separator_and_unlabelled_lists(tmp_path, caplog):
    path = _write(tmp_path / "l.csv", "a.mp4,3\nb.mp4,1\n")
    vl = read_video_list(path, str(tmp_path), fmt="pyslowfast", separator=",")
    assert [(d["video_id"], d["label"]) for d in vl.dicts] == [("a.mp4", 3), ("b.mp4", 1)]
    # no line labelled: label 0 for every video, as PySlowFast, with a warning
    path = _write(tmp_path / "test.csv", "a.mp4\nb.mp4\n")
    vl = read_video_list(path, str(tmp_path), fmt="pyslowfast")
    assert [d["label"] for d in vl.dicts] == [0, 0] and "no line has a label" in caplog.text


@pytest.mark.parametrize(
    "text, line, field, words",
    [
        ("a.mp4 1\nb.mp4,2\n", 2, "label", "separated by ','"),
        ("a.mp4 1\nb.mp4;2\n", 2, "label", "separated by ';'"),
        ("a.mp4 1\nb.mp4\t2\n", 2, "label", "separated by tabs"),
        ("a.mp4 1\nb.mp4 x\n", 2, "label", "not an integer label: 'x'"),
        ("a.mp4 1\nb.mp4 1.0\n", 2, "label", "not an integer label"),
        ("a.mp4 -1\n", 1, "label", "negative label -1"),
        ("a.mp4 1\nb.mp4\n", 2, "label", "missing, while line 1 has one"),
        ("my video file.mp4 1\n", 1, "path", "4 fields separated by ' '"),
        ("a.mp4 1\nb.mp4 0\na.mp4 2\n", 3, "path", "video 'a.mp4' repeated (line 1)"),
    ],
)
def test_pyslowfast_bad_lines_name_file_line_field(tmp_path, text, line, field, words):
    e = _bad(tmp_path, text)
    assert (e.path, e.line, e.field) == (str(tmp_path / "list.txt"), line, field)
    assert words in e.message and str(e).startswith(f"{tmp_path / 'list.txt'}:{line}:")


def test_labels_checked_against_the_label_names(tmp_path):
    e = _bad(tmp_path, "a.mp4 0\nb.mp4 3\n", class_names=["x", "y", "z"])
    assert (e.line, e.field) == (2, "label") and "outside the 3 label names (0..2)" in e.message


def test_bad_lines_collected_for_the_checker(tmp_path):
    path = _write(tmp_path / "l.txt", "a.mp4 1\nb.mp4,2\nc.mp4 x\nd.mp4 0\na.mp4 0\n")
    bad = []
    vl = read_video_list(path, str(tmp_path), fmt="pyslowfast", bad_lines=bad)
    assert [d["video_id"] for d in vl.dicts] == ["a.mp4", "d.mp4"]
    assert [(e.line, e.field) for e in bad] == [(2, "label"), (3, "label"), (5, "path")]


def test_list_bytes_read_as_the_ava_readers_read_them(tmp_path):
    (tmp_path / "l16.txt").write_bytes("a.mp4 1\nb.mp4 0\n".encode("utf-16"))
    vl = read_video_list(str(tmp_path / "l16.txt"), str(tmp_path), fmt="pyslowfast")
    assert [d["label"] for d in vl.dicts] == [1, 0]
    (tmp_path / "nul.txt").write_bytes(b"a.mp4 1\nb.mp4 0\x00\n")
    with pytest.raises(AVAFormatError, match=r"nul.txt:2:.*NUL byte"):
        read_video_list(str(tmp_path / "nul.txt"), str(tmp_path), fmt="pyslowfast")


# --------------------------------------------------------------------------- MMAction2


def test_mmaction_video_single_and_multi_label(tmp_path):
    path = _write(tmp_path / "l.txt", "some/path/000.mp4 1\nsome/path/001.mp4   2\n")
    vl = read_video_list(path, str(tmp_path), fmt="mmaction_video")
    assert vl.multi_label is False and [d["label"] for d in vl.dicts] == [1, 2]
    path = _write(tmp_path / "m.txt", "a.mp4 1 4 1\nb.mp4 0\nc.mp4\t2\t3\n")
    vl = read_video_list(path, str(tmp_path), fmt="mmaction_video")
    assert vl.multi_label is True and vl.class_names == [str(i) for i in range(5)]
    assert [d["labels"] for d in vl.dicts] == [[1, 4], [0], [2, 3]]
    assert all("label" not in d for d in vl.dicts)
    e = _bad(tmp_path, "a.mp4 1 4\n", fmt="mmaction_video", multi_label=False)
    assert (e.line, e.field) == (1, "label") and "several labels" in e.message
    e = _bad(tmp_path, "a.mp4;1\n", fmt="mmaction_video")
    assert (e.line, e.field) == (1, "label") and "separated by ';'" in e.message


def test_mmaction_rawframes_plain_and_offset_forms(tmp_path):
    path = _write(tmp_path / "l.txt", "frames/v1 300 2\nframes/v2 120 0 3\n")
    vl = read_video_list(path, str(tmp_path), fmt="mmaction_rawframes")
    assert vl.multi_label is True  # one line has two labels
    assert vl.dicts[0] == {
        "video_id": "frames/v1",
        "frame_dir": str(tmp_path / "frames/v1"),
        "num_frames": 300,
        "labels": [2],
        "line": 1,
    }
    assert vl.dicts[1]["labels"] == [0, 3] and "first_frame" not in vl.dicts[1]
    # every line with 4 fields: the offset form 'frame_dir start total_frames label'
    path = _write(tmp_path / "o.txt", "v1 10 50 2\nv2 5 60 1\n")
    vl = read_video_list(path, str(tmp_path), fmt="mmaction_rawframes")
    assert vl.multi_label is False
    assert [(d["first_frame"], d["num_frames"], d["label"]) for d in vl.dicts] == [
        (10, 50, 2),
        (5, 60, 1),
    ]
    vl = read_video_list(path, str(tmp_path), fmt="mmaction_rawframes", with_offset=False)
    assert vl.multi_label is True and vl.dicts[1]["num_frames"] == 5
    assert [d["labels"] for d in vl.dicts] == [[2, 50], [1, 60]]
    e = _bad(tmp_path, "v1 ten 1\n", fmt="mmaction_rawframes")
    assert (e.line, e.field) == (1, "total_frames")
    e = _bad(tmp_path, "v1 -2 50 1\n", fmt="mmaction_rawframes", with_offset=True)
    assert (e.line, e.field) == (1, "start")
    e = _bad(tmp_path, "v1 50\n", fmt="mmaction_rawframes")
    assert (e.line, e.field) == (1, "label") and "expected 'frame_dir total_frames label'" in str(e)


# --------------------------------------------------------------------------- Charades


CHARADES = """original_vido_id video_id frame_id path labels
46GP8 0 0 46GP8/46GP8-000001.jpg ""
46GP8 0 2 46GP8/46GP8-000003.jpg "3,17"
46GP8 0 1 46GP8/46GP8-000002.jpg "3"
N11GT 1 0 N11GT/N11GT-000001.jpg "5"
N11GT 1 1 N11GT/N11GT-000002.jpg ""
"""


def test_charades_frame_lists_merge_frame_labels_per_video(tmp_path):
    path = _write(tmp_path / "train.csv", CHARADES)
    vl = read_video_list(path, str(tmp_path / "frames"), fmt="charades")
    assert vl.multi_label is True and vl.class_names == [str(i) for i in range(18)]
    a, b = vl.dicts
    assert (a["video_id"], a["labels"], a["line"], a["num_frames"]) == ("46GP8", [3, 17], 2, 3)
    assert a["frame_dir"] == str(tmp_path / "frames/46GP8")
    assert isinstance(a["frames"], FrameTable)
    assert list(a["frames"].paths(range(3))) == [
        str(tmp_path / f"frames/46GP8/46GP8-00000{i}.jpg") for i in (1, 2, 3)
    ]  # frame-id order
    assert (b["video_id"], b["labels"], b["num_frames"]) == ("N11GT", [5], 2)


def test_charades_bad_rows(tmp_path):
    e = _bad(tmp_path, CHARADES.replace('"3,17"', '"3,x"'), fmt="charades")
    assert (e.line, e.field) == (3, "labels") and "not an integer label: 'x'" in e.message
    e = _bad(tmp_path, CHARADES, fmt="charades", class_names=[str(i) for i in range(10)])
    assert (e.line, e.field) == (3, "labels") and "label 17 outside the 10" in e.message
    e = _bad(tmp_path, CHARADES.replace("N11GT 1 1", "N11GT 1 one"), fmt="charades")
    assert (e.line, e.field) == (6, "frame_id")  # read_frame_list's own checks
    path = _write(tmp_path / "l.csv", CHARADES.replace("46GP8 0 2", "46GP8 0 two"))
    bad = []
    vl = read_video_list(path, str(tmp_path), fmt="charades", bad_lines=bad)
    assert [(e.line, e.field) for e in bad] == [(3, "frame_id")]
    assert [d["labels"] for d in vl.dicts] == [[3], [5]]  # the bad row left out


# --------------------------------------------------------------------------- folders


def test_class_folders(tmp_path):
    for cls, files in {"b_walk": ["2.mp4", "1.webm", "notes.txt"], "a_run": ["x.MKV"]}.items():
        (tmp_path / cls).mkdir()
        for f in files:
            (tmp_path / cls / f).write_bytes(b"")
    (tmp_path / ".hidden").mkdir()
    vl = read_video_list(None, str(tmp_path), fmt="folders")
    assert vl.class_names == ["a_run", "b_walk"] and vl.multi_label is False
    assert [(d["video_id"], d["label"], d["line"]) for d in vl.dicts] == [
        ("a_run/x.MKV", 0, 0),
        ("b_walk/1.webm", 1, 0),
        ("b_walk/2.mp4", 1, 0),
    ]
    vl = read_video_list(None, str(tmp_path), fmt="folders", class_names=["b_walk", "a_run"])
    assert [d["label"] for d in vl.dicts] == [1, 0, 0]
    with pytest.raises(ValueError, match="a_run: class folder not among the 1 label names"):
        read_video_list(None, str(tmp_path), fmt="folders", class_names=["b_walk"])


# --------------------------------------------------------------------------- label names


@pytest.mark.parametrize(
    "name, text",
    [
        ("k.csv", 'id,name\n0,abseiling\n2,air drumming\n1,"answering questions"\n'),
        ("k2.csv", "abseiling,0\nanswering questions,1\nair drumming,2\n"),
        ("c.txt", "0 abseiling\n1 answering questions\n2 air drumming\n"),
        ("l.txt", "abseiling\nanswering questions\nair drumming\n"),
        (
            "k.json",
            json.dumps({'"abseiling"': 0, "air drumming": 2, "answering questions": 1}),
        ),
        ("n.json", json.dumps(["abseiling", "answering questions", "air drumming"])),
    ],
)
def test_label_names_files(tmp_path, name, text):
    assert read_label_names(_write(tmp_path / name, text)) == [
        "abseiling",
        "answering questions",
        "air drumming",
    ]


@pytest.mark.parametrize(
    "text, line, field, words",
    [
        ("0,a\n1,b\n1,c\n", 3, "id", "id 1 repeated"),
        ("0,a\n1,b\n5,c\n", 3, "id", "id 5 outside 0..2"),
        ("1,a\n2,b\n3,c\n", 3, "id", "ids start at 0"),
        ("a\nb\na\n", 3, "name", "'a' repeated (line 1)"),
        ("0,a\n1,b\nc d e\n2,f\n", 3, None, "expected an 'id,name' or 'name,id' row"),
    ],
)
def test_bad_label_names(tmp_path, text, line, field, words):
    with pytest.raises(AVAFormatError) as e:
        read_label_names(_write(tmp_path / "names.txt", text))
    assert (e.value.line, e.value.field) == (line, field) and words in e.value.message


# --------------------------------------------------------------------------- registration


def test_register_video_list_is_lazy_and_reads_label_names(tmp_path):
    names = _write(tmp_path / "names.txt", "run\nwalk\njump\n")
    path = str(tmp_path / "later.csv")
    meta = register_video_list("_tvl_lazy", path, None, fmt="pyslowfast", label_names=names)
    try:
        assert meta.class_names == ["run", "walk", "jump"] and meta.multi_label is False
        _write(tmp_path / "later.csv", "a.mp4 2\n")  # the list is read only now
        (d,) = DatasetCatalog.get("_tvl_lazy")
        assert d["file_name"] == str(tmp_path / "a.mp4") and d["label"] == 2
        assert MetadataCatalog.get("_tvl_lazy").evaluator_type == "video_classification"
    finally:
        unregister_video_dataset("_tvl_lazy")
    assert "_tvl_lazy" not in DatasetCatalog and "_tvl_lazy" not in MetadataCatalog


def test_registered_multi_label_comes_from_the_list(tmp_path):
    path = _write(tmp_path / "m.txt", "a.mp4 1 3\nb.mp4 0\n")
    meta = register_video_list("_tvl_multi", path, str(tmp_path), fmt="mmaction_video")
    try:
        assert meta.multi_label is True and meta.class_names == ["0", "1", "2", "3"]
        assert [d["labels"] for d in DatasetCatalog.get("_tvl_multi")] == [[1, 3], [0]]
    finally:
        unregister_video_dataset("_tvl_multi")
    with pytest.raises(ValueError, match="not one of"):
        register_video_list("_tvl_x", path, None, fmt="kinetics")
    with pytest.raises(ValueError, match="takes no list file"):
        register_video_list("_tvl_x", path, str(tmp_path), fmt="folders")


def test_builtins_registered_lazily_as_pyslowfast_lays_them_out(tmp_path, monkeypatch):
    from slowfast_det.data import classification, registered_video_datasets

    assert {"kinetics400_train", "kinetics400_val", "charades_train", "charades_val"} <= set(
        registered_video_datasets()
    )
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    try:
        classification._register_builtins()
        # the label kind is fixed by the format: nothing is read
        assert MetadataCatalog.get("charades_val").multi_label is True
        assert MetadataCatalog.get("kinetics400_val").multi_label is False
        (tmp_path / "kinetics400").mkdir()
        _write(tmp_path / "kinetics400" / "kinetics_classnames.json", '{"a": 0, "b": 1, "c": 2}')
        _write(tmp_path / "kinetics400" / "val.csv", "x/1.mp4 2\n")
        assert MetadataCatalog.get("kinetics400_val").class_names == ["a", "b", "c"]
        (d,) = DatasetCatalog.get("kinetics400_val")
        assert d["file_name"] == str(tmp_path / "kinetics400" / "x" / "1.mp4")
        (tmp_path / "charades" / "frame_lists").mkdir(parents=True)
        _write(tmp_path / "charades" / "frame_lists" / "train.csv", CHARADES)
        a, b = DatasetCatalog.get("charades_train")  # no class names file: 0..17
        assert a["frame_dir"] == str(tmp_path / "charades" / "frames" / "46GP8")
        assert len(MetadataCatalog.get("charades_train").class_names) == 18
    finally:
        monkeypatch.undo()
        classification._register_builtins()
