"""tools/detect_persons.py and slowfast_det.engine.detect_persons: a tiny AVA-format folder, a
tiny randomly initialised Faster R-CNN (fixed weights file), CSV format, resume, refusals."""

import logging
import os
import urllib.error

import cv2
import iopath.common.file_io
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import DefaultPredictor
from detectron2.modeling import build_model
from movie_helpers import image_index, write_movie
from script_modules import load_script

from slowfast_det.ava.files import NUMBER_FORMAT
from slowfast_det.ava.io import read_box_csv
from slowfast_det.ava.person_boxes import person_box_ap
from slowfast_det.data import register_ava_dataset
from slowfast_det.engine.detect_persons import (
    KeyframeMapper,
    detector_config,
    keyframe_dicts,
    normalised_boxes,
    read_keyframe,
    register_keyframe_reader,
)
from slowfast_det.engine.person_boxes import PersonDetector

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
tool = load_script("tools/detect_persons.py", "detect_persons_tool")

H, W = 48, 64
NUM_VIDEO_FRAMES = 100  # keyframes 900..903 (frame 90 is the last keyframe)
GT = """\
vidA,0901,0.1,0.2,0.5,0.9,1,0
vidA,0901,0.1,0.2,0.5,0.9,2,0
vidA,0902,0.5,0.1,0.9,0.6,1,1
vidA,0903
vidB,0900,0.1,0.1,0.4,0.9,3,0
vidB,0902,0.2,0.1,0.6,0.9,1,0
"""
GT_KEYS = ["vidA,0901", "vidA,0902", "vidA,0903", "vidB,0900", "vidB,0902"]
ZOO_NAME = "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"
ZOO_URL = "https://dl.fbaipublicfiles.com/detectron2/COCO-Detection/faster_rcnn_R_50_FPN_3x/137849458/model_final_280758.pkl"


def tiny_detector_cfg():
    """The synthetic R18-FPN detector config, smaller (test-time size 48)."""
    return detector_config(
        os.path.join(ROOT, "configs", "person_detector", "faster_rcnn_R18_FPN_synthetic.yaml"),
        opts=[
            "MODEL.FPN.OUT_CHANNELS",
            "16",
            "MODEL.ROI_BOX_HEAD.FC_DIM",
            "32",
            "INPUT.MIN_SIZE_TEST",
            "48",
            "MODEL.RPN.POST_NMS_TOPK_TEST",
            "20",
            "TEST.DETECTIONS_PER_IMAGE",
            "10",
        ],
        score_thresh=0.0,
    )


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    """AVA layout (frames/, frame_lists/val.csv, annotations/ava_val_v2.2.csv), a detector config
    file and a fixed random weights file."""
    root = tmp_path_factory.mktemp("ava")
    rng = np.random.default_rng(0)
    lines = ["original_video_id video_id frame_id path labels"]
    for v, vid in enumerate(("vidA", "vidB")):
        os.makedirs(root / "frames" / vid)
        for i in range(NUM_VIDEO_FRAMES):
            img = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (W, H))
            cv2.imwrite(str(root / "frames" / vid / f"{vid}_{i + 1:06d}.jpg"), img)
            lines.append(f'{vid} {v} {i} {vid}/{vid}_{i + 1:06d}.jpg ""')
    os.makedirs(root / "frame_lists")
    os.makedirs(root / "annotations")
    (root / "frame_lists" / "val.csv").write_text("\n".join(lines) + "\n")
    (root / "annotations" / "ava_val_v2.2.csv").write_text(GT)
    dcfg = tiny_detector_cfg()
    (root / "det.yaml").write_text(dcfg.dump())
    torch.manual_seed(0)
    torch.save({"model": build_model(dcfg).state_dict()}, root / "det.pth")
    return root


@pytest.fixture(scope="module")
def full_csv(ava, tmp_path_factory):
    """The CSV of one uninterrupted run with the default arguments of :func:`run`."""
    out = tmp_path_factory.mktemp("full") / "ava_val_predicted_boxes.csv"
    run(ava, out)
    return out


def run(ava, output, *extra, weights=True, after_commit=None):
    argv = [
        "--dataset-root",
        str(ava),
        "--split",
        "val",
        "--detector-config",
        str(ava / "det.yaml"),
        "--output",
        str(output),
        "--commit-every",
        "2",
        "--batch-size",
        "2",
        "--num-workers",
        "0",
        "--no-progress",
    ]
    if weights:
        argv += ["--weights", str(ava / "det.pth")]
    return tool.main(argv + list(extra), after_commit=after_commit)


def test_csv_is_ava_predicted_boxes_format(ava, tmp_path):
    out = tmp_path / "ava_val_predicted_boxes.csv"
    stats = run(ava, out, "--score-thresh", "0.3")
    assert stats["keyframes"] == len(GT_KEYS) and stats["unreadable"] == 0 and stats["boxes"] > 0
    assert stats["quality"] is not None and 0.0 <= stats["quality"].ap <= 1.0
    text = out.read_text()
    table = read_box_csv(str(out), kind="proposals")
    assert {f"{v},{t:04d}" for v, t in table.keys} == set(GT_KEYS)  # every keyframe, once
    rows = table.rows
    assert len(rows) == stats["boxes"]
    assert (rows["action_id"] == -1).all()  # empty action id
    assert (
        ((rows[["x1", "y1", "x2", "y2"]] >= 0) & (rows[["x1", "y1", "x2", "y2"]] <= 1)).all().all()
    )
    assert ((rows["x2"] > rows["x1"]) & (rows["y2"] > rows["y1"])).all()
    assert (rows["last"] >= 0.3).all()
    for line in text.splitlines():
        fields = line.split(",")
        assert len(fields) in (2, 8) and len(fields[1]) == 4
        if len(fields) == 8:  # boxes rounded to 3 decimals, numbers in the one writer's format
            assert fields[6] == "" and all(round(float(f), 3) == float(f) for f in fields[2:6])
            assert all(f == NUMBER_FORMAT % float(f) for f in fields[2:6] + fields[7:])
    for _, g in rows.groupby(["video_id", "timestamp"]):  # by descending score within a keyframe
        assert (np.diff(g["last"].to_numpy()) <= 0).all()
    assert not os.path.exists(str(out) + ".partial") and not os.path.exists(str(out) + ".progress")


def test_no_box_above_threshold_is_a_two_column_row(ava, tmp_path):
    out = tmp_path / "boxes.csv"
    run(ava, out, "--score-thresh", "1.01")
    assert out.read_text().splitlines() == [k for k in GT_KEYS]


def test_unreadable_keyframe_gets_no_row(ava, tmp_path):
    flist = (
        (ava / "frame_lists" / "val.csv")
        .read_text()
        .replace("vidA/vidA_000031.jpg", "vidA/missing.jpg")
    )
    (tmp_path / "val.csv").write_text(flist)  # keyframe 901 of vidA is frame 30
    out = tmp_path / "boxes.csv"
    stats = run(ava, out, "--frame-list", str(tmp_path / "val.csv"), "--score-thresh", "1.01")
    assert stats["unreadable"] == 1 and stats["keyframes"] == len(GT_KEYS)
    assert out.read_text().splitlines() == [k for k in GT_KEYS if k != "vidA,0901"]


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_csv(ava, full_csv, tmp_path):

    def stop(n):
        if n >= 2:
            raise Interrupt

    out = tmp_path / "resumed.csv"
    with pytest.raises(Interrupt):
        run(ava, out, after_commit=stop)
    assert not out.exists() and os.path.exists(str(out) + ".partial")
    stats = run(ava, out)
    assert stats["keyframes"] == len(GT_KEYS) - 2  # only the rest
    assert out.read_bytes() == full_csv.read_bytes()
    # another score threshold is another run: refused without --restart
    with pytest.raises(Interrupt):
        run(ava, tmp_path / "other.csv", after_commit=stop)
    with pytest.raises(ValueError, match="--restart"):
        run(ava, tmp_path / "other.csv", "--score-thresh", "0.5")
    with pytest.raises(
        Interrupt
    ):  # --restart starts over: 2 keyframes again before the interruption
        run(ava, tmp_path / "other.csv", "--score-thresh", "0.5", "--restart", after_commit=stop)


def test_refuses_random_weights_before_reading_data(ava, tmp_path, caplog):
    argv = [
        "--dataset-root",
        str(tmp_path / "absent"),
        "--detector-config",
        str(ava / "det.yaml"),
        "--output",
        str(tmp_path / "x.csv"),
    ]
    with pytest.raises(SystemExit) as e:
        tool.main(argv)
    msg = str(e.value.code)
    assert (
        msg.startswith("detect_persons: the person detector has no weights")
        and "--allow-random-weights" in msg
    )
    assert "--weights" in msg and "\n" not in msg
    with caplog.at_level(logging.WARNING, logger="slowfast_det"):
        stats = run(ava, tmp_path / "random.csv", "--allow-random-weights", weights=False)
    assert stats["keyframes"] == len(GT_KEYS)
    assert any("RANDOM weights" in r.getMessage() for r in caplog.records)


def test_model_zoo_weights_offline_is_one_line(tmp_path, monkeypatch):
    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(iopath.common.file_io, "download", no_network)
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as e:
        tool.main(
            [
                "--dataset-root",
                str(tmp_path),
                "--detector-config",
                ZOO_NAME,
                "--output",
                str(tmp_path / "x.csv"),
            ]
        )
    msg = str(e.value.code)
    assert "\n" not in msg and msg.startswith(
        f"detect_persons: cannot download --weights {ZOO_URL} (URLError:"
    )
    assert msg.endswith("pass its local path: --weights /path/to/model_final_280758.pkl")


def test_batched_detection_equals_defaultpredictor(ava):
    dcfg = tiny_detector_cfg()
    dcfg.MODEL.WEIGHTS = str(ava / "det.pth")
    det = PersonDetector.from_config(dcfg, dcfg.MODEL.WEIGHTS, score_thresh=0.0)
    dicts, mode = keyframe_dicts(
        str(ava / "frames"),
        str(ava / "frame_lists" / "val.csv"),
        str(ava / "annotations" / "ava_val_v2.2.csv"),
    )
    assert mode == "groundtruth" and [d["image_id"] for d in dicts] == GT_KEYS
    batch = [KeyframeMapper(det.cfg)(d) for d in dicts[:3]]
    got = [
        normalised_boxes(b, s, x["height"], x["width"])
        for x, (b, s) in zip(batch, det.detect(batch))
    ]
    ref = DefaultPredictor(dcfg)
    for d, (boxes, scores) in zip(dicts[:3], got):
        inst = ref(read_keyframe(d))["instances"]
        ref_boxes = np.round(np.clip(inst.pred_boxes.tensor.numpy() / [W, H, W, H], 0, 1), 3)
        ok = (ref_boxes[:, 2] > ref_boxes[:, 0]) & (ref_boxes[:, 3] > ref_boxes[:, 1])
        assert len(boxes) == ok.sum() > 0
        np.testing.assert_allclose(scores, inst.scores.numpy()[ok], atol=1e-5)
        np.testing.assert_allclose(boxes, ref_boxes[ok], atol=1.5e-3)


def test_registered_dataset_catalog_keyframes_and_evaluate(ava, full_csv, tmp_path):
    register_ava_dataset(
        "_detect_persons_test",
        str(ava),
        "train",
        groundtruth_file="annotations/ava_val_v2.2.csv",
        frame_list_file="frame_lists/val.csv",
    )
    try:
        argv = [
            "--dataset",
            "_detect_persons_test",
            "--detector-config",
            str(ava / "det.yaml"),
            "--weights",
            str(ava / "det.pth"),
            "--num-workers",
            "0",
            "--batch-size",
            "2",
            "--no-progress",
        ]
        for mode in ("auto", "catalog"):
            out = tmp_path / f"{mode}.csv"
            assert tool.main(argv + ["--keyframes", mode, "--output", str(out)])[
                "keyframes"
            ] == len(GT_KEYS)
            assert out.read_bytes() == full_csv.read_bytes()
        q = tool.main(
            [
                "--dataset",
                "_detect_persons_test",
                "--evaluate",
                str(tmp_path / "auto.csv"),
                str(tmp_path / "catalog.csv"),
            ]
        )["quality"]
        assert len(q) == 2 and q[0] == q[1]
    finally:
        DatasetCatalog.remove("_detect_persons_test")


def test_every_second_keyframes_without_groundtruth(ava):
    dicts, mode = keyframe_dicts(str(ava / "frames"), str(ava / "frame_lists" / "val.csv"), None)
    assert mode == "every-second"
    assert [d["image_id"] for d in dicts] == [
        f"{v},{t:04d}" for v in ("vidA", "vidB") for t in range(900, 904)
    ]


def test_keyframe_reader_dispatches_on_frame_source_type(ava):
    dcfg = tiny_detector_cfg()
    d = {
        "image_id": "vidV,0901",
        "video_id": "vidV",
        "timestamp": 901,
        "frame_source": {"type": "video-test"},
    }
    with pytest.raises(
        ValueError, match=r"vidV,0901: frame_source type 'video-test' has no keyframe reader"
    ):
        read_keyframe(d)
    frame = np.full((30, 40, 3), 7, np.uint8)
    register_keyframe_reader("video-test", lambda dd: frame if dd["timestamp"] == 901 else None)
    out = KeyframeMapper(dcfg)(d)
    assert (out["height"], out["width"]) == (30, 40) and out["image"].dtype == torch.uint8
    assert out["image"].shape == (3, 48, 64)  # resized: short side INPUT.MIN_SIZE_TEST
    assert KeyframeMapper(dcfg)(dict(d, timestamp=902))["image"] is None


def test_person_box_ap(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text(
        "v,0902,0.1,0.1,0.4,0.9,1,0\nv,0902,0.1,0.1,0.4,0.9,5,0\nv,0902,0.5,0.1,0.9,0.9,2,1\nv,0903\n"
    )
    perfect = tmp_path / "perfect.csv"
    perfect.write_text("v,0902,0.1,0.1,0.4,0.9,,0.9\nv,0902,0.5,0.1,0.9,0.9,,0.7\n")
    q = person_box_ap(str(gt), str(perfect), thresh=0.8)
    assert q.ap == pytest.approx(1.0) and q.num_groundtruth == 2 and q.num_boxes == 2
    assert (q.recall, q.precision, q.boxes_at_thresh) == (pytest.approx(0.5), pytest.approx(1.0), 1)
    worse = tmp_path / "worse.csv"  # a false positive on the empty keyframe ranks first
    worse.write_text(
        "v,0903,0.1,0.1,0.4,0.9,,0.95\nv,0902,0.1,0.1,0.4,0.9,,0.9\nv,0902,0.5,0.1,0.9,0.9,,0.7\n"
    )
    assert person_box_ap(str(gt), str(worse)).ap == pytest.approx(2 / 3)
    (tmp_path / "noscore.csv").write_text("v,0902,0.1,0.1,0.4,0.9\n")
    with pytest.raises(ValueError, match=r"noscore.csv:1: field 'score'"):
        person_box_ap(str(gt), str(tmp_path / "noscore.csv"))


# --------------------------------------------------------------------------- movies
@pytest.fixture(scope="module")
def movie_root(tmp_path_factory):
    """``videos/`` with two movies whose frame i shows i (tests/helpers/movie_helpers), 25 and
    30 fps, 4.2 s and 3 s long, and ground truth at movie times 1, 2.5 and 3."""
    root = tmp_path_factory.mktemp("movies")
    os.makedirs(root / "videos")
    write_movie(root / "videos" / "m25.mp4", 25, 105)
    write_movie(root / "videos" / "m30.mp4", 30, 90)
    os.makedirs(root / "annotations")
    (root / "annotations" / "ava_val_v2.2.csv").write_text(
        "m25,0001,0.1,0.1,0.5,0.9,1,0\nm25,0002.5,0.1,0.1,0.5,0.9,1,0\nm30,0002\n"
    )
    return root


def test_movie_keyframes_are_the_frames_shown_at_their_time(movie_root):
    dicts, mode = keyframe_dicts(
        None,
        None,
        str(movie_root / "annotations" / "ava_val_v2.2.csv"),
        fps=30,
        start_second=0,
        frame_source="video",
        videos_dir=str(movie_root / "videos"),
    )
    assert mode == "groundtruth" and [d["image_id"] for d in dicts] == [
        "m25,0001",
        "m25,0002.5",
        "m30,0002",
    ]
    # the source frame shown at t: floor(t * rate) (25 fps: 25, 62; 30 fps: 60)
    assert [image_index(read_keyframe(d)) for d in dicts] == [25, 62, 60]


def test_movie_every_second_spans_each_movie(movie_root):
    dicts, mode = keyframe_dicts(
        None,
        None,
        None,
        fps=30,
        start_second=0,
        frame_source="video",
        videos_dir=str(movie_root / "videos"),
    )
    assert mode == "every-second"
    assert [d["image_id"] for d in dicts] == [f"m25,{t:04d}" for t in range(5)] + [
        f"m30,{t:04d}" for t in range(3)
    ]


def test_tool_on_movies_and_subsecond_rows(movie_root, ava, tmp_path):
    out = tmp_path / "ava_val_predicted_boxes.csv"
    stats = tool.main(
        [
            "--dataset-root",
            str(movie_root),
            "--split",
            "val",
            "--frame-source",
            "video",
            "--detector-config",
            str(ava / "det.yaml"),
            "--weights",
            str(ava / "det.pth"),
            "--output",
            str(out),
            "--num-workers",
            "0",
            "--no-progress",
        ]
    )
    assert stats["keyframes"] == 3 and stats["unreadable"] == 0
    assert read_box_csv(str(out), "proposals").keys == {("m25", 1), ("m25", 2.5), ("m30", 2)}
    assert "m25,0002.5," in out.read_text() or "m25,0002.5\n" in out.read_text()
    with pytest.raises(SystemExit, match=r"videos folder not found: .*absent"):
        tool.main(
            [
                "--dataset-root",
                str(tmp_path / "absent"),
                "--frame-source",
                "video",
                "--detector-config",
                str(ava / "det.yaml"),
                "--weights",
                str(ava / "det.pth"),
                "--output",
                str(tmp_path / "x.csv"),
            ]
        )


def test_boxes_from_groundtruth_offline_oracle_proposals(tmp_path, caplog):
    """Issue 26: proposals without a detector (offline, no weights): one row per distinct
    ground-truth person box per keyframe, score 1.0, written by the project's CSV writer; a
    keyframe without a box stays a 2-column row; the log says they are oracle proposals."""
    from own_movies import make_own_frames_root

    root = make_own_frames_root(tmp_path / "own")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="slowfast_det"):
        stats = tool.main(
            ["--dataset-root", root, "--split", "val", "--boxes-from-groundtruth"]
            + ["--output-dir", str(out)]
        )
    csv = out / "ava_val_predicted_boxes.csv"
    assert stats["output"] == str(csv) and (stats["keyframes"], stats["boxes"]) == (3, 3)
    assert csv.read_text() == (
        "clipB,0003,0.1,0.1,0.4,0.8,,1\n"
        "clipB,0003,0.5,0.1,0.9,0.8,,1\n"
        "clipB,0006\n"
        "clipB,0009,0.5,0.1,0.9,0.8,,1\n"
    )
    warning = next(r.getMessage() for r in caplog.records if "ORACLE" in r.getMessage())
    assert "with score 1.0, no detector" in warning and "frame-mAP is an upper bound" in warning
    # the person-box AP against the same ground truth is 1: the boxes are the ground truth's
    gt = os.path.join(root, "annotations", "ava_val_v2.2.csv")
    assert person_box_ap(gt, str(csv)).ap == 1.0
    # without ground truth there is nothing to take the boxes from
    with pytest.raises(SystemExit, match="--boxes-from-groundtruth needs the ground truth"):
        tool.main(["--dataset-root", root, "--split", "test", "--boxes-from-groundtruth"])
    # and without either, the refusal names both ways
    with pytest.raises(
        SystemExit, match="--detector-config is required .*--boxes-from-groundtruth"
    ):
        tool.main(["--dataset-root", root, "--split", "val"])


def test_frames_origin_from_prepare_ava_file(tmp_path):
    """The frames of own movies start where frame_lists/frames.json says (second 0 here);
    --start-second / --fps override it; movies start at second 0."""
    from own_movies import make_own_frames_root

    root = make_own_frames_root(tmp_path / "own")
    parser = tool.get_parser()

    def files(*extra):
        return tool.dataset_files(parser.parse_args(["--dataset-root", root, *extra]))

    assert (files()["start_second"], files()["fps"]) == (0, 30)
    assert (
        files("--start-second", "5", "--fps", "15")["start_second"],
        files("--fps", "15")["fps"],
    ) == (5, 15)
    os.remove(os.path.join(root, "frame_lists", "frames.json"))
    assert files()["start_second"] == 900 and files("--frame-source", "video")["start_second"] == 0
    dicts, _ = keyframe_dicts(
        os.path.join(root, "frames"),
        os.path.join(root, "frame_lists", "train.csv"),
        os.path.join(root, "annotations", "ava_train_v2.2.csv"),
        start_second=0,
    )
    assert [os.path.basename(d["keyframe_path"]) for d in dicts] == [
        "clipA_000061.jpg",
        "clipA_000121.jpg",
        "clipA_000241.jpg",
    ]
