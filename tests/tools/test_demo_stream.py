"""The live demo: a file played through --realtime with a deliberately slow model, the ring
buffer, and --show without a display."""

import time

import cv2
import numpy as np
import pytest
from test_demo import BOXES_CSV, K, demo, tiny_demo_argv, write_video  # tools/demo.py

from slowfast_det.engine.keyframe_clips import FrameRing, clip_indices, keyframe_center

SLEEP_S = 1.5  # per keyframe, longer than the 1 s between keyframes


class SlowPredictor:
    """Predictor-like callable that takes SLEEP_S per clip (scores: zeros)."""

    def __init__(self):
        self.calls = []

    def __call__(self, clip, boxes):
        self.calls.append(clip.shape)
        time.sleep(SLEEP_S)
        return np.zeros((len(boxes), K), np.float32)


def test_realtime_slow_model_skips_keyframes_and_bounds_lag(cfg, tmp_path):
    n = 180  # 6 s at 30 fps: keyframes 0..5
    video, boxes = tmp_path / "clip.mp4", tmp_path / "boxes.csv"
    write_video(video, n=n)
    boxes.write_text(BOXES_CSV)
    out = tmp_path / "live.mp4"
    predictor = SlowPredictor()
    start = time.monotonic()
    stats = demo.main(
        [
            *tiny_demo_argv(cfg, tmp_path / "cfg.yaml"),
            "--input",
            str(video),
            "--realtime",
            "--output",
            str(out),
            "--boxes",
            str(boxes),
            "--no-progress",
            "--video-id",
            "clip",
        ],
        predictor=predictor,
    )
    wall = time.monotonic() - start
    assert wall >= n / 30 - 0.2  # frames were delivered at the video's pace
    # every live frame reached the output; keyframes were skipped whole, not queued
    assert stats["frames"] == n
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n
    cap.release()
    assert stats["keyframes_skipped"] > 0 and stats["skipped_share"] > 0
    assert stats["keyframes"] + stats["keyframes_skipped"] == 6
    assert len(predictor.calls) == stats["keyframes"] and predictor.calls[0] == (8, 48, 64, 3)
    # lag: at most one keyframe interval of waiting plus one inference (the inference time as
    # measured, so that a loaded machine's slower drawing does not fail the test), plus slack;
    # queued keyframes would add one inference time per keyframe behind
    assert SLEEP_S <= stats["process_max_s"]
    assert 0 < stats["lag_mean_s"] <= stats["lag_max_s"] <= stats["process_max_s"] + 1.0 + 0.5
    assert stats["lag_max_s"] < 2 * SLEEP_S + 3.0
    # a keyframe scored after the end of the file (if any) waited for the one in work
    assert np.isnan(stats["lag_after_end_s"]) or stats["lag_after_end_s"] < 2 * SLEEP_S + 1.5
    # the ring holds one clip span plus one second of frames
    assert stats["ring_frames"] == 14 + 30 + 2


def test_frame_ring_holds_the_newest_complete_clip():
    fps, num_frames, rate = 30, 8, 2
    ring = FrameRing(fps, num_frames, rate)
    assert ring.latest_complete() is None
    seen = []
    for i in range(400):
        ring.append(np.full((2, 2, 3), i % 256, np.uint8), float(i))
        t = ring.latest_complete()
        if t is None:
            assert i < 6  # keyframe 0 needs frames up to 6 (8 frames every 2, the keyframe 5th)
            continue
        # newest t: its clip has arrived, the next one's has not
        assert keyframe_center(t, fps) + 6 <= i < keyframe_center(t + 1, fps) + 6
        kc = ring.clip(t)
        expected = clip_indices(keyframe_center(t, fps), fps, num_frames, rate, i + 1)
        assert kc.clip_indices == expected.tolist()
        np.testing.assert_array_equal(kc.clip[:, 0, 0, 0], expected % 256)
        assert kc.frame_time == float(expected[-1])
        seen.append(t)
    assert sorted(set(seen)) == list(range(14))
    assert len(ring._frames) == ring.capacity == 46  # fixed, however long the stream
    # at the end of the stream the last keyframe is taken with its clip clamped
    assert ring.latest_complete(final=True) == 13


def test_show_without_display_is_a_clear_error(cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    video = tmp_path / "v.mp4"
    write_video(video, n=10)
    with pytest.raises(SystemExit, match=r"demo: --show needs a display.*--output"):
        demo.main(
            [
                *tiny_demo_argv(cfg, tmp_path / "cfg.yaml"),
                "--input",
                str(video),
                "--show",
                "--allow-random-weights",
            ]
        )
    with pytest.raises(SystemExit):  # neither --output nor --show
        demo.main(["--config-file", str(tmp_path / "cfg.yaml"), "--input", str(video)])


def test_open_video_sources(tmp_path):
    from slowfast_det.engine.video_input import open_video, parse_source

    assert parse_source("0") == 0 and parse_source(" 2") == 2 and parse_source("a.mp4") == "a.mp4"
    with pytest.raises(FileNotFoundError, match="video not found: .*nope.mp4"):
        open_video(str(tmp_path / "nope.mp4"))
    video = tmp_path / "v.mp4"
    write_video(video, n=12)
    src = open_video(str(video))
    assert not src.live and src.fps == 30 and src.frame_count == 12
    assert len(list(src.frames())) == 12
    src = open_video(str(video), realtime=True)
    assert src.live
    times = [t for _, t in src]
    assert len(times) == 12 and times[-1] - times[0] >= 11 / 30 - 0.01  # paced at 30 fps
