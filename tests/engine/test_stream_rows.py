"""What the streaming demo keeps per keyframe for its CSVs (issue 26, the live-stream leak).

The rows of every scored keyframe live until the stream ends. Kept as numpy arrays, they
leaked: glibc's malloc cut each small array's buffer from the hole that the keyframe's
largest temporary (a float32 copy of the clip) had just left, the next keyframe's copy no
longer fit there, and the heap grew by 10-15 MiB per minute of video. So the rows must
hold Python numbers only (Python's own memory pools), whatever the number of keyframes.
"""

import time

import numpy as np

from slowfast_det.engine.demo_options import DemoOptions
from slowfast_det.engine.demo_runner import VideoActionDemo
from slowfast_det.engine.streaming import StreamingLoop

K = 5
H, W, FPS = 48, 64, 30


class _Source:
    """A live source of ``seconds`` of frames, delivered ten times faster than real time."""

    name = "test stream"
    live = True
    fps = FPS

    def __init__(self, seconds):
        self.n = int(seconds * FPS)

    def __iter__(self):
        for i in range(self.n):
            time.sleep(0.1 / FPS)
            frame = np.full((H, W, 3), 60, np.uint8)
            frame[8:44, 5 + i // 8 : 21 + i // 8] = (40, 200, 40)
            yield frame, time.monotonic()


def _predictor(clip, boxes):
    return np.random.default_rng(len(boxes)).random((len(boxes), K)).astype(np.float32)


def _persons(kc):
    x = 5 + kc.center // 8
    return np.array([[x, 8, x + 16, 44], [40, 4, 60, 40]], np.float32), np.array(
        [0.99, 0.9], np.float32
    )


def _leaves(obj):
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _leaves(item)
    else:
        yield obj


def test_stream_keeps_rows_of_python_numbers_only(cfg):
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = K
    cfg.INPUT.NUM_FRAMES = 8
    cfg.INPUT.SAMPLING_RATE = 2
    options = DemoOptions(min_output_size=0, tracker="iou", action_score_thresh=0.0)
    demo = VideoActionDemo(cfg, predictor=_predictor, detector=None, options=options)
    results, persons_rows = [], []
    stats = StreamingLoop(demo, _persons, "cam", progress=False).run(
        _Source(12), [], results, persons_rows
    )

    assert stats["keyframes"] >= 2 and len(results) == stats["keyframes"]
    assert len(persons_rows) == 2 * stats["keyframes"]
    kinds = {type(leaf) for leaf in _leaves(results + persons_rows)}
    assert kinds <= {str, int, float}, (
        f"CSV rows hold {kinds - {str, int, float}} (numpy buffers pin the heap)"
    )
    # the rows still carry the boxes (normalised) and the scores of the evaluated classes
    video_id, ts, boxes, scores = results[0]
    assert video_id == "cam" and len(boxes) == 2 and len(boxes[0]) == 4 and len(scores[0]) == K
    assert 0.0 <= min(min(b) for b in boxes) and max(max(b) for b in boxes) <= 1.0
