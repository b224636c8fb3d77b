"""The AVA-format folder's file names: spelled once (slowfast_det.ava.layout), used by the
registration, the checker and the writers."""

import os

import pytest

from slowfast_det.ava.layout import LABEL_MAP_FILES, split_files


def test_split_files_names():
    f = split_files("val", "v2.1")
    assert f == {
        "frames_dir": "frames",
        "videos_dir": "videos",
        "frame_list_file": os.path.join("frame_lists", "val.csv"),
        "groundtruth_file": os.path.join("annotations", "ava_val_v2.1.csv"),
        "predicted_boxes_file": os.path.join("annotations", "ava_val_predicted_boxes.csv"),
        "excluded_timestamps_file": os.path.join(
            "annotations", "ava_val_excluded_timestamps_v2.1.csv"
        ),
        "label_map_file": os.path.join("annotations", LABEL_MAP_FILES["v2.1"]),
    }
    assert split_files("train", "v9")["label_map_file"] is None  # no known label map name


@pytest.mark.parametrize("version", ["v2.1", "v2.2"])
def test_registration_uses_the_layout(tmp_path, version):
    from detectron2.data import MetadataCatalog

    from slowfast_det.data.datasets import register_ava_dataset, unregister_ava_dataset

    name = f"layout_probe_{version}"
    register_ava_dataset(name, str(tmp_path), "val", version=version)
    try:
        meta = MetadataCatalog.get(name)
        f = {k: os.path.join(str(tmp_path), v) for k, v in split_files("val", version).items()}
        assert meta.frames_root == f["frames_dir"]
        assert meta.videos_root == f["videos_dir"]
        assert meta.frame_list_file == f["frame_list_file"]
        assert meta.groundtruth_file == f["groundtruth_file"]
        assert meta.label_map_file == f["label_map_file"]
    finally:
        unregister_ava_dataset(name)


def test_find_splits_reads_the_names_back(tmp_path):
    from slowfast_det.ava.layout import find_splits

    assert find_splits(str(tmp_path)) == []  # no annotations/ folder
    for split in ("train", "val", "my_test"):
        for key in ("groundtruth_file", "predicted_boxes_file", "excluded_timestamps_file"):
            path = tmp_path / split_files(split, "v2.2")[key]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
    (tmp_path / split_files("old", "v2.1")["groundtruth_file"]).write_text("")  # other version
    assert find_splits(str(tmp_path), "v2.2") == ["my_test", "train", "val"]
    assert find_splits(str(tmp_path), "v2.1") == ["old"]


def test_frame_file_and_its_pattern_agree():
    from slowfast_det.ava.layout import frame_file, frame_file_pattern

    assert frame_file("-5KQ66BBWC4", 1) == "-5KQ66BBWC4/-5KQ66BBWC4_000001.jpg"
    assert frame_file("v", 27031) == "v/" + frame_file_pattern("v") % 27031
