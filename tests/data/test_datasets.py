import os
import pickle
from collections import Counter

import numpy as np
import pytest
from ava_tiny import frame_path, write_annotation
from detectron2.data import DatasetCatalog, MetadataCatalog

from slowfast_det.ava.io import AVAFormatError
from slowfast_det.data import datasets
from slowfast_det.data.ava_dicts import load_ava_dicts
from slowfast_det.data.frames import FrameTable, clip_frame_indices, keyframe_index


def clip_paths(d, num_frames, sampling_rate):
    """The clip's frame paths as the mapper picks them from the dict's frame table."""
    src = d["frame_source"]
    table = src["table"]
    idx = clip_frame_indices(
        d["timestamp"], num_frames, sampling_rate, len(table), src["fps"], src["start_second"]
    )
    return table.paths(idx)


def _pyslowfast_sequence(center, half_len, sample_rate, num_frames):
    """PySlowFast's get_sequence (utils.py), written out independently for comparison."""
    seq = list(range(center - half_len, center + half_len, sample_rate))
    return [min(max(s, 0), num_frames - 1) for s in seq]


@pytest.mark.parametrize("ts", [900, 901, 902, 903])
@pytest.mark.parametrize("nf,sr", [(8, 2), (32, 2), (8, 8), (4, 1)])
def test_clip_indices_follow_the_convention(ts, nf, sr):
    center = (ts - 900) * 30
    got = clip_frame_indices(ts, nf, sr, 100)
    assert got.tolist() == _pyslowfast_sequence(center, nf * sr // 2, sr, 100)
    assert len(got) == nf


def test_clip_indices_odd_window_keeps_num_frames():
    # N * S odd: PySlowFast's range would give N - 1 frames; we keep N, starting at c - floor(L/2)
    assert clip_frame_indices(902, 3, 1, 100).tolist() == [59, 60, 61]


def test_clip_indices_vectorised_and_clamped():
    got = clip_frame_indices(np.array([900, 903]), 4, 10, 95)
    assert got.tolist() == [[0, 0, 0, 10], [70, 80, 90, 94]]


def _by_key(dicts):
    return {(d["video_id"], d["timestamp"]): d for d in dicts}


def test_train_dicts(ava_root, registered):
    registered("_t_train", ava_root, "train")
    dicts = DatasetCatalog.get("_t_train")
    by_key = _by_key(dicts)
    # vidB 905 (frame 150 > 99) and vidZ (not in the frame list) are skipped
    assert sorted(by_key) == [("vidA", 902), ("vidA", 903), ("vidB", 901)]
    d = by_key[("vidA", 902)]
    assert d["image_id"] == "vidA,0902" and isinstance(d["timestamp"], int)
    src = d["frame_source"]
    assert src["type"] == "frames" and (src["fps"], src["start_second"]) == (30, 900)
    assert len(src["table"]) == 100 and src["table"].compact
    assert src["table"] is by_key[("vidA", 903)]["frame_source"]["table"]  # one table per video
    want = [frame_path(ava_root, "vidA", i) for i in range(52, 67, 2)]
    assert clip_paths(d, 8, 2) == want
    assert all(os.path.isabs(p) for p in src["table"].paths(range(100)))
    assert d["keyframe_path"] == frame_path(ava_root, "vidA", 60) == src["table"][keyframe_index(d)]
    assert "frame_paths" not in d and "num_frames" not in d
    persons = sorted(d["annotations"], key=lambda a: a["bbox"])
    assert persons[0] == {"bbox": [0.1, 0.2, 0.5, 0.9], "labels": [12, 80], "person_id": 0}
    assert persons[1]["bbox"] == [0.6, 0.1, 1.0, 0.8] and persons[1]["labels"] == [
        5
    ]  # x2 1.2 clipped
    assert by_key[("vidA", 903)]["annotations"] == []  # 2-column row: keyframe without boxes
    assert clip_paths(by_key[("vidB", 901)], 8, 2)[0] == frame_path(ava_root, "vidB", 22)
    # config-independent proposals are present (none for train here)
    assert d["proposals"]["boxes"].shape == (0, 4) and d["proposals"]["boxes"].dtype == np.float32


def test_load_counts_problems(ava_root):
    stats = Counter()
    root = ava_root
    load_ava_dicts(
        os.path.join(root, "frames"),
        os.path.join(root, "frame_lists/train.csv"),
        os.path.join(root, "annotations/ava_train_v2.2.csv"),
        None,
        None,
        "train",
        stats=stats,
    )
    assert stats["gt_boxes_clipped"] == 1
    assert stats["keyframes_outside_video"] == 1
    assert stats["keyframes_video_not_in_frame_list"] == 1
    assert stats["keyframes"] == 3 and stats["gt_persons"] == 3


def test_val_dicts_union_and_exclusions(ava_root, registered):
    registered("_t_val", ava_root, "val")
    by_key = _by_key(DatasetCatalog.get("_t_val"))
    # gt keys (vidA 902, vidB 901, vidB 902 excluded) + predicted-only key vidA 903
    assert sorted(by_key) == [("vidA", 902), ("vidA", 903), ("vidB", 901)]
    p = by_key[("vidA", 902)]["proposals"]
    np.testing.assert_allclose(p["boxes"], [[0.1, 0.2, 0.5, 0.9], [0.5, 0.5, 0.9, 0.9]], rtol=1e-6)
    np.testing.assert_allclose(p["scores"], [0.95, 0.30], rtol=1e-6)
    assert by_key[("vidA", 903)]["annotations"] == []
    assert by_key[("vidB", 901)]["proposals"]["scores"].shape == (0,)


def test_metadata(ava_root, registered):
    registered("_t_meta", ava_root, "val")
    m = MetadataCatalog.get("_t_meta")
    ann = os.path.join(ava_root, "annotations")
    assert m.evaluator_type == "ava"
    assert m.action_names == {
        1: "action 1",
        3: "action 3",
        5: "action 5",
        12: "action 12",
        80: "action 80",
    }
    assert m.evaluated_ids == [1, 3, 5, 12, 80]
    assert m.label_map_file == os.path.join(ann, "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    assert m.groundtruth_file == os.path.join(ann, "ava_val_v2.2.csv")
    assert m.excluded_timestamps_file == os.path.join(ann, "ava_val_excluded_timestamps_v2.2.csv")
    assert m.predicted_boxes_file == os.path.join(ann, "ava_val_predicted_boxes.csv")
    assert m.frames_root == os.path.join(ava_root, "frames")
    assert (m.split, m.num_classes, m.fps, m.start_second) == ("val", 80, 30, 900)
    assert "num_frames" not in m.as_dict() and "sampling_rate" not in m.as_dict()
    assert m.get("action_names")[12] == "action 12"
    registered("_t_meta_train", ava_root, "train")
    assert MetadataCatalog.get("_t_meta_train").excluded_timestamps_file is None  # absent file


def test_registration_is_lazy(tmp_path, registered):
    missing = tmp_path / "nothing_here"
    registered("_t_lazy", str(missing), "val")  # no file read: does not raise
    m = MetadataCatalog.get("_t_lazy")
    assert m.excluded_timestamps_file is None and m.predicted_boxes_file is None
    with pytest.raises(
        FileNotFoundError, match="frame list not found: .*nothing_here/frame_lists/val.csv"
    ):
        DatasetCatalog.get("_t_lazy")
    with pytest.raises(FileNotFoundError, match="label map not found"):
        m.action_names


def test_builtins_registered_under_detectron2_datasets(monkeypatch, tmp_path):
    for name in (
        "ava_v2.2_train",
        "ava_v2.2_val",
        "ava_v2.1_train",
        "ava_v2.1_val",
        "synthetic_ava_train",
        "synthetic_ava_val",
    ):
        assert name in DatasetCatalog.list()
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    try:
        datasets._register_builtins()
        assert MetadataCatalog.get("ava_v2.1_val").groundtruth_file == str(
            tmp_path / "ava/annotations/ava_val_v2.1.csv"
        )
        assert MetadataCatalog.get("ava_v2.1_val").label_map_file.endswith(
            "ava_action_list_v2.1_for_activitynet_2018.pbtxt"
        )
        assert MetadataCatalog.get("synthetic_ava_train").frames_root == str(
            tmp_path / "synthetic_ava/frames"
        )
    finally:
        monkeypatch.undo()
        datasets._register_builtins()
    assert MetadataCatalog.get("ava_v2.2_val").groundtruth_file == os.path.abspath(
        "datasets/ava/annotations/ava_val_v2.2.csv"
    )


def test_custom_file_names_and_any_clip_from_the_same_dicts(fresh_ava_root, registered):
    root = fresh_ava_root
    os.rename(os.path.join(root, "annotations/ava_train_v2.2.csv"), os.path.join(root, "my_gt.csv"))
    registered("_t_custom", root, "train", groundtruth_file="my_gt.csv")
    d = _by_key(DatasetCatalog.get("_t_custom"))[("vidA", 902)]
    assert clip_paths(d, 8, 2) == [frame_path(root, "vidA", i) for i in range(52, 67, 2)]
    assert clip_paths(d, 4, 3) == [frame_path(root, "vidA", i) for i in (54, 57, 60, 63)]
    assert MetadataCatalog.get("_t_custom").groundtruth_file == os.path.join(root, "my_gt.csv")


def test_frame_table_is_compact_and_exact():
    paths = [f"/data/frames/v/v_{i + 1:06d}.jpg" for i in range(27000)]
    table = FrameTable(paths)
    assert table.compact and len(table) == 27000
    assert (
        table.paths([0, 1, 26999]) == [paths[0], paths[1], paths[26999]] and table[-1] == paths[-1]
    )
    assert len(pickle.dumps(table)) < 300  # Detectron2 pickles every dict on its own
    assert pickle.loads(pickle.dumps(table)) == table
    # a few ids off the pattern (gaps filled with a neighbour) stay exact
    gappy = list(paths)
    gappy[100] = gappy[99]
    gappy[5000] = "/elsewhere/x.jpg"
    t2 = FrameTable(gappy)
    assert t2.compact and t2.paths(range(27000)) == gappy
    # no pattern: the explicit list
    names = [f"/d/{c}.jpg" for c in ("a", "b", "c")]
    t3 = FrameTable(names)
    assert not t3.compact and t3.paths(range(3)) == names
    unpadded = [f"/d/f{i + 7}.png" for i in range(200)]
    assert FrameTable(unpadded).paths(range(200)) == unpadded
    with pytest.raises(IndexError, match="frame id 3 outside 0..2"):
        t3[3]


@pytest.mark.parametrize(
    "text,match",
    [
        (
            "vidA,0902,0.1,0.2,0.5,0.9,12,0\nvidA,0902,0.1,abc,0.5,0.9,12,0\n",
            r"ava_train_v2.2.csv:2: field 'y1' not a number",
        ),
        (
            "vidA,0902,0.1,0.2,0.5,0.9,81,0\n",
            r"ava_train_v2.2.csv:1: field 'action_id' action id 81 outside 1..80",
        ),
        (
            "vidA,0902,0.1,0.2,0.5,0.9,0,0\n",
            r"ava_train_v2.2.csv:1: field 'action_id' action id 0 outside",
        ),
        ("vidA,0902,0.5,0.2,0.1,0.9,3,0\n", r"ava_train_v2.2.csv:1: field 'x2' box has x2 < x1"),
        (
            "vidA,0902,0.1,0.2,0.5,0.9,3,0\n../etc,0902,0.1,0.2,0.5,0.9,3,0\n",
            r"ava_train_v2.2.csv:2: field 'video_id' unsafe",
        ),
    ],
)
def test_malformed_gt_row_names_file_line_field(fresh_ava_root, registered, text, match):
    write_annotation(fresh_ava_root, "ava_train_v2.2.csv", text)
    registered("_t_bad", fresh_ava_root, "train")
    with pytest.raises(AVAFormatError, match=match):
        DatasetCatalog.get("_t_bad")


def test_num_classes_bounds_action_ids(ava_root, registered):
    registered("_t_k", ava_root, "train", num_classes=10)
    with pytest.raises(
        AVAFormatError, match=r"ava_train_v2.2.csv:1: field 'action_id' action id 12 outside 1..10"
    ):
        DatasetCatalog.get("_t_k")


def test_predicted_boxes_need_scores_and_exist(fresh_ava_root, registered):
    write_annotation(
        fresh_ava_root,
        "ava_val_predicted_boxes.csv",
        "vidA,0902,0.1,0.2,0.5,0.9,,0.9\nvidA,0902,0.1,0.2,0.5,0.9,,\n",
    )
    registered("_t_pred", fresh_ava_root, "val")
    with pytest.raises(
        AVAFormatError, match=r"ava_val_predicted_boxes.csv:2: field 'score' missing"
    ):
        DatasetCatalog.get("_t_pred")
    os.remove(os.path.join(fresh_ava_root, "annotations/ava_val_predicted_boxes.csv"))
    with pytest.raises(FileNotFoundError, match="predicted person boxes not found"):
        DatasetCatalog.get("_t_pred")


def test_frame_list_errors_and_gaps(fresh_ava_root, registered):
    fl = os.path.join(fresh_ava_root, "frame_lists/train.csv")
    lines = open(fl).read().splitlines()
    # drop frame ids 59 and 60 of vidA (lines 60, 61): a gap, filled by the nearest listed frames
    with open(fl, "w") as f:
        f.write("\n".join(lines[:60] + lines[62:]) + "\n")
    registered("_t_gap", fresh_ava_root, "train")
    stats = Counter()
    m = MetadataCatalog.get("_t_gap")
    dicts = load_ava_dicts(m.frames_root, fl, m.groundtruth_file, None, None, "train", stats=stats)
    assert stats["frame_list_gaps"] == 2
    d = _by_key(dicts)[("vidA", 902)]
    assert clip_paths(d, 4, 1) == [frame_path(fresh_ava_root, "vidA", i) for i in (58, 58, 61, 61)]
    # duplicate frame id: an error naming the line
    with open(fl, "w") as f:
        f.write("\n".join(lines + [lines[5]]) + "\n")
    with pytest.raises(
        AVAFormatError,
        match=r"train.csv:%d: field 'frame_id' duplicate frame id 4" % (len(lines) + 1),
    ):
        DatasetCatalog.get("_t_gap")
    with open(fl, "w") as f:
        f.write("\n".join(lines[:3] + ['a/b 0 7 a/b_1.jpg ""']) + "\n")
    with pytest.raises(AVAFormatError, match=r"train.csv:4: field 'video_id' unsafe"):
        DatasetCatalog.get("_t_gap")


def test_reregistering_replaces(ava_root, fresh_ava_root, registered):
    registered("_t_re", ava_root, "train")
    registered("_t_re", fresh_ava_root, "train")
    assert MetadataCatalog.get("_t_re").frames_root == os.path.join(fresh_ava_root, "frames")
    assert DatasetCatalog.get("_t_re")[0]["keyframe_path"].startswith(str(fresh_ava_root))
