"""tools/demo.py and the file demo (slowfast_det.engine.demo_runner and its parts): a generated
video, a tiny random model, a box CSV."""

import logging
import os

import cv2
import numpy as np
import pytest
import torch
from script_modules import load_tool

from slowfast_det.ava.io import read_box_csv
from slowfast_det.data import clip_frame_indices
from slowfast_det.engine.demo_runner import VideoActionDemo
from slowfast_det.engine.keyframe_clips import clip_indices, iter_keyframe_clips
from slowfast_det.engine.person_boxes import CSVBoxes
from slowfast_det.engine.predictor import ActionPredictor
from slowfast_det.engine.visualize import ActionVisualizer

# tools/demo.py as a module, without putting tools/ on sys.path (the other demo tests import it
# from here)
demo = load_tool("demo")

H, W, FPS = 48, 64, 30
NUM_VIDEO_FRAMES = 95  # 3.17 s: keyframes 0, 1, 2, 3 (frame 90 is the last keyframe)
K = 5


def write_video(path, n=NUM_VIDEO_FRAMES, size=(H, W), fps=FPS):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size[1], size[0]))
    assert writer.isOpened()
    for i in range(n):
        f = np.full((size[0], size[1], 3), 60, np.uint8)
        x = 5 + i // 4
        cv2.rectangle(f, (x, 8), (x + 16, 44), (40, 200, 40), -1)
        writer.write(f)
    writer.release()


# keyframe 0: two people; 1: one (the second box is below the 0.8 detector threshold);
# 2: listed without boxes; 3: absent from the file.
BOXES_CSV = """\
clip,0000,0.05,0.1,0.40,0.95,,0.99
clip,0000,0.50,0.2,0.90,0.80,,0.90
clip,0001,0.10,0.1,0.45,0.95,,0.95
clip,0001,0.50,0.2,0.90,0.80,,0.50
clip,0002
other,0001,0.1,0.1,0.2,0.2,,0.99
"""
PERSONS = {0: 2, 1: 1, 2: 0, 3: 0}


def tiny_cfg_file(cfg, path):
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 1, 1, 1]
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.SLOWFAST.STEM_OUT_CHANNELS = 8
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = K
    cfg.INPUT.NUM_FRAMES = 8
    cfg.INPUT.SAMPLING_RATE = 2
    cfg.INPUT.TEST_SIZE = 48
    path.write_text(cfg.dump())
    return str(path)


def tiny_demo_argv(cfg, path, *flags):
    """``--config-file`` of :func:`tiny_cfg_file`, output short side 96, and ``flags``."""
    return ["--config-file", tiny_cfg_file(cfg, path), "--min-output-size", "96", *flags]


def count_frames(path):
    cap = cv2.VideoCapture(str(path))
    n, size = 0, None
    while True:
        ok, f = cap.read()
        if not ok:
            break
        n, size = n + 1, f.shape
    cap.release()
    return n, size


def test_demo_end_to_end(cfg, tmp_path):
    video, boxes = tmp_path / "clip.mp4", tmp_path / "boxes.csv"
    write_video(video)
    boxes.write_text(BOXES_CSV)
    out = tmp_path / "out" / "annotated.mp4"
    torch.manual_seed(0)
    stats = demo.main(
        [
            *tiny_demo_argv(cfg, tmp_path / "cfg.yaml"),
            "--input",
            str(video),
            "--output",
            str(out),
            "--boxes",
            str(boxes),
            "--no-progress",
            "--snapshot",
            "1.0",
            "--allow-random-weights",
        ]
    )
    # every input frame is written once, upscaled to a short side of --min-output-size
    assert count_frames(out) == (NUM_VIDEO_FRAMES, (96, 128, 3))
    assert stats["frames"] == NUM_VIDEO_FRAMES and stats["keyframes"] == 4 and stats["persons"] == 3
    assert stats["fps"] > 0
    snap = cv2.imread(str(tmp_path / "out" / "annotated.png"))  # frame 30, as written to the video
    assert snap.shape == (96, 128, 3) and stats["snapshot"].endswith("annotated.png")
    cap = cv2.VideoCapture(str(out))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 30)
    assert np.abs(cap.read()[1].astype(int) - snap).mean() < 8  # the video is lossy
    csv = tmp_path / "out" / "annotated.csv"
    assert not any(
        p.name.endswith((".partial.mp4", ".partial.csv")) for p in (tmp_path / "out").iterdir()
    )
    table = read_box_csv(str(csv), kind="detections")
    rows = table.rows
    assert len(rows) == stats["rows"] == 3 * K
    assert set(rows["video_id"]) == {"clip"}
    for t, n in PERSONS.items():
        at = rows[rows["timestamp"] == t]
        assert len(at) == n * K
        assert sorted(at["action_id"]) == sorted(list(range(1, K + 1)) * n)
    first = rows[rows["timestamp"] == 1].iloc[0]
    np.testing.assert_allclose(
        first[["x1", "y1", "x2", "y2"]].to_numpy(float), [0.10, 0.1, 0.45, 0.95], atol=1e-3
    )
    assert ((rows["last"] > 0) & (rows["last"] < 1)).all()
    # the CSV timestamps are written zero-padded like the evaluator's
    assert csv.read_text().splitlines()[0].startswith("clip,0000,")


def test_demo_detector_scores_and_label_map(cfg, tmp_path):
    """People from a detector callable; the CSV holds the predictor's scores for the label
    map's classes, in the evaluator's format."""
    from slowfast_det.config import load_slowfast_cfg
    from slowfast_det.engine.demo_options import DemoOptions

    video = tmp_path / "v.mp4"
    write_video(video, n=40)
    label_map = tmp_path / "labels.pbtxt"
    label_map.write_text(
        'item {\n  name: "stand"\n  id: 2\n}\nitem {\n  name: "wave"\n  id: 4\n}\n'
    )
    c = load_slowfast_cfg(tiny_cfg_file(cfg, tmp_path / "cfg.yaml"), freeze=False)
    options = DemoOptions(label_map=str(label_map), min_output_size=96)
    seen = []

    def detector(frame):
        seen.append(frame.shape)
        return np.array([[2.0, 4.0, 30.0, 46.0], [20.0, 0.0, 60.0, 40.0]], np.float32), np.array(
            [0.99, 0.9], np.float32
        )

    torch.manual_seed(0)
    predictor = ActionPredictor(c, allow_random_weights=True)
    runner = VideoActionDemo(c, predictor=predictor, detector=detector, options=options)
    stats = runner.run(str(video), str(tmp_path / "o.mp4"), str(tmp_path / "o.csv"), progress=False)
    assert seen == [(H, W, 3)] * 2  # keyframes 0 and 1 (frame 30) of a 40-frame video
    rows = read_box_csv(str(tmp_path / "o.csv"), kind="detections").rows
    assert len(rows) == stats["rows"] == 2 * 2 * 2  # keyframes x people x label-map classes
    assert set(rows["action_id"]) == {2, 4}
    # the scores are the predictor's for the clip of each keyframe (float32 round-trips)
    for kc in iter_keyframe_clips(cv2_frames(video), FPS, 8, 2):
        expected = runner.predictor(kc.clip, detector(kc.keyframe)[0]).numpy()[:, [1, 3]]
        got = rows[rows["timestamp"] == kc.timestamp]["last"].to_numpy().reshape(2, 2)
        np.testing.assert_array_equal(got.astype(np.float32), expected)


def cv2_frames(path):
    cap = cv2.VideoCapture(str(path))
    while True:
        ok, f = cap.read()
        if not ok:
            return
        yield f


@pytest.mark.parametrize(
    "n,fps,num_frames,rate",
    [(95, 30, 8, 2), (10, 30, 8, 8), (1, 30, 4, 2), (150, 29.97, 32, 2), (200, 25, 16, 4)],
)
def test_keyframe_clips_decode_once(n, fps, num_frames, rate):
    decoded = []

    def frames():
        for i in range(n):
            decoded.append(i)
            yield np.full((2, 2, 3), i, np.int64)

    clips = []
    for kc in iter_keyframe_clips(frames(), fps, num_frames, rate):
        # the buffer never runs more than a clip and a second ahead of the keyframe
        assert len(decoded) - 1 <= kc.center + num_frames * rate + fps + 1
        clips.append(kc)
    assert decoded == list(range(n))  # each frame decoded exactly once
    # keyframe t = frame round(t * fps), for every t whose frame exists
    assert [kc.timestamp for kc in clips] == [t for t in range(n + 1) if round(t * fps) <= n - 1]
    covered = []
    for j, kc in enumerate(clips):
        assert kc.center == round(kc.timestamp * fps) and kc.keyframe[0, 0, 0] == kc.center
        # sampled by time; at 30 fps the data package's clip convention; clamped to the video
        assert kc.clip_indices == clip_indices(kc.center, fps, num_frames, rate, n).tolist()
        if fps == 30:
            assert (
                kc.clip_indices
                == clip_frame_indices(
                    kc.center, num_frames, rate, n, fps=1, start_second=0
                ).tolist()
            )
        assert kc.clip[:, 0, 0, 0].tolist() == kc.clip_indices
        # a segment holds the frames nearest to its keyframe (the last one also the tail)
        for i, f in kc.segment:
            assert f[0, 0, 0] == i
            assert i / fps - kc.timestamp >= -0.5
            assert i / fps - kc.timestamp < 0.5 or j == len(clips) - 1
        covered += [i for i, _ in kc.segment]
    assert covered == list(range(n))  # each frame written exactly once


def test_csv_boxes_errors_and_dedupe(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text(
        "v,0003,0.1,0.1,0.5,0.5,4,0.9\nv,0003,0.1,0.1,0.5,0.5,7,0.9\nv,0003,-0.2,0.1,0.5,1.3,,\n"
    )
    boxes = CSVBoxes(str(p), "v", score_thresh=0.8)
    b, s = boxes(3, 100, 200)
    np.testing.assert_allclose(
        b, [[20, 10, 100, 50], [0, 10, 100, 100]], atol=1e-4
    )  # clipped, deduped
    assert boxes(4, 100, 200)[0].shape == (0, 4)
    with pytest.raises(ValueError, match=r"b.csv: no rows for video id 'w'.*'v'"):
        CSVBoxes(str(p), "w")
    p.write_text("v,0003,0.1,0.1,zz,0.5,,0.9\n")
    with pytest.raises(ValueError, match=r"b.csv:1: field 'x2' not a number"):
        CSVBoxes(str(p), "v")


def test_visualizer_labels():
    vis = ActionVisualizer({1: "stand", 3: "walk"}, score_thresh=0.3, top_k=1, min_size=96)
    scores = np.array([[0.9, 0.95, 0.4, 0.1], [0.1, 0.1, 0.2, 0.1]])
    acts = vis.actions(scores)
    assert acts == [[(1, 0.9), (3, 0.4)], []]  # id 2 has no name in the label map: not shown
    assert vis.label(acts[0]) == "stand 0.90"
    # one drawing per keyframe, composed on every frame: the same as detectron2's Visualizer
    # drawing on the (upscaled) frame itself, up to rounding; pixels it does not cover are kept
    frame = np.empty((48, 64, 3), np.uint8)
    frame[...] = (90, 160, 40)
    boxes, labels = (
        np.array([[2, 2, 30, 40], [20, 10, 60, 30]], np.float32),
        ["stand 0.90", "walk 0.40"],
    )
    drawn = vis.draw(frame, boxes, labels)
    assert drawn.shape == (96, 128, 3) and drawn.dtype == np.uint8
    direct = vis._render(cv2.resize(frame, (128, 96)), boxes * 2, labels)
    assert np.abs(drawn.astype(int) - direct).max() <= 2  # 8-bit rounding
    assert (drawn != frame[0, 0]).any(axis=2).mean() > 0.02
    textured = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    covered = vis.overlay(48, 64, boxes, labels)[0]
    kept = np.setdiff1d(np.arange(96 * 128), covered)
    np.testing.assert_array_equal(
        vis.draw(textured, boxes, labels).reshape(-1, 3)[kept],
        cv2.resize(textured, (128, 96)).reshape(-1, 3)[kept],
    )
    assert vis.overlay(48, 64, np.zeros((0, 4)), []) is None
    np.testing.assert_array_equal(
        vis.draw(frame, np.zeros((0, 4)), []), cv2.resize(frame, (128, 96))
    )


def test_person_detector_filters_detectron2_output(tmp_path):
    """PersonDetector = detectron2's DefaultPredictor output, person class and score >= thresh."""
    from detectron2.engine import DefaultPredictor
    from detectron2.modeling import build_model

    from slowfast_det.config import load_slowfast_cfg
    from slowfast_det.engine.video import PersonDetector  # the former module's names still import

    config = os.path.join(
        os.path.dirname(__file__),
        "..",
        "..",
        "configs",
        "person_detector",
        "faster_rcnn_R18_FPN_synthetic.yaml",
    )
    # person = class 1 here, to check the class filter
    dcfg = load_slowfast_cfg(
        config,
        freeze=False,
        slowfast_keys=False,
        values={"MODEL.DEVICE": "cpu", "MODEL.ROI_HEADS.NUM_CLASSES": 2},
    )
    torch.manual_seed(0)
    weights = tmp_path / "det.pth"
    torch.save({"model": build_model(dcfg).state_dict()}, weights)
    cfg_file = tmp_path / "det.yaml"
    cfg_file.write_text(dcfg.dump())

    frame = cv2.resize(
        np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8), (160, 120)
    )
    dcfg.MODEL.WEIGHTS = str(weights)
    dcfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    all_ = DefaultPredictor(dcfg)(frame)["instances"]
    # a threshold that keeps some boxes of either class and drops some
    cut = 0.99 * min(float(all_.scores[all_.pred_classes == c].max()) for c in (0, 1))
    dcfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = cut
    raw = DefaultPredictor(dcfg)(frame)["instances"]
    expected = raw[raw.pred_classes == 1]
    assert 0 < len(expected) < len(raw) and (expected.scores >= cut).all()
    boxes, scores = PersonDetector(str(cfg_file), str(weights), person_class=1, score_thresh=cut)(
        frame
    )
    np.testing.assert_allclose(boxes, expected.pred_boxes.tensor.numpy(), atol=1e-4)
    np.testing.assert_allclose(scores, expected.scores.numpy(), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="neither a file nor a Detectron2 model-zoo name"):
        PersonDetector("no/such/config.yaml")


def test_demo_refuses_random_weights_and_takes_dash_ids(cfg, tmp_path, caplog):
    video, boxes = tmp_path / "movie.mp4", tmp_path / "boxes.csv"
    write_video(video, n=35)
    boxes.write_text(BOXES_CSV.replace("clip,", "-5KQ66BBWC4,"))
    argv = [
        *tiny_demo_argv(cfg, tmp_path / "cfg.yaml"),
        "--input",
        str(video),
        "--output",
        str(tmp_path / "o.mp4"),
        "--boxes",
        str(boxes),
        "--no-progress",
    ]
    with pytest.raises(SystemExit, match=r"demo: MODEL.WEIGHTS is empty.*--allow-random-weights"):
        demo.main(argv)
    assert not (tmp_path / "o.mp4").exists()
    # an id that begins with '-' is taken as the value of --video-id; no label map: a hint
    logger = logging.getLogger("slowfast_det.demo")
    logger.addHandler(caplog.handler)
    try:
        torch.manual_seed(0)
        stats = demo.main(argv + ["--allow-random-weights", "--video-id", "-5KQ66BBWC4"])
    finally:
        logger.removeHandler(caplog.handler)
    assert stats["persons"] == 3
    assert set(read_box_csv(str(tmp_path / "o.csv"), kind="detections").rows["video_id"]) == {
        "-5KQ66BBWC4"
    }
    assert "labels read 'action N'; pass --label-map" in caplog.text
    assert (
        demo.get_parser()
        .parse_args(
            ["--config-file", "c", "--input", "i", "--output", "o", "--video-id=-5KQ66BBWC4"]
        )
        .video_id
        == "-5KQ66BBWC4"
    )


def test_demo_options_are_flags_with_the_defaults(tmp_path):
    """Every DemoOptions field is a documented tools/demo.py flag with the field's default; an
    old config's DEMO.* key stops with the flag to use instead."""
    import dataclasses

    from slowfast_det.config import load_slowfast_cfg
    from slowfast_det.engine.demo_options import DemoOptions

    parser = demo.get_parser()
    args = parser.parse_args(["--config-file", "c", "--input", "i", "--output", "o"])
    assert DemoOptions.from_namespace(args) == DemoOptions()
    help_text = " ".join(parser.format_help().split())
    for field in dataclasses.fields(DemoOptions):
        flag = "--" + field.name.replace("_", "-")
        assert flag in help_text, flag
    args = parser.parse_args(
        [
            "--config-file",
            "c",
            "--input",
            "i",
            "--output",
            "o",
            "--tracker",
            "none",
            "--top-k",
            "5",
            "--label-map",
            "l.pbtxt",
            "MODEL.WEIGHTS",
            "w.pth",
        ]
    )
    options = DemoOptions.from_namespace(args)
    assert (options.tracking, options.top_k, options.label_map) == (False, 5, "l.pbtxt")
    assert args.opts == ["MODEL.WEIGHTS", "w.pth"]
    with pytest.raises(ValueError, match="unknown tracker 'sort'"):
        DemoOptions(tracker="sort")
    config = os.path.join(
        os.path.dirname(__file__), "..", "..", "configs", "synthetic", "SLOWFAST_synthetic.yaml"
    )
    with pytest.raises(KeyError, match="DEMO.TOP_K was renamed to tools/demo.py --top-k"):
        load_slowfast_cfg(config, ["DEMO.TOP_K", "5"])
    old = tmp_path / "old.yaml"
    old.write_text(f"_BASE_: {os.path.abspath(config)}\nDEMO:\n  LABEL_MAP: l.pbtxt\n")
    with pytest.raises(KeyError, match="DEMO was renamed to tools/demo.py's flags"):
        load_slowfast_cfg(str(old))
