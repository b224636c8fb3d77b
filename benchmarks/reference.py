"""A slow frame-mAP with the structure of the official ActivityNet script, per keyframe.

This is the yardstick for :mod:`slowfast_det.ava.metric`: the tests check that both
give the same numbers under both rules for keys absent from the ground truth, and
``tools/benchmark.py --task eval`` times it end to end (``python -m
benchmarks.reference``, same flags as ``tools/eval_ava.py``) as the stand-in for
the official script, which cannot be run offline. Its structure follows the official code
(written anew here, not copied):

- the CSV files are read row by row with :mod:`csv`; per image key a heap keeps the
  ``capacity`` best detections (``capacity <= 0`` keeps all), then each key's entries are
  sorted by score;
- the ground truth of each key is stored as numpy arrays; each detected key is evaluated
  on its own: invalid boxes (``x1 >= x2`` or ``y1 >= y2``) removed, then for every class id
  up to the largest label-map id the detections and ground-truth boxes of that class are
  selected with boolean masks, an IoU matrix is computed, each detection takes its
  arg-max box (true positive if IoU >= 0.5 and the box is free), and the per-image "CorLoc"
  flag is computed as the official code does;
- per class, all the per-image arrays are concatenated and ranked; precision / recall by
  cumulative sums; the precision envelope is made by a Python loop from the right, as in
  the official ``compute_average_precision``; mAP = mean over classes with ground truth.

Order among equal scores: the official one. The heap entries are the official tuples
``(score, action_id, y1, x1, y2, x2)`` (the file line rides along without ever deciding a
comparison), a full heap takes a row only with a higher score, and each key is listed with
a stable sort by score, so the capacity cut, the order of a key's detections and of its
ground-truth boxes (person id descending) are the official ones. The per-class ranking is
the official ``argsort(scores)[::-1]`` with a stable sort (numpy's default sort is stable on
small arrays only; see :mod:`slowfast_det.ava.official_order`).

Keys absent from the ground-truth file (``keys_absent_from_groundtruth``): "false-positive"
scores their detections against an empty ground truth (the 2019 script, ActivityNet commit
3fee089); "ignore" skips those keys (the 2020 script, commit c070fdb and later). A key is in
the file when any of its rows is: a box of any class, or a 2-column row.

It does no input validation: it is not meant for users (use ``ava_map``).
"""

import argparse
import csv
import decimal
import heapq
import sys
import time
from collections import defaultdict

import numpy as np

__all__ = ["read_rows", "read_csv_rows", "reference_frame_map", "reference_evaluate_files", "main"]


def _key_timestamp(text):
    """The 2020 script's key, ``"%.6f" % Decimal(text)``: ``%`` formatting takes the float of
    the Decimal, so it is the float rounded to 6 decimals (``0902`` and ``902.000000`` are one
    key, ``902.5`` its own, ``902.0000005`` is 902.000001); the 2019 script took
    ``int(timestamp)``, whole seconds only, which is the same key for AVA's files."""
    text = text.strip()
    if (
        text.isdigit()
    ):  # AVA's whole seconds; equal (and hash-equal) to the Decimal of the same time
        return int(text)
    return decimal.Decimal("%.6f" % decimal.Decimal(text))


def read_csv_rows(path):
    """Rows of an AVA box CSV as tuples ``(video_id, timestamp, x1, y1, x2, y2, action_id,
    last, line)`` in file order, and the set of (video_id, timestamp) keys of 2-column rows.
    ``last`` is 1.0 when the row has no 8th column (as the official reader)."""
    rows, keys_without_boxes = [], set()
    with open(path, newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) < 7 or row[2] == "":
                keys_without_boxes.add((row[0], _key_timestamp(row[1])))
                continue
            last = float(row[7]) if len(row) > 7 and row[7] != "" else 1.0
            rows.append(
                (
                    row[0],
                    _key_timestamp(row[1]),
                    float(row[2]),
                    float(row[3]),
                    float(row[4]),
                    float(row[5]),
                    int(row[6]),
                    last,
                    line,
                )
            )
    return rows, keys_without_boxes


def read_rows(path):
    """The box rows of :func:`read_csv_rows` (2-column rows left out)."""
    return read_csv_rows(path)[0]


def _read_labelmap(path):
    """Label-map ids, read line by line like the official reader (``id:`` or ``label_id:``)."""
    ids = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("id:") or line.startswith("label_id:"):
                ids.append(int(line.split(":", 1)[1]))
    return ids


def _read_exclusions(path):
    keys = set()
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if row:
                keys.add((row[0], _key_timestamp(row[1])))  # the id as written, as the official key
    return keys


class _Line(int):
    """A file line in a heap tuple: never smaller than another, so tuples equal in the
    official fields compare as the official tuples do."""

    def __lt__(self, other):
        return False


def _per_key(rows, class_ids, capacity):
    """Official ``read_csv``: per key a heap of the ``capacity`` best (score, action_id, y1,
    x1, y2, x2) rows of the label-map classes, then a stable sort by score, best first.
    Returns key -> (boxes (N,4) as [y1, x1, y2, x2], classes (N,), scores (N,), lines (N,)),
    and the set of all keys seen."""
    entries = defaultdict(list)
    all_keys = set()
    for vid, ts, x1, y1, x2, y2, cls, score, line in rows:
        key = (vid, ts)
        all_keys.add(key)
        if cls not in class_ids:
            continue
        item = (score, cls, y1, x1, y2, x2, _Line(line))
        heap = entries[key]
        if capacity < 1 or len(heap) < capacity:
            heapq.heappush(heap, item)
        elif score > heap[0][0]:
            heapq.heapreplace(heap, item)
    out = {}
    for key, heap in entries.items():
        best_first = sorted(heap, key=lambda t: -t[0])
        out[key] = (
            np.array([t[2:6] for t in best_first], dtype=float).reshape(-1, 4),
            np.array([t[1] for t in best_first], dtype=int),
            np.array([t[0] for t in best_first], dtype=float),
            np.array([int(t[6]) for t in best_first], dtype=np.int64),
        )
    return out, all_keys


def _iou_matrix(a, b):
    """IoU of every box of ``a`` (N,4) with every box of ``b`` (M,4), [y1, x1, y2, x2]."""
    y1a, x1a, y2a, x2a = np.split(a, 4, axis=1)
    y1b, x1b, y2b, x2b = np.split(b, 4, axis=1)
    heights = np.maximum(0.0, np.minimum(y2a, y2b.T) - np.maximum(y1a, y1b.T))
    widths = np.maximum(0.0, np.minimum(x2a, x2b.T) - np.maximum(x1a, x1b.T))
    inter = heights * widths
    area_a = (y2a - y1a) * (x2a - x1a)
    area_b = (y2b - y1b) * (x2b - x1b)
    return inter / (area_a + area_b.T - inter)


def _evaluate_image(
    gt_boxes, gt_classes, boxes, classes, scores, lines, num_classes, iou_threshold
):
    """One key: per class (1..num_classes) the scores, lines and true-positive flags of its
    detections, and the CorLoc flag. Returns {class: (scores, lines, tp)}."""
    valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
    boxes, classes, scores, lines = boxes[valid], classes[valid], scores[valid], lines[valid]
    out = {}
    corloc = np.zeros(num_classes + 1, dtype=bool)
    for c in range(1, num_classes + 1):
        det_mask = classes == c
        gt_mask = gt_classes == c
        det_c, scores_c, lines_c = boxes[det_mask], scores[det_mask], lines[det_mask]
        gt_c = gt_boxes[gt_mask]
        if len(det_c) and len(gt_c):  # CorLoc: the best detection matches some box
            corloc[c] = bool(np.max(_iou_matrix(det_c[:1], gt_c)) >= iou_threshold)
        if len(det_c) == 0:
            continue
        tp = np.zeros(len(det_c), dtype=bool)
        if len(gt_c):
            iou = _iou_matrix(det_c, gt_c)
            best = np.argmax(iou, axis=1)
            taken = np.zeros(len(gt_c), dtype=bool)
            for i in range(len(det_c)):
                g = best[i]
                if iou[i, g] >= iou_threshold and not taken[g]:
                    tp[i] = True
                    taken[g] = True
        out[c] = (scores_c, lines_c, tp)
    return out


def _average_precision(scores, lines, tp, num_gt):
    order = np.argsort(scores, kind="stable")[::-1]  # the official argsort, stable
    tp = tp[order].astype(float)
    cum_tp = np.cumsum(tp)
    cum_fp = np.cumsum(1.0 - tp)
    precision = cum_tp / (cum_tp + cum_fp)
    recall = cum_tp / num_gt
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(precision) - 2, -1, -1):  # envelope, as the official loop
        precision[i] = np.maximum(precision[i], precision[i + 1])
    idx = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[idx] - recall[idx - 1]) * precision[idx]))


def reference_frame_map(
    groundtruth,
    detections,
    class_ids,
    excluded=(),
    capacity=50,
    iou_threshold=0.5,
    keys_absent_from_groundtruth="false-positive",
    groundtruth_keys=(),
):
    """Frame-mAP with the official structure.

    Args:
        groundtruth: rows ``(video_id, timestamp, x1, y1, x2, y2, action_id, person_id,
            line)`` (``person_id`` may be NaN: treated as 1.0, the official default).
        detections: rows ``(video_id, timestamp, x1, y1, x2, y2, action_id, score, line)``.
        class_ids: the evaluated action ids (label map).
        excluded: (video_id, timestamp) keys to ignore.
        capacity: per-keyframe cap on detections; <= 0 keeps all.
        keys_absent_from_groundtruth: "false-positive" (2019 script) or "ignore" (2020).
        groundtruth_keys: more keys present in the ground-truth file (its 2-column rows).

    Returns:
        (mAP, {class_id: AP or None (no ground truth)}).
    """
    if keys_absent_from_groundtruth not in ("false-positive", "ignore"):
        raise ValueError(f"unknown rule {keys_absent_from_groundtruth!r}")
    class_ids = set(int(c) for c in class_ids)
    num_classes = max(class_ids)
    excluded = set(excluded)
    gt_rows = [r[:7] + ((1.0 if r[7] != r[7] else r[7]),) + r[8:] for r in groundtruth]

    gt_by_key, gt_keys = _per_key(gt_rows, class_ids, 0)
    gt_keys |= set(groundtruth_keys)
    ground_truth = {}
    num_gt = defaultdict(int)
    for key, (boxes, classes, _, _) in gt_by_key.items():
        if key in excluded:
            continue
        ground_truth[key] = (boxes, classes)
        for c in classes:
            num_gt[int(c)] += 1

    det_by_key, _ = _per_key(detections, class_ids, capacity)
    per_class = defaultdict(list)
    empty = (np.zeros((0, 4)), np.zeros(0, dtype=int))
    for key, (boxes, classes, scores, lines) in det_by_key.items():
        if key in excluded:
            continue
        if keys_absent_from_groundtruth == "ignore" and key not in gt_keys:
            continue
        gt_boxes, gt_classes = ground_truth.get(key, empty)
        for c, arrays in _evaluate_image(
            gt_boxes, gt_classes, boxes, classes, scores, lines, num_classes, iou_threshold
        ).items():
            per_class[c].append(arrays)

    aps = {}
    for c in sorted(class_ids):
        if num_gt[c] == 0:
            aps[c] = None
            continue
        parts = per_class.get(c, [])
        scores = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
        lines = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        tp = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, dtype=bool)
        aps[c] = _average_precision(scores, lines, tp, num_gt[c])
    valid = [ap for ap in aps.values() if ap is not None]
    if not valid:
        raise ValueError("no ground-truth box of an evaluated class: the frame-mAP is undefined")
    return float(np.mean(valid)), aps


def reference_evaluate_files(
    labelmap,
    groundtruth,
    detections,
    exclusions=None,
    capacity=50,
    keys_absent_from_groundtruth="false-positive",
):
    """End to end from files: returns ``(mAP, per_class, timings)`` where ``timings`` has
    the wall-clock and CPU seconds spent reading (``read_s``, ``read_cpu_s``) and in the
    metric (``loop_s``, ``loop_cpu_s``)."""
    t0, c0 = time.perf_counter(), time.process_time()
    class_ids = _read_labelmap(labelmap)
    excluded = _read_exclusions(exclusions) if exclusions else set()
    gt, gt_keys = read_csv_rows(groundtruth)
    det, _ = read_csv_rows(detections)
    t1, c1 = time.perf_counter(), time.process_time()
    m, per_class = reference_frame_map(
        gt,
        det,
        class_ids,
        excluded,
        capacity,
        keys_absent_from_groundtruth=keys_absent_from_groundtruth,
        groundtruth_keys=gt_keys,
    )
    t2, c2 = time.perf_counter(), time.process_time()
    return (
        m,
        per_class,
        {"read_s": t1 - t0, "read_cpu_s": c1 - c0, "loop_s": t2 - t1, "loop_cpu_s": c2 - c1},
    )


def main(argv=None):
    """``python -m benchmarks.reference -l LM -g GT -d DET [-x EXCL] [--capacity N]
    [--keys-absent-from-groundtruth RULE]``: prints the per-class AP and the mAP."""
    p = argparse.ArgumentParser(
        description="Frame-mAP by the official script's per-keyframe structure (slow)."
    )
    p.add_argument("-l", "--labelmap", required=True)
    p.add_argument("-g", "--groundtruth", required=True)
    p.add_argument("-d", "--detections", required=True)
    p.add_argument("-x", "-e", "--exclusions", default=None)
    p.add_argument("--capacity", type=int, default=50)
    p.add_argument(
        "--keys-absent-from-groundtruth",
        choices=("false-positive", "ignore"),
        default="false-positive",
    )
    args = p.parse_args(argv)
    m, per_class, _ = reference_evaluate_files(
        args.labelmap,
        args.groundtruth,
        args.detections,
        args.exclusions,
        args.capacity,
        args.keys_absent_from_groundtruth,
    )
    for c, ap in per_class.items():
        print(f"{c:>4} {'(none)' if ap is None else f'{ap:.6f}'}")
    print(f"frame-mAP@0.5IOU: {m:.12f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
