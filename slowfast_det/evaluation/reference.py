"""A slow, plainly written frame-mAP: one Python loop per keyframe, per class, per box.

This is the yardstick for :mod:`slowfast_det.evaluation.ava_map` (the tests check that both
give the same numbers, and ``tools/benchmark.py --task eval`` times both). It follows the
same rules, including the tie orders documented in :mod:`~slowfast_det.evaluation.ava_map`:

1. only label-map classes count; excluded keys are dropped from both files;
2. per keyframe, detections sorted by (score descending, file line ascending); the first
   ``capacity`` are kept (``capacity <= 0`` keeps all);
3. detections with ``x1 >= x2`` or ``y1 >= y2`` are dropped after the capacity cut;
4. per keyframe and class, in that order, a detection takes the ground-truth box of its
   class with the highest IoU (the first in ground-truth order among equals; ground-truth
   order is person id descending, then file line); true positive if IoU >= 0.5 and the box
   is not taken yet, otherwise a false positive. Detections at keys without ground-truth
   boxes are false positives;
5. per class, all detections sorted by (score descending, file line ascending); VOC
   all-points AP; classes without ground truth are left out of the mean.

It does no input validation: it is not meant for users (use ``ava_map``).
"""
import csv
import time

__all__ = ["read_rows", "reference_frame_map", "reference_evaluate_files"]


def read_rows(path):
    """Rows of an AVA box CSV as tuples ``(video_id, timestamp, x1, y1, x2, y2, action_id,
    last, line)``, in file order; 2-column rows (keys without boxes) are skipped. ``last``
    is 1.0 when the row has no 8th column (as the official reader)."""
    rows = []
    with open(path, newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            if len(row) < 7 or row[2] == "":
                continue
            last = float(row[7]) if len(row) > 7 and row[7] != "" else 1.0
            rows.append(
                (row[0], int(float(row[1])), float(row[2]), float(row[3]), float(row[4]), float(row[5]), int(row[6]), last, line)
            )
    return rows


def _iou(a, b):
    """IoU of two (x1, y1, x2, y2) boxes, with the official formula's operation order."""
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter = ih * iw
    area_a = (a[3] - a[1]) * (a[2] - a[0])
    area_b = (b[3] - b[1]) * (b[2] - b[0])
    return inter / (area_a + area_b - inter)


def _average_precision(tp_flags, num_gt):
    """VOC all-points AP of detections already sorted best first."""
    precision, recall = [], []
    tp = 0
    for n, is_tp in enumerate(tp_flags, 1):
        tp += is_tp
        precision.append(tp / n)
        recall.append(tp / num_gt)
    recall = [0.0] + recall + [1.0]
    precision = [0.0] + precision + [0.0]
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    ap = 0.0
    for i in range(1, len(recall)):
        if recall[i] != recall[i - 1]:
            ap += (recall[i] - recall[i - 1]) * precision[i]
    return ap


def reference_frame_map(groundtruth, detections, class_ids, excluded=(), capacity=50, iou_threshold=0.5):
    """Frame-mAP by plain loops.

    Args:
        groundtruth: rows ``(video_id, timestamp, x1, y1, x2, y2, action_id, person_id,
            line)`` (``person_id`` may be NaN: treated as 1.0, the official default).
        detections: rows ``(video_id, timestamp, x1, y1, x2, y2, action_id, score, line)``.
        class_ids: the evaluated action ids (label map).
        excluded: (video_id, timestamp) keys to ignore.
        capacity: per-keyframe cap on detections; <= 0 keeps all.

    Returns:
        (mAP, {class_id: AP or None (no ground truth)}).
    """
    class_ids = set(class_ids)
    excluded = set(excluded)

    gt_by_key = {}
    num_gt = {c: 0 for c in class_ids}
    for vid, ts, x1, y1, x2, y2, cls, pid, line in groundtruth:
        if cls not in class_ids or (vid, ts) in excluded:
            continue
        pid = 1.0 if pid != pid else pid
        gt_by_key.setdefault((vid, ts), []).append(((-pid, line), cls, (x1, y1, x2, y2)))
        num_gt[cls] += 1

    det_by_key = {}
    for vid, ts, x1, y1, x2, y2, cls, score, line in detections:
        if cls not in class_ids:
            continue
        det_by_key.setdefault((vid, ts), []).append((score, line, cls, (x1, y1, x2, y2)))

    scored = {c: [] for c in class_ids}  # class -> [(score, line, is_tp)]
    for key, dets in det_by_key.items():
        if key in excluded:
            continue
        dets.sort(key=lambda d: (-d[0], d[1]))
        if capacity > 0:
            dets = dets[:capacity]
        dets = [d for d in dets if d[3][0] < d[3][2] and d[3][1] < d[3][3]]
        gts = sorted(gt_by_key.get(key, []))
        taken = set()
        for score, line, cls, box in dets:
            best, best_iou = None, None
            for j, (_, gcls, gbox) in enumerate(gts):
                if gcls != cls:
                    continue
                iou = _iou(box, gbox)
                if best_iou is None or iou > best_iou:
                    best, best_iou = j, iou
            is_tp = best is not None and best_iou >= iou_threshold and best not in taken
            if is_tp:
                taken.add(best)
            scored[cls].append((score, line, is_tp))

    per_class = {}
    for c in sorted(class_ids):
        if num_gt[c] == 0:
            per_class[c] = None
            continue
        ranked = sorted(scored[c], key=lambda d: (-d[0], d[1]))
        per_class[c] = _average_precision([d[2] for d in ranked], num_gt[c]) if ranked else 0.0
    valid = [ap for ap in per_class.values() if ap is not None]
    if not valid:
        raise ValueError("no ground-truth box of an evaluated class: the frame-mAP is undefined")
    return sum(valid) / len(valid), per_class


def reference_evaluate_files(labelmap, groundtruth, detections, exclusions=None, capacity=50):
    """End to end from files: returns ``(mAP, per_class, timings)`` where ``timings`` has
    the wall-clock and CPU seconds spent reading (``read_s``, ``read_cpu_s``) and in the
    metric loop (``loop_s``, ``loop_cpu_s``)."""
    from slowfast_det.data.ava_io import read_exclusions, read_label_map

    t0, c0 = time.perf_counter(), time.process_time()
    _, class_ids = read_label_map(labelmap)
    excluded = read_exclusions(exclusions) if exclusions else set()
    gt = read_rows(groundtruth)
    det = read_rows(detections)
    t1, c1 = time.perf_counter(), time.process_time()
    m, per_class = reference_frame_map(gt, det, class_ids, excluded, capacity)
    t2, c2 = time.perf_counter(), time.process_time()
    return m, per_class, {"read_s": t1 - t0, "read_cpu_s": c1 - c0, "loop_s": t2 - t1, "loop_cpu_s": c2 - c1}
