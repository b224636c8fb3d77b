"""Result files of the AVA evaluation: complete or absent (temporary file, then ``os.replace``)."""
import json

import numpy as np

from slowfast_det.ava.timestamps import format_timestamp
from slowfast_det.utils.file_io import atomic_path

__all__ = ["write_json", "write_detections_csv"]


def write_json(obj, path):
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, allow_nan=False)
            f.write("\n")


def write_detections_csv(keyframes, class_ids, path):
    """Write per-box, per-class detections in the official format, atomically.

    Rows ``video_id,timestamp,x1,y1,x2,y2,action_id,score`` (timestamp as AVA writes it:
    4 digits for whole seconds, ``0902.5`` for sub-second keyframes,
    numbers with 9 significant digits, which round-trips float32 exactly). Keyframes are
    written sorted by (video_id, timestamp), boxes in the given order, classes ascending, so
    the file (and the tie order it defines) does not depend on the number of workers.

    Args:
        keyframes: list of ``(video_id, timestamp, boxes (R, 4) normalised x1y1x2y2,
            scores (R, len(class_ids)))``.
        class_ids: the action id of each score column.
        path: output CSV.

    Returns:
        number of rows written.
    """
    import pandas as pd  # not at the top: eval_ava --json uses write_json without pandas

    class_ids = np.asarray(class_ids, dtype=np.int64)
    keyframes = sorted(keyframes, key=lambda k: (k[0], float(k[1])))
    n_cls = len(class_ids)
    # video id, timestamp and coordinates are formatted once per box (as text columns) and
    # repeated for the box's classes; only the scores are formatted per row.
    text = {c: [] for c in ["video_id", "timestamp", "x1", "y1", "x2", "y2"]}
    scores = []
    for video_id, ts, boxes, sc in keyframes:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        text["video_id"] += [str(video_id)] * n
        text["timestamp"] += [format_timestamp(ts)] * n
        for i, c in enumerate(["x1", "y1", "x2", "y2"]):
            text[c] += [f"{v:.9g}" for v in boxes[:, i].tolist()]
        scores.append(np.asarray(sc, dtype=np.float64).reshape(n, n_cls))
    n_boxes = len(text["video_id"])
    df = pd.DataFrame(
        {
            **{c: np.repeat(np.array(v, dtype=object), n_cls) for c, v in text.items()},
            "action_id": np.tile(class_ids, n_boxes),
            "score": np.concatenate(scores).reshape(-1) if scores else np.zeros(0),
        }
    )
    with atomic_path(path) as tmp:
        df.to_csv(tmp, header=False, index=False, float_format="%.9g", lineterminator="\n")
    return len(df)
