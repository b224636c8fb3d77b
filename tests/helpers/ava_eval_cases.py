"""Helpers of the evaluation tests: tables and files built from plain row lists."""

import os

import numpy as np
import pandas as pd

COLUMNS = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "last", "line"]

A = (0.0, 0.0, 0.5, 0.5)  # a box
B = (0.5, 0.5, 1.0, 1.0)  # a box disjoint from A
FAR = (0.6, 0.0, 0.9, 0.3)  # IoU 0 with A and B


def gt_row(vid, ts, box, cls, pid=0):
    return (vid, ts, *box, cls, float(pid))


def det_row(vid, ts, box, cls, score):
    return (vid, ts, *box, cls, float(score))


def table(rows):
    """DataFrame as read_box_csv returns it; ``line`` = position + 1 (file order)."""
    rows = [tuple(r) + (i + 1,) for i, r in enumerate(rows)]
    df = pd.DataFrame(rows, columns=COLUMNS)
    if len(df) == 0:
        dtypes = [object, "int64"] + ["float64"] * 4 + ["int64", "float64", "int64"]
        df = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(COLUMNS, dtypes)})
    return df.astype({"timestamp": "int64", "action_id": "int64", "line": "int64"})


def with_lines(rows):
    """Rows with a trailing 1-based line number (the reference's input format)."""
    return [tuple(r) + (i + 1,) for i, r in enumerate(rows)]


def write_csv(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")
    return str(path)


def write_labelmap(path, ids, names=None):
    with open(path, "w") as f:
        for i in ids:
            name = (names or {}).get(i, f"action {i}")
            f.write(f'item {{\n  name: "{name}"\n  id: {i}\n}}\n')
    return str(path)


def random_case(rng, num_keys=25, num_classes=5, tied=False):
    """Random ground truth and detections over a few videos / timestamps / classes.

    Detections include boxes with x1 > x2, keys absent from the ground truth, an unknown
    video and classes outside 1..num_classes. ``tied``: scores on a 1/4 grid (many ties).
    """
    gt, det = [], []
    for _ in range(num_keys):
        vid, ts = f"v{rng.integers(0, 4)}", int(rng.integers(900, 910))
        for p in range(int(rng.integers(0, 4))):
            xs, ys = np.sort(rng.random(2)), np.sort(rng.random(2))
            box = (xs[0], ys[0], xs[1], ys[1])
            for cls in rng.choice(
                np.arange(1, num_classes + 2), size=int(rng.integers(1, 3)), replace=False
            ):
                gt.append(gt_row(vid, ts, box, int(cls), p))
    for _ in range(num_keys * 2):
        vid, ts = f"v{rng.integers(0, 5)}", int(rng.integers(900, 910))
        for _ in range(int(rng.integers(0, 12))):
            xs, ys = np.sort(rng.random(2)), np.sort(rng.random(2))
            if rng.random() < 0.1:
                xs = xs[::-1]
            if rng.random() < 0.2 and gt:  # near a ground-truth box
                g = gt[int(rng.integers(0, len(gt)))]
                vid, ts = g[0], g[1]
                xs = np.array([g[2], g[4]]) + rng.normal(0, 0.03, 2)
                ys = np.array([g[3], g[5]]) + rng.normal(0, 0.03, 2)
            score = float(rng.integers(0, 5)) / 4 if tied else float(rng.random())
            det.append(
                det_row(
                    vid,
                    ts,
                    (xs[0], ys[0], xs[1], ys[1]),
                    int(rng.integers(1, num_classes + 2)),
                    score,
                )
            )
    return gt, det


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
