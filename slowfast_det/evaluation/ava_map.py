"""AVA frame-mAP@0.5IoU, vectorised, with the rules of the official ActivityNet evaluator.

The official evaluator is ActivityNet's ``Evaluation/get_ava_performance.py`` with the
TF object-detection ``object_detection_evaluation.py`` / ``per_image_evaluation.py`` /
``metrics.py`` it uses. Its rules, as reproduced here:

1. Only label-map ids count: rows of other classes are dropped from both files.
2. Image key = (video_id, timestamp as a number). Excluded keys are dropped from both files.
3. Detections: per key, the ``capacity`` highest-scoring (box, class) rows are kept (50 in
   the official script, <= 0 keeps all). Then boxes with ``x1 >= x2`` or ``y1 >= y2`` are
   dropped (the official ``_remove_invalid_boxes`` keeps only ``x1 < x2 and y1 < y2``,
   after the cut).
4. Per key and class, detections in descending score take the ground-truth box of their
   class with the highest IoU (``np.argmax``: the first among equals). True positive if
   that IoU >= 0.5 and the box is not taken yet, else false positive (no fallback to the
   second-best box). IoU = intersection / (area_det + area_gt - intersection), no +1, the
   official operation order, so the values are bit-identical.
5. Detections at a key that has no ground-truth box of an evaluated class (a key absent
   from the ground truth, an unknown video id, a key given only by a 2-column row) are
   false positives: the official ``add_single_detected_image_info`` scores them against an
   empty ground truth. They are counted and reported.
6. Per class, all detections sorted by score, descending; precision and recall by
   cumulative sums (recall over the class's ground-truth boxes); AP = VOC all-points area
   under the precision envelope. Classes with ground truth and no detections get AP 0;
   classes without ground truth get no AP and are left out of the mean
   (``np.nanmean``). The mAP is a fraction in [0, 1], not a percentage.

Numbers are parsed exactly as Python's ``float`` (the official ``csv`` reader) does, and a
ground-truth row repeated in the file is two boxes, as in the official code.

Tie order (documented, deterministic). The official order among equal scores comes from
a heap (``heapq`` in ``read_csv``), a stable sort and then ``np.argsort`` (quicksort,
unstable, platform dependent) for the per-class ranking, so it has no defined tie order.
Here every ordering by score breaks ties by the detection's line in the detections file
(earlier line first): the capacity cut keeps the earlier lines, matching within a key
visits earlier lines first, and the per-class ranking puts earlier lines first. Among
ground-truth boxes with exactly equal IoU to a detection, the first in the order (person
id descending, then file line) is taken; the official order is person id descending (its
"score" column) and then heap order, so the two agree whenever the boxes of one key and
class have distinct person ids. Where no two scores are equal (and no IoU ties between
boxes with the same person id), the result equals the official one to rounding (1e-15).

Bad input: malformed rows raise :class:`~slowfast_det.data.ava_io.AVAFormatError` naming
file, line and field (from :mod:`slowfast_det.data.ava_io`); non-finite coordinates or
scores, and ground-truth boxes with ``x2 < x1`` or ``y2 < y1`` (which crash the official
code), raise it too. Scores outside [0, 1] are kept (the metric only uses their order, as
the official code) and counted.
"""
import logging
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd

from slowfast_det.data.ava_checks import EvaluationInputChecks
from slowfast_det.data.ava_io import (
    AVAFormatError,
    iter_box_csv,
    read_box_csv,
    read_exclusions,
    read_label_map,
)

__all__ = ["FrameMAPResult", "frame_map", "evaluate_files", "format_result", "IOU_THRESHOLD"]

logger = logging.getLogger(__name__)

IOU_THRESHOLD = 0.5
_COORDS = ["x1", "y1", "x2", "y2"]


@dataclass
class FrameMAPResult:
    """The frame-mAP and what went into it.

    Attributes:
        mAP: mean AP over the classes with ground truth, a fraction in [0, 1].
        per_class: class id -> AP (fraction), or None for a class without ground truth.
        num_groundtruth: class id -> number of ground-truth boxes evaluated.
        num_detections: class id -> number of detections evaluated (after the cut).
        pr_curves: class id -> (precision, recall) arrays, one point per detection in rank
            order (before the envelope), for classes with ground truth.
        capacity: the per-keyframe cap used (0 = all kept).
        counts: what happened to the input rows (see :func:`frame_map`).
    """

    mAP: float
    per_class: Dict[int, Optional[float]]
    num_groundtruth: Dict[int, int]
    num_detections: Dict[int, int]
    pr_curves: Dict[int, Tuple[np.ndarray, np.ndarray]] = field(repr=False)
    capacity: int
    counts: Dict[str, int]

    def to_json_dict(self, class_names=None):
        """``{"mAP", "per_class", "capacity", ...}`` with str class-id keys, for json.dump."""
        out = {
            "mAP": float(self.mAP),
            "per_class": {str(c): (None if ap is None else float(ap)) for c, ap in self.per_class.items()},
            "capacity": int(self.capacity),
            "num_groundtruth": {str(c): int(n) for c, n in self.num_groundtruth.items()},
            "num_detections": {str(c): int(n) for c, n in self.num_detections.items()},
            "counts": {k: int(v) for k, v in self.counts.items()},
        }
        if class_names:
            out["class_names"] = {str(c): class_names.get(c, "") for c in self.per_class}
        return out


def _in_label_map(action, class_ids):
    ids = np.asarray(class_ids, dtype=np.int64)
    return np.isin(action, ids)


def _check_finite(rows, columns, path, what):
    for col in columns:
        vals = rows[col].to_numpy()
        bad = ~np.isfinite(vals)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            line = int(rows["line"].iloc[i]) if "line" in rows else None
            name = "score" if (col == "last" and what == "detections") else col
            raise AVAFormatError(path, line, name, f"not a finite number: {vals[i]!r}")


def _rank_within_group(sorted_group):
    """For an array sorted by group, each element's position within its group."""
    n = len(sorted_group)
    pos = np.arange(n)
    if n == 0:
        return pos
    start = np.ones(n, dtype=bool)
    start[1:] = sorted_group[1:] != sorted_group[:-1]
    return pos - np.maximum.accumulate(np.where(start, pos, 0))


def _order_by_key_score_line(key, score):
    """Indices sorting rows by (key, score descending, row index ascending).

    The rows must be in file order, so that the row index orders like the file line. One
    integer sort of a composite (key, dense score rank, row) when it fits in int64 (several
    times faster than a 3-key ``np.lexsort``), else ``np.lexsort``.
    """
    n = len(key)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    by_score = np.argsort(-score)
    s = score[by_score]
    new_value = np.empty(n, dtype=bool)
    new_value[0] = True
    new_value[1:] = s[1:] != s[:-1]
    rank = np.empty(n, dtype=np.int64)
    rank[by_score] = np.cumsum(new_value) - 1
    num_ranks = int(rank.max()) + 1
    kmin, kmax = int(key.min()), int(key.max())
    if (kmax - kmin + 1) * num_ranks * n < 2**63 - 1:
        return np.argsort(((key - kmin) * num_ranks + rank) * n + np.arange(n))
    return np.lexsort((np.arange(n), rank, key))


class _VideoCodes:
    """Video id -> int code; the ground-truth videos get 0..n_known-1, others come after."""

    def __init__(self, known_videos):
        self.index = pd.Index(pd.unique(np.asarray(known_videos, dtype=object)), dtype=object)
        self.n_known = len(self.index)

    def encode(self, video_id):
        codes = self.index.get_indexer(video_id)
        missing = codes < 0
        if missing.any():
            new = pd.unique(video_id[missing])
            self.index = self.index.append(pd.Index(new, dtype=object))
            codes[missing] = self.index.get_indexer(video_id[missing])
        return codes.astype(np.int64)


_DET_COLUMNS = ["video", "timestamp", *_COORDS, "action_id", "last", "line"]


class _Detections:
    """Accumulates detection chunks, keeping per chunk only rows that can survive the cut.

    The top-``capacity`` rows of a key in the whole file are among the top-``capacity`` rows
    of that key in each chunk (the order (score desc, line asc) is total), so pruning each
    chunk first is exact and bounds memory by the kept rows. Video ids become int codes.
    """

    def __init__(self, class_ids, capacity, path, videos):
        self.class_ids, self.capacity, self.path, self.videos = class_ids, capacity, path, videos
        self.parts = []
        self.counts = {"det_rows": 0, "det_rows_other_class": 0, "det_scores_outside_0_1": 0, "det_rows_over_capacity": 0}

    def add(self, rows):
        n = len(rows)
        self.counts["det_rows"] += n
        if n == 0:
            return
        _check_finite(rows, _COORDS + ["last"], self.path, "detections")
        keep = _in_label_map(rows["action_id"].to_numpy(), self.class_ids)
        n_keep = int(keep.sum())
        self.counts["det_rows_other_class"] += n - n_keep
        names = ["video_id", "timestamp", *_COORDS, "action_id", "last", "line"]
        cols = {c: rows[c].to_numpy() for c in names}
        if n_keep < n:
            cols = {c: a[keep] for c, a in cols.items()}
        score, line = cols["last"], cols["line"]
        self.counts["det_scores_outside_0_1"] += int(((score < 0) | (score > 1)).sum())
        if len(line) > 1 and not (line[1:] >= line[:-1]).all():  # a caller's table: put it in file order
            order = np.argsort(line, kind="stable")
            cols = {c: a[order] for c, a in cols.items()}
            line = cols["line"]
        prev = next((p["line"][-1] for p in reversed(self.parts) if len(p["line"])), None)
        if len(line) and prev is not None and line[0] <= prev:
            raise ValueError(f"{self.path}: detection chunks must come in file order (line {line[0]} after line {prev})")
        cols["video"] = self.videos.encode(cols.pop("video_id"))
        if self.capacity > 0 and len(line) > self.capacity:
            tcodes, tuniq = pd.factorize(cols["timestamp"])
            key = cols["video"] * len(tuniq) + tcodes
            order = _order_by_key_score_line(key, cols["last"])
            sel = order[_rank_within_group(key[order]) < self.capacity]
            self.counts["det_rows_over_capacity"] += len(order) - len(sel)
            sel.sort()  # back to file order
            cols = {c: a[sel] for c, a in cols.items()}
        self.parts.append(cols)

    def concatenated(self):
        if not self.parts:
            return {c: np.zeros(0, dtype=np.float64 if c in _COORDS + ["last"] else np.int64) for c in _DET_COLUMNS}
        if len(self.parts) == 1:
            return self.parts.pop()
        out = {}
        for c in _DET_COLUMNS:
            out[c] = np.concatenate([p[c] for p in self.parts])
            for p in self.parts:
                del p[c]
        self.parts = []
        return out


def _encode_keys(pairs, num_videos, num_classes):
    """One int64 key space for (video code, timestamp) pairs from several arrays.

    Args:
        pairs: list of (video code int64 array, timestamp int64 array).
        num_videos: number of video codes.
        num_classes: keys are later multiplied by this to make (key, class) codes.

    Returns:
        list of int64 key arrays, one per pair.
    """
    all_ts = [t for _, t in pairs if len(t)]
    if not all_ts:
        return [np.zeros(0, dtype=np.int64) for _ in pairs]
    tmin = min(int(t.min()) for t in all_ts)
    span = max(int(t.max()) for t in all_ts) - tmin + 1
    if (num_videos + 1) * span * (num_classes + 1) < 2**62:
        return [v * span + (t - tmin) for v, t in pairs]
    # Sparse, huge timestamps: rank them first.
    uniq_ts = np.unique(np.concatenate(all_ts))
    return [v * len(uniq_ts) + np.searchsorted(uniq_ts, t) for v, t in pairs]


def _average_precision(tp_sorted, num_gt):
    """Official ``compute_precision_recall`` + ``compute_average_precision`` (VOC all points).

    Returns (AP, precision, recall).
    """
    n = len(tp_sorted)
    if n == 0:
        return 0.0, np.zeros(0), np.zeros(0)
    cum_tp = np.cumsum(tp_sorted, dtype=np.int64)
    precision = cum_tp.astype(float) / np.arange(1, n + 1)
    recall = cum_tp.astype(float) / num_gt
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    idx = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[idx] - r[idx - 1]) * p[idx])), precision, recall


def frame_map(
    groundtruth,
    detections,
    class_ids,
    excluded=(),
    capacity=50,
    iou_threshold=IOU_THRESHOLD,
    groundtruth_path=None,
    detections_path=None,
):
    """Frame-mAP of detections against ground truth (see the module docstring for the rules).

    Args:
        groundtruth: a :class:`~slowfast_det.data.ava_io.BoxTable` or its ``rows``
            DataFrame (columns video_id, timestamp, x1, y1, x2, y2, action_id, last =
            person id, line).
        detections: a DataFrame of the same columns (last = score), or an iterable of such
            DataFrames (chunks of one file, in file order); ``line`` orders tied scores.
        class_ids: the evaluated action ids (the label map's).
        excluded: (video_id, timestamp) keys to drop.
        capacity: per-keyframe cap on detections; <= 0 keeps all.
        groundtruth_path, detections_path: file names for error messages.

    Returns:
        FrameMAPResult. ``counts`` has: gt_rows, gt_rows_other_class, gt_rows_excluded,
        gt_boxes (evaluated), gt_keys, gt_keys_without_detections, det_rows,
        det_rows_other_class, det_rows_over_capacity (cut first, as the official code),
        det_rows_excluded, det_rows_invalid_box, det_rows_evaluated,
        det_rows_at_keys_without_groundtruth (scored as false positives; of them
        det_rows_unknown_video at det_unknown_videos video ids absent from the ground
        truth), det_scores_outside_0_1.

    Raises:
        AVAFormatError: non-finite values, or a ground-truth box with x2 < x1 or y2 < y1.
        ValueError: a class id < 1, or no ground-truth box of an evaluated class (the mAP
            is undefined).
    """
    class_ids = sorted(int(c) for c in class_ids)
    if not class_ids:
        raise ValueError("no evaluated classes (empty label map)")
    if class_ids[0] < 1:
        raise ValueError(f"class ids must be >= 1 (as the official evaluator requires), got {class_ids[0]}")
    max_id = class_ids[-1]
    ncls = max_id + 1
    capacity = int(capacity)

    # ------------------------------------------------------------ ground truth
    gt = groundtruth.rows if hasattr(groundtruth, "rows") else groundtruth
    counts = {"gt_rows": len(gt)}
    keep = _in_label_map(gt["action_id"].to_numpy(), class_ids)
    counts["gt_rows_other_class"] = int(len(gt) - keep.sum())
    gt = gt[keep]
    _check_finite(gt, _COORDS, groundtruth_path, "groundtruth")
    for a, b in (("x1", "x2"), ("y1", "y2")):
        bad = gt[b].to_numpy() < gt[a].to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AVAFormatError(
                groundtruth_path, int(gt["line"].iloc[i]), b, f"{b} < {a} ({gt[b].iloc[i]!r} < {gt[a].iloc[i]!r}): not a box"
            )
    videos = _VideoCodes(gt["video_id"].to_numpy())
    gt_video = videos.encode(gt["video_id"].to_numpy())

    # ------------------------------------------------------------ detections
    acc = _Detections(class_ids, capacity, detections_path, videos)
    for chunk in [detections] if isinstance(detections, pd.DataFrame) else detections:
        acc.add(chunk.rows if hasattr(chunk, "rows") else chunk)
    det = acc.concatenated()
    counts.update(acc.counts)
    del acc

    excl = sorted(excluded)
    excl_video = videos.encode(np.array([k[0] for k in excl], dtype=object))
    excl_ts = np.array([int(k[1]) for k in excl], dtype=np.int64)
    gt_key, det_key, excl_key = _encode_keys(
        [(gt_video, gt["timestamp"].to_numpy()), (det["video"], det["timestamp"]), (excl_video, excl_ts)],
        len(videos.index),
        max_id,
    )

    # capacity cut over the whole file (per key: score desc, line asc)
    if capacity > 0:
        order = _order_by_key_score_line(det_key, det["last"])
        sel = order[_rank_within_group(det_key[order]) < capacity]
        counts["det_rows_over_capacity"] += int(len(det_key) - len(sel))
        if len(sel) < len(det_key):
            sel.sort()  # back to file order
            det = {c: a[sel] for c, a in det.items()}
            det_key = det_key[sel]
        del order, sel

    # exclusions (whole keys: the same before or after the cut), then invalid boxes (after
    # the cut, as the official code)
    gt_ex = np.isin(gt_key, excl_key)
    counts["gt_rows_excluded"] = int(gt_ex.sum())
    gt = gt[~gt_ex]
    gt_key = gt_key[~gt_ex]
    det_ex = np.isin(det_key, excl_key)
    counts["det_rows_excluded"] = int(det_ex.sum())
    valid = (det["x1"] < det["x2"]) & (det["y1"] < det["y2"])
    counts["det_rows_invalid_box"] = int((~det_ex & ~valid).sum())
    valid &= ~det_ex
    del det_ex

    # Kept detections by (class, score desc, line asc): the per-class ranking, whose
    # restriction to one (key, class) is the order in which detections take boxes there.
    d_cls = det["action_id"]
    order = np.flatnonzero(valid)
    order = order[_order_by_key_score_line(d_cls[order], det["last"][order])]
    del valid
    det = {c: det[c][order] for c in ("video", *_COORDS, "action_id")}
    det_key = det_key[order]
    d_cls = det["action_id"]
    n_det = len(det_key)
    counts["det_rows_evaluated"] = n_det
    del order

    # ------------------------------------------------------------ matching
    g_cls = gt["action_id"].to_numpy()
    g_pid = gt["last"].to_numpy()
    g_pid = np.where(np.isnan(g_pid), 1.0, g_pid)  # the official reader's default "score"
    g_order = np.lexsort((gt["line"].to_numpy(), -g_pid, g_cls, gt_key))
    g_kc = (gt_key * ncls + g_cls)[g_order]
    g_box = np.stack([gt[c].to_numpy() for c in _COORDS], axis=1)[g_order]
    num_gt = np.bincount(g_cls, minlength=ncls)
    counts["gt_boxes"] = int(len(g_kc))
    uniq_gt_keys = np.unique(gt_key)
    counts["gt_keys"] = int(len(uniq_gt_keys))
    counts["gt_keys_without_detections"] = int(len(uniq_gt_keys) - pd.Index(det_key).unique().isin(uniq_gt_keys).sum())

    # ground-truth boxes of each detection's (key, class): g_kc[start : start + n_cand]
    groups, group_start = np.unique(g_kc, return_index=True)
    group_size = np.diff(np.append(group_start, len(g_kc)))
    group = pd.Index(groups).get_indexer(det_key * ncls + d_cls)  # hash lookups: det is not key-sorted
    if len(groups):
        found, group = group >= 0, np.maximum(group, 0)
        start, n_cand = np.where(found, group_start[group], 0), np.where(found, group_size[group], 0)
        del found
    else:
        start = n_cand = np.zeros(n_det, dtype=np.int64)
    del group
    at_gt_key = pd.Index(uniq_gt_keys).get_indexer(det_key) >= 0
    counts["det_rows_at_keys_without_groundtruth"] = int(n_det - at_gt_key.sum())
    del at_gt_key
    unknown = det["video"] >= videos.n_known
    counts["det_rows_unknown_video"] = int(unknown.sum())
    counts["det_unknown_videos"] = int(len(np.unique(det["video"][unknown])))
    del unknown

    tp = np.zeros(n_det, dtype=bool)
    di = np.flatnonzero(n_cand)
    if len(di):
        cnt = n_cand[di]
        seg = np.cumsum(cnt) - cnt
        total = int(cnt.sum())
        pair_det = np.repeat(di, cnt)
        pair_gt = np.repeat(start[di] - seg, cnt) + np.arange(total)
        # IoU in the official operation order ([y1, x1, y2, x2] boxes)
        dx1, dy1, dx2, dy2 = (det[c][pair_det] for c in _COORDS)
        gx1, gy1, gx2, gy2 = g_box[pair_gt].T
        heights = np.maximum(0.0, np.minimum(dy2, gy2) - np.maximum(dy1, gy1))
        widths = np.maximum(0.0, np.minimum(dx2, gx2) - np.maximum(dx1, gx1))
        inter = heights * widths
        iou = inter / (((dy2 - dy1) * (dx2 - dx1)) + ((gy2 - gy1) * (gx2 - gx1)) - inter)
        del dx1, dy1, dx2, dy2, gx1, gy1, gx2, gy2, heights, widths, inter
        best = np.maximum.reduceat(iou, seg)
        pos = np.arange(total)
        first = np.minimum.reduceat(np.where(iou == np.repeat(best, cnt), pos, total), seg)
        best_gt = pair_gt[first]
        hit = best >= iou_threshold
        cand_det, cand_gt = di[hit], best_gt[hit]
        # A box is taken by the first detection (in score / line order) that picks it.
        _, first_pick = np.unique(cand_gt, return_index=True)
        tp[cand_det[first_pick]] = True

    # ------------------------------------------------------------ per-class AP
    bounds = np.searchsorted(d_cls, np.arange(ncls + 1), side="left")
    ap_all = np.full(max_id, np.nan)  # index id-1, NaN for no ground truth (official layout)
    per_class, pr_curves, num_gt_out, num_det_out = {}, {}, {}, {}
    for c in class_ids:
        lo, hi = bounds[c], bounds[c + 1]
        num_gt_out[c] = int(num_gt[c])
        num_det_out[c] = int(hi - lo)
        if num_gt[c] == 0:
            per_class[c] = None
            continue
        ap, precision, recall = _average_precision(tp[lo:hi], num_gt[c])
        ap_all[c - 1] = ap
        per_class[c] = ap
        pr_curves[c] = (precision, recall)
    if np.isnan(ap_all).all():
        raise ValueError(
            f"no ground-truth box of an evaluated class in {groundtruth_path or 'the ground truth'} "
            "(after exclusions): the frame-mAP is undefined"
        )
    m = float(np.nanmean(ap_all))

    _log_counts(counts, groundtruth_path, detections_path)
    return FrameMAPResult(m, per_class, num_gt_out, num_det_out, pr_curves, max(capacity, 0), counts)


def _log_counts(counts, gt_path, det_path):
    notes = [
        ("det_rows_other_class", "detection rows of classes not in the label map were dropped"),
        ("det_rows_excluded", "detection rows at excluded keys were dropped"),
        ("det_rows_invalid_box", "detections with x1 >= x2 or y1 >= y2 were dropped (as the official code)"),
        (
            "det_rows_at_keys_without_groundtruth",
            "detections at keys without ground-truth boxes were scored as false positives (as the official code)",
        ),
        ("det_rows_unknown_video", "of them at video ids absent from the ground truth"),
        ("det_scores_outside_0_1", "detection scores are outside [0, 1] (kept: only their order counts)"),
        ("gt_keys_without_detections", "ground-truth keys have no detection (their boxes count as misses)"),
        ("gt_rows_excluded", "ground-truth rows at excluded keys were dropped"),
    ]
    for key, text in notes:
        if counts.get(key):
            extra = f" ({counts['det_unknown_videos']} video ids)" if key == "det_rows_unknown_video" else ""
            logger.warning("%s: %d %s%s", det_path if key.startswith("det") else gt_path, counts[key], text, extra)


def evaluate_files(labelmap, groundtruth, detections, exclusions=None, capacity=50, chunksize=1_000_000):
    """Frame-mAP from the official files (label map .pbtxt, ground-truth CSV, detections CSV,
    optional excluded-timestamps CSV). Returns (FrameMAPResult, class names dict)."""
    names, class_ids = read_label_map(labelmap)
    excluded = read_exclusions(exclusions) if exclusions else set()
    gt = read_box_csv(groundtruth, kind="groundtruth")
    checks = EvaluationInputChecks(gt.rows, groundtruth, class_ids)  # pixels, repeated rows, other classes
    result = frame_map(
        gt,
        checks.watch(iter_box_csv(detections, kind="detections", chunksize=chunksize)),
        class_ids,
        excluded,
        capacity,
        groundtruth_path=groundtruth,
        detections_path=detections,
    )
    result.counts.update(checks.finish(detections))
    return result, names


def format_result(result, class_names=None):
    """Human-readable per-class AP table, counts and the mAP (lines of text)."""
    names = class_names or {}
    lines = [f"{'id':>4}  {'AP':>8}  {'#gt':>7}  {'#det':>9}  name"]
    for c, ap in result.per_class.items():
        ap_s = "   (none)" if ap is None else f"{ap:9.6f}"
        lines.append(f"{c:>4} {ap_s}  {result.num_groundtruth[c]:>7}  {result.num_detections[c]:>9}  {names.get(c, '')}")
    cap = result.capacity
    lines.append(
        f"capacity: {cap} "
        + ("(keep all detections per keyframe, as PySlowFast)" if cap == 0
           else "detections per keyframe (the official script uses 50)")
    )
    lines.append("counts: " + ", ".join(f"{k}={v}" for k, v in result.counts.items()))
    n = sum(ap is not None for ap in result.per_class.values())
    lines.append(f"frame-mAP@0.5IOU: {result.mAP:.6f} (fraction, mean over {n} classes with ground truth)")
    return lines
