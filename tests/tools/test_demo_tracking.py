"""Person ids across keyframes (detectron2.tracking), score smoothing, the persons CSV;
clips sampled by time with the fps warning; labels placed apart."""

import logging

import numpy as np
import pytest
from test_demo import BOXES_CSV, K, demo, tiny_demo_argv, write_video  # tools/demo.py

from slowfast_det.ava.io import read_box_csv
from slowfast_det.engine.keyframe_clips import (
    TRAINING_FPS,
    clip_indices,
    fps_warning,
    iter_keyframe_clips,
)
from slowfast_det.engine.tracking import PersonTracker, ScoreSmoother
from slowfast_det.engine.visualize import ActionVisualizer, place_label


@pytest.mark.parametrize("kind", ["iou", "hungarian"])
def test_tracker_keeps_ids_of_moving_people(kind):
    tracker = PersonTracker(100, 200, kind=kind, iou_thresh=0.3, max_lost=1)
    a, b = np.array([10.0, 10, 40, 90]), np.array([120.0, 10, 150, 90])
    step = np.array([4.0, 0, 4, 0])
    ids = [tracker.update(np.stack([a, b]))]
    ids.append(
        tracker.update(np.stack([b + step, a + step]))
    )  # order changes: ids follow the boxes
    ids.append(tracker.update(np.stack([a + 2 * step])))  # b unseen for one keyframe
    ids.append(tracker.update(np.stack([b + 3 * step, a + 3 * step])))  # b continued (max_lost 1)
    ids.append(tracker.update(np.array([[60.0, 10, 90, 90]])))  # overlaps nobody: a new id
    assert [i.tolist() for i in ids] == [[0, 1], [1, 0], [0], [1, 0], [2]]
    with pytest.raises(ValueError, match="unknown tracker 'kalman'.*hungarian"):
        PersonTracker(10, 10, kind="kalman")


def test_hungarian_leaves_low_iou_pairs_unmatched():
    """detectron2's Hungarian trackers would give the far box the old id; ours starts a new one."""
    tracker = PersonTracker(100, 100, kind="hungarian", iou_thresh=0.5)
    tracker.update(np.array([[0.0, 0, 20, 20]]))
    assert tracker.update(np.array([[60.0, 60, 80, 80]])).tolist() == [1]


def test_score_smoother_means_over_last_k():
    smooth = ScoreSmoother(2)
    s = lambda v: np.full((1, 3), v, np.float32)  # noqa: E731
    np.testing.assert_allclose(smooth([7], s(0.2)), s(0.2))
    np.testing.assert_allclose(smooth([7], s(0.6)), s(0.4))
    np.testing.assert_allclose(smooth([7], s(1.0)), s(0.8))  # only the last 2
    np.testing.assert_allclose(smooth([8], s(0.1)), s(0.1))  # another track
    np.testing.assert_allclose(ScoreSmoother(0)([7], s(0.3)), s(0.3))  # off


class CountingPredictor:
    """Scores = 0.1 * call number, for every box and class."""

    def __init__(self):
        self.n = 0

    def __call__(self, clip, boxes):
        out = np.full((len(boxes), K), 0.1 * self.n, np.float32)
        self.n += 1
        return out


def run_demo(cfg, tmp_path, *opts):
    video, boxes = tmp_path / "clip.mp4", tmp_path / "boxes.csv"
    write_video(video)
    boxes.write_text(BOXES_CSV)
    return demo.main(
        [
            *tiny_demo_argv(cfg, tmp_path / "cfg.yaml"),
            "--input",
            str(video),
            "--output",
            str(tmp_path / "o.mp4"),
            "--boxes",
            str(boxes),
            "--no-progress",
            *opts,
        ],
        predictor=CountingPredictor(),
    )


def test_demo_writes_track_ids_and_smooths_on_request(cfg, tmp_path):
    stats = run_demo(cfg, tmp_path, "--action-score-thresh", "0.05")
    persons = read_box_csv(str(tmp_path / "o_persons.csv"), kind="proposals").rows
    # keyframe 0: two people (ids 0, 1); keyframe 1: the first one moved a little (id 0)
    at0, at1 = persons[persons["timestamp"] == 0], persons[persons["timestamp"] == 1]
    assert sorted(set(at0["last"].astype(int))) == [0, 1] and set(at1["last"].astype(int)) == {0}
    assert (at0["action_id"] == -1).all()  # scores 0.0 < 0.05: nothing drawn, one row per person
    assert sorted(at1["action_id"]) == [1, 2, 3]  # 0.1 >= 0.05: the top 3 (--top-k)
    assert stats["tracks"] == 2
    raw = read_box_csv(str(tmp_path / "o.csv"), kind="detections").rows
    np.testing.assert_allclose(raw[raw["timestamp"] == 1]["last"], 0.1, rtol=1e-6)
    # --smooth-scores-over 2: keyframe 1's person 0 has the mean of its 0.0 and 0.1
    run_demo(cfg, tmp_path, "--smooth-scores-over", "2")
    smoothed = read_box_csv(str(tmp_path / "o.csv"), kind="detections").rows
    np.testing.assert_allclose(smoothed[smoothed["timestamp"] == 1]["last"], 0.05, rtol=1e-6)
    # no tracker: no ids, no persons CSV
    (tmp_path / "o_persons.csv").unlink()
    stats = run_demo(cfg, tmp_path, "--tracker", "none")
    assert "tracks" not in stats and not (tmp_path / "o_persons.csv").exists()


@pytest.mark.parametrize("fps", [6, 25, 30, 60])
def test_clips_sampled_by_time(fps):
    num_frames, rate = 8, 2
    center = keyframe = 5 * fps
    idx = clip_indices(center, fps, num_frames, rate)
    seconds = (idx - keyframe) / fps
    training = (np.arange(num_frames) * rate - num_frames * rate // 2) / TRAINING_FPS
    # the same temporal extent at every frame rate, to the nearest source frame
    assert np.abs(seconds - training).max() <= 0.5 / fps + 1e-9
    assert idx[num_frames // 2] == keyframe
    # through the frame stream: keyframe t is frame round(t * fps); the clip is the time sampling
    frames = (np.full((1, 1, 3), i % 256, np.uint8) for i in range(8 * fps))
    for kc in iter_keyframe_clips(frames, fps, num_frames, rate):
        assert kc.center == round(kc.timestamp * fps)
        assert kc.clip_indices == clip_indices(kc.center, fps, num_frames, rate, 8 * fps).tolist()


def test_fps_warning_outside_24_to_60(cfg, tmp_path, caplog):
    assert (
        fps_warning(24, 32, 2) is None
        and fps_warning(30, 32, 2) is None
        and fps_warning(60, 32, 2) is None
    )
    assert "6 fps" in fps_warning(6, 32, 2) and "2.13 s" in fps_warning(6, 32, 2)
    assert "skips source frames" in fps_warning(120, 32, 2)
    # the demo prints it for a 6 fps video
    video = tmp_path / "slow.mp4"
    write_video(video, n=20, fps=6)
    (tmp_path / "b.csv").write_text("slow,0001,0.1,0.1,0.5,0.9,,0.99\n")
    logger = logging.getLogger("slowfast_det")
    logger.addHandler(caplog.handler)
    try:
        stats = demo.main(
            [
                *tiny_demo_argv(cfg, tmp_path / "cfg.yaml"),
                "--input",
                str(video),
                "--output",
                str(tmp_path / "o.mp4"),
                "--boxes",
                str(tmp_path / "b.csv"),
                "--no-progress",
            ],
            predictor=CountingPredictor(),
        )
    finally:
        logger.removeHandler(caplog.handler)
    assert stats["keyframes"] == 4  # frames 0, 6, 12, 18
    assert (
        sum("source at 6 fps, far from the 30 fps" in r.getMessage() for r in caplog.records) == 1
    )


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_of_boxes_at_the_same_place_do_not_overlap():
    vis = ActionVisualizer(
        {1: "stand", 2: "talk to", 3: "watch"}, score_thresh=0.0, top_k=2, min_size=0
    )
    boxes = np.array([[40, 60, 120, 200]] * 3, np.float32)
    labels = [vis.label([(1, 0.9), (2, 0.8)], track_id=i) for i in range(3)]
    rects = vis.label_rects(240, 320, boxes, labels)
    assert len(rects) == 3
    for i in range(3):
        x1, y1, x2, y2 = rects[i]
        assert (
            0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240 and y2 - y1 > 10
        )  # three text lines, measured
        for j in range(i):
            assert not _overlap(rects[i], rects[j]), (rects[i], rects[j])
    # the first label sits just above its box
    assert abs(rects[0][3] - 60) < 1e-6
    # the drawing has the labels where the rectangles say: text pixels inside each
    drawn = vis.draw(np.zeros((240, 320, 3), np.uint8), boxes, labels)
    for x1, y1, x2, y2 in rects:
        assert drawn[int(y1) + 3 : int(y2) - 3, int(x1) + 3 : int(x2) - 3].max() > 100


def test_place_label_moves_past_placed_ones_and_stays_in_frame():
    placed = [(10, 20, 60, 40)]
    # above the box is taken: moved down past it
    assert place_label((10, 40, 50, 90), (50, 20), placed, 100, 100) == (10, 41.0)
    # no room above the box: inside its top
    assert place_label((0, 5, 30, 60), (20, 10), [], 100, 100) == (0, 5.0)
    # a label near the right edge is shifted left to stay in the frame
    assert place_label((95, 50, 100, 60), (30, 10), [], 100, 100)[0] == 70
