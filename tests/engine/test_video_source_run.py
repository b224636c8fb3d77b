"""Training and evaluating from the movies (``AVA.FRAME_SOURCE video``) equals the frames run.

The tiny AVA folder of ``tiny_ava_run`` (JPEG frames) gets ``videos/<vid>.mkv`` made from
the same frames, losslessly (``libx264rgb`` at qp 0: RGB kept exactly), at 30 fps from movie
second 900 (a first frame shown from second 0 to 900 stands for the rest of the movie: a
variable-frame-rate movie). ``tools/train_ava.py`` then trains 6 iterations and evaluates
with the frames and with the movies (the built-in ``ava_v2.2_*_video`` twins). The clips are
the same pixels (measured below: no pixel differs), so the bound on every difference is 0:
the same final weights, the same detections file and the same frame-mAP.
"""
import json
import os

import cv2
import numpy as np
import pytest
from tiny_ava_run import VAL_PRED, load_weights, make_tiny_ava, max_weight_diff, run_train, tiny_cfg, write_cfg

from movie_helpers import write_movie  # noqa: E402,I001  (tests/data is put on the path by tiny_ava_run)

from slowfast_det.data.frames import FrameTable, frames_source
from slowfast_det.data.mapper import AVADatasetMapper
from slowfast_det.data.video_reader import probe_video_source

FRAMES = 100  # per video (tiny_ava_run)


def write_lossless_movie(jpeg_dir, vid, path):
    frames = [cv2.imread(os.path.join(jpeg_dir, f"{vid}_{i + 1:06d}.jpg"))[..., ::-1] for i in range(FRAMES)]
    h, w = frames[0].shape[:2]
    lead = np.zeros_like(frames[0])
    write_movie(
        path, 30, FRAMES + 1, w, h, codec="libx264rgb", pix_fmt="rgb24", options={"qp": "0", "preset": "ultrafast"},
        frame_fn=lambda j: np.ascontiguousarray(lead if j == 0 else frames[j - 1]),
        pts_fn=lambda j: 0 if j == 0 else 900 * 30 + j - 1,
    )


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("vsrc") / "datasets"
    ava = make_tiny_ava(root / "ava")
    os.makedirs(os.path.join(ava, "videos"))
    for vid in ("vidA", "vidB"):
        write_lossless_movie(os.path.join(ava, "frames", vid), vid, os.path.join(ava, "videos", f"{vid}.mkv"))
    return root


def test_movie_clips_are_the_frames_pixels(datasets):
    ava = os.path.join(datasets, "ava")
    mapper = AVADatasetMapper(False, augmentations=[], num_frames=8, sampling_rate=2, detection_score_thresh=0.5)
    keys = sorted({tuple(line.split(",")[:2]) for line in VAL_PRED.splitlines()})
    for vid, ts in keys:
        movie = probe_video_source(os.path.join(ava, "videos", f"{vid}.mkv"))
        assert movie["num_frames"] == FRAMES
        table = FrameTable([os.path.join(ava, "frames", vid, f"{vid}_{i + 1:06d}.jpg") for i in range(FRAMES)])
        clips = []
        for src in (frames_source(table), movie):
            d = {"video_id": vid, "timestamp": int(ts), "image_id": f"{vid},{ts}", "frame_source": src,
                 "proposals": {"boxes": np.array([[0.1, 0.1, 0.5, 0.5]], np.float32), "scores": np.ones(1, np.float32)}}
            out = mapper(d)
            assert not out["data_issues"]
            clips.append(out["clip"].numpy())
        assert np.abs(clips[0].astype(int) - clips[1].astype(int)).max() == 0  # the measured pixel difference


def test_train_and_eval_from_movies_equal_frames(datasets, tmp_path):
    runs = {}
    for source in ("frames", "video"):
        out = tmp_path / source
        cfg = tiny_cfg(out, **{"AVA.FRAME_SOURCE": source})
        proc = run_train(write_cfg(cfg, tmp_path / f"{source}.yaml"), datasets)
        runs[source] = out, proc.stdout
    assert "dataset 'ava_v2.2_train_video'" in runs["video"][1] and "dataset 'ava_v2.2_val_video'" in runs["video"][1]
    assert "_video'" not in runs["frames"][1]
    (fo, _), (vo, _) = runs["frames"], runs["video"]
    assert max_weight_diff(load_weights(fo / "model_final.pth"), load_weights(vo / "model_final.pth")) == 0
    det = os.path.join("inference", "ava_v2.2_val", "ava_detections.csv")
    with open(fo / det) as f_frames, open(vo / det) as f_video:
        rows = f_frames.read()
        assert rows and rows == f_video.read()
    maps = [json.load(open(o / "final_metrics.json")) for o in (fo, vo)]
    assert maps[0] == maps[1]
