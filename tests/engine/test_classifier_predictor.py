"""VideoClassifierPredictor and tools/classify_video.py on tiny movies (a tiny classifier with
saved random weights): the predictor gives exactly what the classification test loader and
the model give for the same frames, refuses random weights, and the tool classifies a file or
a folder over time (CSV, rendered videos, unreadable videos skipped and counted)."""

import csv

import cv2
import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from script_modules import load_tool

from slowfast_det.config import load_slowfast_cfg
from slowfast_det.data import (
    build_classification_test_loader,
    register_video_list,
    unregister_video_dataset,
)
from slowfast_det.data.classification_mapper import ClassificationMapper
from slowfast_det.engine.classifier_predictor import VideoClassifierPredictor
from slowfast_det.engine.classify_video import classify_videos, window_starts
from slowfast_det.engine.predictor import RandomWeightsError
from slowfast_det.synthetic.classification import ClassificationSpec, build_clip, encode_mp4
from slowfast_det.synthetic.render import render_frame

VALUES = {
    "MODEL.META_ARCHITECTURE": "VideoClassifier",
    "MODEL.DEVICE": "cpu",
    "MODEL.SLOWFAST.STAGE_BLOCKS": [1, 1, 1, 1],
    "MODEL.SLOWFAST.WIDTH_PER_GROUP": 8,
    "MODEL.SLOWFAST.STEM_OUT_CHANNELS": 8,
    "MODEL.SLOWFAST.SPATIAL_STRIDES": [1, 2, 2, 2],
    "MODEL.SLOWFAST.SPATIAL_DILATIONS": [1, 1, 1, 1],
    "MODEL.VIDEO_HEAD.NUM_CLASSES": 6,
    "INPUT.NUM_FRAMES": 8,
    "INPUT.SAMPLING_RATE": 2,
    "INPUT.TRAIN_CROP_SIZE": 48,
    "INPUT.TEST_SIZE": 48,
    "TEST.NUM_TEMPORAL_CLIPS": 1,
    "TEST.NUM_SPATIAL_CROPS": 3,
    "DATALOADER.NUM_WORKERS": 0,
}


def movie(path, index, width=80, height=48, seconds=1.5):
    """A synthetic classification clip (a person in a room) as an mp4."""
    spec = ClassificationSpec(width=width, height=height, duration_s=seconds)
    video, background, camera, rng, label = build_clip(spec, "val", index)
    encode_mp4(str(path), [render_frame(video, background, f, rng, camera) for f in range(45)])
    return label


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cls_predict")
    videos = tmp / "videos"
    videos.mkdir()
    labels = [movie(videos / f"clip{n}.mp4", i) for n, i in enumerate((2, 4))]
    (videos / "broken.mp4").write_bytes(b"not a movie")
    torch.manual_seed(0)
    cfg = load_slowfast_cfg(values=VALUES)
    model = build_model(cfg)
    with torch.no_grad():  # non-trivial BN statistics and head, so that every pixel matters
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
        model.cls_head.predictor.weight.normal_(0, 0.5)
    weights = tmp / "model.pth"
    torch.save({"model": model.state_dict()}, weights)
    cfg = load_slowfast_cfg(values=dict(VALUES, **{"MODEL.WEIGHTS": str(weights)}))
    return tmp, videos, labels, cfg


def test_predictor_equals_the_test_loader_and_model(setup):
    tmp, videos, labels, cfg = setup
    name = "cls_predictor_test"
    (tmp / "list.csv").write_text(f"clip0.mp4 {labels[0]}\n")
    register_video_list(name, str(tmp / "list.csv"), str(videos), fmt="pyslowfast")
    try:
        cfg = cfg.clone()
        cfg.defrost()
        cfg.DATASETS.TEST = (name,)
        predictor = VideoClassifierPredictor(cfg)
        (batch,) = list(build_classification_test_loader(cfg, name))
        assert batch[0]["clips"].shape == (3, 3, 8, 48, 48)  # 1 clip x 3 crops of 80 x 48
        with torch.no_grad():
            want = predictor.model(batch)[0]["scores"]
        # the same frames, read by time as the loader reads them
        mapper = ClassificationMapper(cfg, is_train=False)
        d = {"file_name": str(videos / "clip0.mp4")}
        info, _ = mapper.reader.info(d)
        frames, error = mapper.reader.read(d, mapper.clip_times(0, info.last_time))
        assert error is None
        views = predictor.views(np.stack(frames))
        assert torch.equal(views, batch[0]["clips"])
        got = predictor(np.stack(frames))
        assert got.shape == (6,) and got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
        assert abs(float(got.sum()) - 1) < 1e-5 and float(got.max() - got.min()) > 1e-3
    finally:
        unregister_video_dataset(name)


def test_predictor_refuses_random_weights_and_bad_clips(setup):
    _, _, _, cfg = setup
    empty = cfg.clone()
    empty.defrost()
    empty.MODEL.WEIGHTS = ""
    # the message names the classifier's training tool and predictor, not the detector's
    with pytest.raises(
        RandomWeightsError,
        match=r"model_final.pth \(tools/train_net.py\).*--allow-random-weights "
        r"\(VideoClassifierPredictor\(cfg, allow_random_weights=True\)\)",
    ):
        VideoClassifierPredictor(empty)
    predictor = VideoClassifierPredictor(empty, allow_random_weights=True)
    with pytest.raises(
        ValueError, match="the clip has 4 frames, the model takes INPUT.NUM_FRAMES = 8"
    ):
        predictor(np.zeros((4, 48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r"uint8 \(T, H, W, 3\) BGR"):
        predictor(np.zeros((8, 48, 64), np.uint8))
    detector = load_slowfast_cfg(values={"MODEL.DEVICE": "cpu", "MODEL.WEIGHTS": "x.pth"})
    with pytest.raises(ValueError, match="needs a classifier config"):
        VideoClassifierPredictor(detector)


def test_window_starts():
    assert window_starts(1.5, 0.5, 0.5) == [0, 0.5, 1]
    assert [float(t) for t in window_starts(1.5, 8 * 2 / 30, 0.5)] == [0.0, 0.5]
    assert window_starts(0.3, 0.5, 1.0) == [0]  # shorter than one window: one, clamped
    with pytest.raises(ValueError, match="--stride must be > 0"):
        window_starts(2, 0.5, 0)


def test_classify_a_folder_over_time(setup, caplog):
    tmp, videos, _, cfg = setup
    predictor = VideoClassifierPredictor(cfg)
    names = ["stand", "raise arm", "wave slow", "wave fast", "walk left", "walk right"]
    out = tmp / "windows.csv"
    stats = classify_videos(
        predictor,
        str(videos),
        str(out),
        stride=0.5,
        top_k=3,
        class_names=names,
        render_dir=str(tmp / "rendered"),
        min_size=96,
    )
    assert (stats["videos"], stats["windows"], stats["skipped_videos"]) == (2, 4, 1)
    assert "broken.mp4" in caplog.text  # skipped, logged
    rows = list(csv.reader(open(out)))
    assert rows[0] == ["video", "start", "end"] + [
        f"top{i}{s}" for i in (1, 2, 3) for s in ("", "_name", "_score")
    ]
    assert [r[:3] for r in rows[1:]] == [
        [f"clip{i}.mp4", start, end]
        for i in (0, 1)
        for start, end in (("0.000", "0.533"), ("0.500", "1.033"))
    ]
    # the second window of clip1 is the predictor on the frames of [0.5, 1.033) s
    mapper = ClassificationMapper(cfg, is_train=False)
    d = {"file_name": str(videos / "clip1.mp4")}
    info, _ = mapper.reader.info(d)
    frames, _ = mapper.reader.read(d, mapper.clip_times(0.5, info.last_time))
    probs = predictor(np.stack(frames)).numpy()
    best = np.argsort(-probs, kind="stable")[:3]
    assert [int(c) for c in rows[4][3::3]] == best.tolist()
    assert rows[4][4::3] == [names[c] for c in best]
    np.testing.assert_allclose([float(s) for s in rows[4][5::3]], probs[best], rtol=1e-6)
    # rendered: every frame, upscaled so that the short side is >= 96
    for i in (0, 1):
        cap = cv2.VideoCapture(str(tmp / "rendered" / f"clip{i}.mp4"))
        count = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            count += 1
            assert frame.shape == (96, 160, 3)
        assert count == 45
    with pytest.raises(ValueError, match="would overwrite the input"):
        classify_videos(predictor, str(videos), str(out), render_dir=str(videos))


def test_tool(setup, tmp_path, capsys):
    _, videos, _, cfg = setup
    tool = load_tool("classify_video")
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(cfg.dump())
    out = tmp_path / "one.csv"
    args = ["--config-file", str(cfg_file), "--input", str(videos / "clip0.mp4")]
    assert tool.main(args + ["--output", str(out), "--top-k", "2", "--stride", "0.5"]) == 0
    assert "1 videos, 2 windows" in capsys.readouterr().out
    rows = list(csv.reader(open(out)))
    assert len(rows) == 3 and len(rows[0]) == 3 + 2 * 3
    assert rows[1][4] == f"class {rows[1][3]}"  # no label names in the config's datasets
    assert tool.main(args + ["--output", str(out), "MODEL.WEIGHTS", ""]) == 2
    err = capsys.readouterr().err
    assert "MODEL.WEIGHTS is empty" in err and "tools/train_net.py" in err
    assert tool.main(["--config-file", str(cfg_file), "--input", str(tmp_path / "none")]) == 2
    assert "video not found" in capsys.readouterr().err
