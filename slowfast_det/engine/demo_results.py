"""What the demo found on one keyframe (:class:`KeyframeResult`) and the persons CSV written
from it (:func:`write_persons_csv`; its layout in :mod:`.demo_runner`)."""

from dataclasses import dataclass

import numpy as np

from slowfast_det.ava.files import write_box_csv

__all__ = ["KeyframeResult", "write_persons_csv"]


@dataclass
class KeyframeResult:
    """What the demo found on one keyframe.

    Attributes:
        timestamp: keyframe second.
        boxes: float (R, 4) pixels of the frame.
        ids: int64 (R,) track ids, or None without tracking.
        scores: float32 (R, K) action probabilities (smoothed along tracks when enabled).
        actions: per box, the drawn ``[(action_id, score), ...]``.
        layer: the drawing (:meth:`ActionVisualizer.overlay`) to compose on frames, or None.
    """

    timestamp: int
    boxes: np.ndarray
    ids: object
    scores: np.ndarray
    actions: list
    layer: object


def write_persons_csv(rows, path):
    """Write the persons CSV (see :mod:`.demo_runner`) atomically.

    Args:
        rows: list of
            ``(video_id, timestamp, box normalised (4,), track id, [(action_id, score), ...])``.
    Returns:
        number of rows written (by :func:`~slowfast_det.ava.files.write_box_csv`).
    """
    table = {c: [] for c in ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "last")}
    for video_id, ts, box, track, actions in sorted(
        rows, key=lambda r: (r[0], float(r[1]), int(r[3]))
    ):
        box = np.asarray(box, dtype=np.float64).tolist()
        for action in [a for a, _ in actions] or [-1]:  # -1: the empty action id
            for c, v in zip(table, (video_id, ts, *box, int(action), int(track))):
                table[c].append(v)
    for c in ("action_id", "last"):  # integers: the track id is the person id
        table[c] = np.asarray(table[c], dtype=np.int64)
    return write_box_csv(table, path)
