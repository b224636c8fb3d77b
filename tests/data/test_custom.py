"""slowfast_det.data.custom: laying out and registering your own AVA-format data, and the
NUM_CLASSES / label-map agreement (the whole workflow:
tests/engine/test_custom_dataset_workflow.py)."""

import logging
import os

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from own_movies import make_own_frames_root

from slowfast_det.ava.errors import AVAFormatError
from slowfast_det.data.custom import (
    CustomDatasetError,
    check_num_classes,
    find_label_map,
    make_ava_folder,
    parse_folder_spec,
    register_ava_folder,
)
from slowfast_det.data.datasets import unregister_ava_dataset

LABEL_MAP = (
    'item { name: "stand" id: 4 }\nitem { name: "walk" id: 12 }\nitem { name: "carry" id: 91 }\n'
)
CSV = """\
a,0002,0.1,0.1,0.5,0.9,4,0
a,0002,0.1,0.1,0.5,0.9,91,0
a,0003,0.2,0.1,0.6,0.9,12,0
b,0002,0.1,0.2,0.4,0.8,4,0
c,0002.5,0.3,0.1,0.7,0.9,12,1
c,0004
d,0002,0.1,0.1,0.5,0.9,7,0
"""


@pytest.fixture
def user(tmp_path):
    movies = tmp_path / "movies"
    movies.mkdir()
    for vid in "abcd":
        (movies / f"{vid}.mp4").write_bytes(b"not decoded here")
    (movies / "unrelated.mkv").write_bytes(b"")
    (tmp_path / "gt.csv").write_text(CSV)
    (tmp_path / "labels.pbtxt").write_text(LABEL_MAP)
    return tmp_path


def test_make_ava_folder_splits_by_video_and_keeps_the_lines(user, caplog):
    out = user / "my_ava"
    with caplog.at_level(logging.WARNING, logger="slowfast_det.data.custom"):
        res = make_ava_folder(
            user / "movies", user / "gt.csv", user / "labels.pbtxt", out, val_videos=["c"]
        )
    assert (res["train_videos"], res["val_videos"], res["num_classes"]) == (
        ["a", "b", "d"],
        ["c"],
        91,
    )
    assert res["rows"] == {"train": 5, "val": 2} and res["unlabelled_rows"] == 1
    assert "gt.csv:7: action id 7 is not in the label map" in caplog.text
    assert (
        out / "annotations" / "ava_val_v2.2.csv"
    ).read_text() == "c,0002.5,0.3,0.1,0.7,0.9,12,1\nc,0004\n"
    assert (out / "annotations" / "ava_train_v2.2.csv").read_text().splitlines() == [
        line for line in CSV.splitlines() if line[0] in "abd"
    ]
    assert sorted(p.name for p in (out / "videos").iterdir()) == [
        "a.mp4",
        "b.mp4",
        "c.mp4",
        "d.mp4",
    ]
    assert (out / "videos" / "a.mp4").is_symlink() and (
        out / "annotations" / "labels.pbtxt"
    ).read_text() == LABEL_MAP
    with pytest.raises(CustomDatasetError, match="exists and is not empty"):
        make_ava_folder(user / "movies", user / "gt.csv", user / "labels.pbtxt", out)


def test_make_ava_folder_default_split_spreads_the_videos(user):
    res = make_ava_folder(
        user / "movies",
        user / "gt.csv",
        user / "labels.pbtxt",
        user / "o",
        val_fraction=0.5,
        copy=True,
    )
    assert res["val_videos"] == ["b", "d"] and res["train_videos"] == ["a", "c"]
    assert not (user / "o" / "videos" / "a.mp4").is_symlink()


def test_make_ava_folder_refuses_before_writing(user):
    with pytest.raises(CustomDatasetError, match="validation videos without annotations: zz"):
        make_ava_folder(
            user / "movies", user / "gt.csv", user / "labels.pbtxt", user / "o3", val_videos=["zz"]
        )
    (user / "movies" / "b.mp4").unlink()
    with pytest.raises(
        CustomDatasetError, match=r"1 annotated video id\(s\) have no movie .* in .*movies: b"
    ):
        make_ava_folder(user / "movies", user / "gt.csv", user / "labels.pbtxt", user / "o1")
    (user / "bad.csv").write_text("a,0002,0.1,0.1,0.5,0.9,4,0\na,0003,0.1,x,0.5,0.9,4,0\n")
    with pytest.raises(AVAFormatError, match=r"bad.csv:2: field 'y1'"):
        make_ava_folder(user / "movies", user / "bad.csv", user / "labels.pbtxt", user / "o2")
    assert not (user / "o1").exists() and not (user / "o2").exists() and not (user / "o3").exists()


def test_find_label_map(tmp_path):
    with pytest.raises(FileNotFoundError, match="no label map"):
        find_label_map(str(tmp_path))
    (tmp_path / "mine.pbtxt").write_text(LABEL_MAP)
    assert find_label_map(str(tmp_path)) == str(tmp_path / "mine.pbtxt")
    (tmp_path / "other.pbtxt").write_text(LABEL_MAP)
    with pytest.raises(FileNotFoundError, match=r"2 label maps .*mine.pbtxt, other.pbtxt"):
        find_label_map(str(tmp_path))
    ava = tmp_path / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
    ava.write_text(LABEL_MAP)
    assert find_label_map(str(tmp_path)) == str(ava)  # AVA's own name wins


def test_register_folder_and_num_classes_check(user, caplog):
    make_ava_folder(
        user / "movies", user / "gt.csv", user / "labels.pbtxt", user / "my_ava", val_videos=["c"]
    )
    assert register_ava_folder("_custom_t", str(user / "my_ava")) == [
        "_custom_t_train",
        "_custom_t_val",
    ]
    assert MetadataCatalog.get("_custom_t_val_video").frame_source == "video"
    assert MetadataCatalog.get("_custom_t_val").frame_source == "frames"
    meta = MetadataCatalog.get("_custom_t_val_video")
    assert (
        meta.evaluated_ids == [4, 12, 91]
        and meta.action_names[91] == "carry"
        and meta.start_second == 0
    )
    assert (
        MetadataCatalog.get("_custom_t_val").start_second == 900
    )  # extracted frames: AVA's frame origin
    with pytest.raises(
        CustomDatasetError,
        match=r"labels.pbtxt: the label map of dataset '_custom_t_train_video' has "
        r"action id 91, but MODEL.ROI_HEADS.NUM_CLASSES is 80 .*: set "
        r"MODEL.ROI_HEADS.NUM_CLASSES 91",
    ):
        check_num_classes(80, ["_custom_t_train_video"])
    check_num_classes(91, ["_custom_t_train_video", "_custom_t_val_video"])
    with caplog.at_level(logging.WARNING, logger="slowfast_det.data.custom"):
        check_num_classes(100, ["_custom_t_val"])
    assert "outputs 92..100 are trained as negatives and never evaluated" in caplog.text
    for name in ("_custom_t_train", "_custom_t_val"):
        for n in (name, name + "_video"):
            unregister_ava_dataset(n)


def test_folder_spec():
    assert parse_folder_spec("my=path/to=x") == ("my", "path/to=x", None)
    # :START gives the extracted frames' first second; a colon not followed by digits is the path's
    assert parse_folder_spec("my=path/to:0") == ("my", "path/to", 0)
    assert parse_folder_spec("my=C:\\data\\own:12") == ("my", "C:\\data\\own", 12)
    assert parse_folder_spec("my=C:\\data") == ("my", "C:\\data", None)
    assert parse_folder_spec("my=/data/x:y") == ("my", "/data/x:y", None)
    for bad in ("path/only", "=root", "name="):
        with pytest.raises(CustomDatasetError, match="NAME=ROOT"):
            parse_folder_spec(bad)


def test_own_movie_frames_start_where_prepare_ava_recorded(tmp_path, caplog):
    """Issue 26: frames of 9.5 s movies extracted from second 0 (frames 0..284). With the origin
    file prepare_ava writes, registration reads keyframe t as frame t * 30; without it they are
    read as AVA's (second 900): every keyframe is outside, with the hint; NAME=ROOT:0 overrides."""
    root = make_own_frames_root(tmp_path / "own")
    try:
        register_ava_folder("_own_t", root)
        meta = MetadataCatalog.get("_own_t_train")
        assert (meta.start_second, meta.fps) == (0, 30)
        assert meta.frame_origin.source == str(tmp_path / "own" / "frame_lists" / "frames.json")
        dicts = DatasetCatalog.get("_own_t_train")
        assert [(d["timestamp"], os.path.basename(d["keyframe_path"])) for d in dicts] == [
            (2, "clipA_000061.jpg"),
            (4, "clipA_000121.jpg"),
            (8, "clipA_000241.jpg"),
        ]
        assert MetadataCatalog.get("_own_t_train_video").start_second == 0  # movies: movie time

        os.remove(os.path.join(root, "frame_lists", "frames.json"))  # frames of an older run
        register_ava_folder("_own_t", root)
        with caplog.at_level(logging.WARNING, logger="slowfast_det.data.ava_dicts"):
            assert DatasetCatalog.get("_own_t_train") == []
        assert "frame index -26940 outside the video's frames 0..284" in caplog.text
        assert "frame index 0 is read as movie second 900 (AVA's default" in caplog.text
        assert "--register-ava NAME=ROOT:START" in caplog.text

        name, folder, start = parse_folder_spec(f"_own_t={root}:0")
        register_ava_folder(name, folder, start_second=start)
        assert len(DatasetCatalog.get("_own_t_train")) == 3

        with open(os.path.join(root, "frame_lists", "frames.json"), "w") as f:
            f.write('{"start_second": "zero", "fps": 30}')
        with pytest.raises(AVAFormatError, match=r"frames.json: field 'start_second' expected"):
            register_ava_folder("_own_t", root)
        with pytest.raises(AVAFormatError, match=r"frames.json: field 'start_second' expected"):
            DatasetCatalog.get("_own_t_train")  # registered before: read again at loading
    finally:
        for split in ("train", "val"):
            for n in (f"_own_t_{split}", f"_own_t_{split}_video"):
                unregister_ava_dataset(n)
