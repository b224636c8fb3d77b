"""Training and evaluating from the movies (the ``_video`` datasets) equals the frames run.

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
import torch
from detectron2.modeling import build_model
from movie_helpers import write_movie  # noqa: I001  (tests/helpers, pytest.ini pythonpath)
from tiny_ava_run import (
    VAL_PRED,
    load_weights,
    make_tiny_ava,
    max_weight_diff,
    run_train,
    tiny_cfg,
    write_cfg,
)

from slowfast_det.checkpoint import SlowFastCheckpointer
from slowfast_det.data.frames import FrameTable, frames_source
from slowfast_det.data.mapper import AVADatasetMapper
from slowfast_det.data.video_reader import probe_video_source

FRAMES = 100  # per video (tiny_ava_run)


def write_lossless_movie(jpeg_dir, vid, path, codec="libx264rgb", pix_fmt="rgb24", options=None):
    """The frames as a 30 fps movie from second 900 (lossless RGB by default)."""
    frames = [
        cv2.imread(os.path.join(jpeg_dir, f"{vid}_{i + 1:06d}.jpg"))[..., ::-1]
        for i in range(FRAMES)
    ]
    h, w = frames[0].shape[:2]
    lead = np.zeros_like(frames[0])
    write_movie(
        path,
        30,
        FRAMES + 1,
        w,
        h,
        codec=codec,
        pix_fmt=pix_fmt,
        options=options or {"qp": "0", "preset": "ultrafast"},
        frame_fn=lambda j: np.ascontiguousarray(lead if j == 0 else frames[j - 1]),
        pts_fn=lambda j: 0 if j == 0 else 900 * 30 + j - 1,
    )


def write_lossy_movie(jpeg_dir, vid, path):
    write_lossless_movie(jpeg_dir, vid, path, "libx264", "yuv420p", {"crf": "18", "preset": "fast"})


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("vsrc") / "datasets"
    ava = make_tiny_ava(root / "ava")
    os.makedirs(os.path.join(ava, "videos"))
    for vid in ("vidA", "vidB"):
        write_lossless_movie(
            os.path.join(ava, "frames", vid), vid, os.path.join(ava, "videos", f"{vid}.mkv")
        )
    return root


def test_movie_clips_are_the_frames_pixels(datasets):
    ava = os.path.join(datasets, "ava")
    mapper = AVADatasetMapper(
        False, augmentations=[], num_frames=8, sampling_rate=2, detection_score_thresh=0.5
    )
    keys = sorted({tuple(line.split(",")[:2]) for line in VAL_PRED.splitlines()})
    for vid, ts in keys:
        movie = probe_video_source(os.path.join(ava, "videos", f"{vid}.mkv"))
        assert movie["num_frames"] == FRAMES
        table = FrameTable(
            [os.path.join(ava, "frames", vid, f"{vid}_{i + 1:06d}.jpg") for i in range(FRAMES)]
        )
        clips = []
        for src in (frames_source(table), movie):
            d = {
                "video_id": vid,
                "timestamp": int(ts),
                "image_id": f"{vid},{ts}",
                "frame_source": src,
                "proposals": {
                    "boxes": np.array([[0.1, 0.1, 0.5, 0.5]], np.float32),
                    "scores": np.ones(1, np.float32),
                },
            }
            out = mapper(d)
            assert not out["data_issues"]
            clips.append(out["clip"].numpy())
        assert (
            np.abs(clips[0].astype(int) - clips[1].astype(int)).max() == 0
        )  # the measured pixel difference


@pytest.fixture(scope="module")
def runs(datasets, tmp_path_factory):
    """source -> (OUTPUT_DIR, log) of tools/train_ava.py (6 iterations, then the val mAP)."""
    tmp = tmp_path_factory.mktemp("runs")
    out = {}
    for source in ("frames", "video"):
        suffix = "_video" if source == "video" else ""
        cfg = tiny_cfg(tmp / source, train="ava_v2.2_train" + suffix, test="ava_v2.2_val" + suffix)
        proc = run_train(write_cfg(cfg, tmp / f"{source}.yaml"), datasets)
        out[source] = tmp / source, proc.stdout
    return out


def test_train_and_eval_from_movies_equal_frames(runs):
    assert (
        "dataset 'ava_v2.2_train_video'" in runs["video"][1]
        and "dataset 'ava_v2.2_val_video'" in runs["video"][1]
    )
    assert "_video'" not in runs["frames"][1]
    (fo, _), (vo, _) = runs["frames"], runs["video"]
    assert (
        max_weight_diff(load_weights(fo / "model_final.pth"), load_weights(vo / "model_final.pth"))
        == 0
    )
    det = os.path.join("inference", "ava_v2.2_val{}", "ava_detections.csv")
    with open(fo / det.format("")) as f_frames, open(vo / det.format("_video")) as f_video:
        rows = f_frames.read()
        assert rows and rows == f_video.read()
    maps = [json.load(open(o / "final_metrics.json")) for o in (fo, vo)]
    # the same metrics, under each run's dataset name
    assert maps[1]["datasets"] == {"ava_v2.2_val_video": maps[0]["datasets"]["ava_v2.2_val"]}
    assert maps[0]["frame-mAP@0.5IOU"] == maps[1]["frame-mAP@0.5IOU"]
    assert len(maps[0]) == len(maps[1]) == 2


def test_lossy_movies_within_the_first_order_bound(datasets, runs, tmp_path):
    """H.264 4:2:0 movies of the same frames (lossy): the frames run's model scores the movie
    clips within the first-order bound of the measured pixel difference, and the per-class
    ranking of the detections (hence the frame-mAP) is the same when that bound allows no
    swap."""
    ava = os.path.join(datasets, "ava")
    cfg = tiny_cfg(tmp_path, **{"MODEL.WEIGHTS": str(runs["frames"][0] / "model_final.pth")})
    model = build_model(cfg)
    SlowFastCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.eval()
    mapper = AVADatasetMapper(cfg, is_train=False)
    keys = sorted({tuple(line.split(",")[:2]) for line in VAL_PRED.splitlines()})
    movies = {}
    for vid in ("vidA", "vidB"):
        path = str(tmp_path / f"{vid}.mp4")
        write_lossy_movie(os.path.join(ava, "frames", vid), vid, path)
        movies[vid] = probe_video_source(path)
    scores_f, scores_v, bounds, diffs = [], [], [], []
    for vid, ts in keys:
        table = FrameTable(
            [os.path.join(ava, "frames", vid, f"{vid}_{i + 1:06d}.jpg") for i in range(FRAMES)]
        )
        rows = [r.split(",") for r in VAL_PRED.splitlines() if r.startswith(f"{vid},{ts}")]
        props = {
            "boxes": np.array([[float(v) for v in r[2:6]] for r in rows], np.float32),
            "scores": np.array([float(r[7]) for r in rows], np.float32),
        }
        outs = [
            mapper(
                {
                    "video_id": vid,
                    "timestamp": int(ts),
                    "image_id": f"{vid},{ts}",
                    "frame_source": src,
                    "proposals": props,
                }
            )
            for src in (frames_source(table), movies[vid])
        ]
        dx = outs[1]["clip"].float() - outs[0]["clip"].float()
        diffs.append(dx.abs().flatten())
        x = outs[0]["clip"].float().requires_grad_(True)
        s_f = model([dict(outs[0], clip=x)])[0]["instances"].scores
        with torch.no_grad():
            s_v = model([outs[1]])[0]["instances"].scores
        b = torch.zeros_like(s_f)
        for r in range(s_f.shape[0]):
            for k in range(s_f.shape[1]):
                (g,) = torch.autograd.grad(s_f[r, k], x, retain_graph=True)
                b[r, k] = (g.abs() * dx.abs()).sum()
        scores_f.append(s_f.detach())
        scores_v.append(s_v)
        bounds.append(b)
    s_f, s_v, b = (torch.cat(t) for t in (scores_f, scores_v, bounds))
    d = torch.cat(diffs)
    change = (s_v - s_f).abs()
    print(
        f"\n[lossy movies] pixel |diff| mean {float(d.mean()):.3f} max {float(d.max()):.0f}; "
        "score |diff| max "
        f"{float(change.max()):.2e}, first-order bound max {float(b.max()):.2e}"
    )
    assert float(d.mean()) > 0  # lossy indeed
    assert bool((change <= 2 * b + 1e-6).all()), (
        change - 2 * b
    ).max()  # 2x: the second-order remainder
    same = 0
    for k in range(s_f.shape[1]):
        same += torch.equal(torch.argsort(s_f[:, k]), torch.argsort(s_v[:, k]))
        gap = (s_f[:, k, None] - s_f[None, :, k]).abs()
        slack = 2 * (b[:, k, None] + b[None, :, k])
        off = ~torch.eye(len(gap), dtype=torch.bool)
        if bool((gap[off] > slack[off]).all()):  # no two detections of the class can swap: same AP
            assert torch.equal(torch.argsort(s_f[:, k]), torch.argsort(s_v[:, k]))
    print(
        f"[lossy movies] per-class ranking of the {len(s_f)} detections unchanged for "
        f"{same} of {s_f.shape[1]} classes"
    )
