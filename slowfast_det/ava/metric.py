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
5. Detections at a key that has no ground-truth box of an evaluated class are false
   positives (scored against an empty ground truth), with one exception on which the two
   official script versions differ, chosen by ``keys_absent_from_groundtruth``:

   - ``"false-positive"`` (default): the 2019 script, ActivityNet commit 3fee089 (the one
     with ``-e EXCLUSIONS``, used for AVA v2.1 / v2.2; PySlowFast's ``ava_eval_helper.py``
     agrees) scores every detected key, so detections at a key absent from the
     ground-truth file (including any key of a video id the file does not have) are false
     positives too;
   - ``"ignore"``: the 2020 script (commit c070fdb and later, ActivityNet HEAD) ignores
     detections at keys absent from the ground-truth file. A key is present when the file
     has any row for it: a box of any class (also one outside the label map) or a
     2-column row (``video_id,timestamp``, a keyframe without boxes); detections at such
     keys without an evaluated box still count as false positives. That script takes no
     exclusions file (``-e``): to reproduce it, give none.

   Both rules count the detection rows (after the cut, exclusions and invalid boxes) and
   keys concerned (``det_rows_at_keys_absent_from_groundtruth``,
   ``det_keys_absent_from_groundtruth``; of them ``det_rows_unknown_video`` at
   ``det_unknown_videos`` video ids absent from the file) and report them.
6. Per class, all detections sorted by score, descending; precision and recall by
   cumulative sums (recall over the class's ground-truth boxes); AP = VOC all-points area
   under the precision envelope. Classes with ground truth and no detections get AP 0;
   classes without ground truth get no AP and are left out of the mean
   (``np.nanmean``). The mAP is a fraction in [0, 1], not a percentage.

Grouped mAP: the mean AP over AVA's three action groups (pose, ids 1-14; object
manipulation, 15-63; person interaction, 64-80), over the group's classes with an AP
(:func:`~slowfast_det.ava.result.grouped_map`).

Numbers are parsed exactly as Python's ``float`` (the official ``csv`` reader) does, and a
ground-truth row repeated in the file is two boxes, as in the official code.

Speed: the files are read by pyarrow's multithreaded CSV reader where possible
(:mod:`~slowfast_det.ava.box_arrays`; correctly rounded, like ``float()``), video ids
become int codes, and the metric is a few whole-array sorts: rows at keys over the capacity
are ranked per key, then all evaluated rows are ranked once by (class, score, line) and
matched to their (key, class) ground truth in one vectorised pass.

Order among equal scores (:mod:`.official_order`): the official one wherever it is
defined. Per key, the official reader's heap and stable sort decide which rows a capacity
cut keeps among equal scores, in which order a key's detections of one class take boxes,
and the order of equal person ids among ground-truth boxes (the first of equal IoUs is
taken); those keys are replayed exactly. The per-class ranking is the official
``argsort(scores)[::-1]`` as a stable sort gives it: equal scores in the reverse of the
official concatenation order (later keys, by their first line, first). numpy's default sort
is stable on small arrays and has no defined order on large ones, so wherever the official
value does not depend on the sort this is it (e.g. a file of 7-column rows, all scored 1.0,
or a repeated detection row: the copy after a true positive is a false positive, and ranks
first). Evaluated detection rows repeated exactly are counted and reported
(``det_rows_repeated``), as repeated ground-truth rows are.

Bad input: malformed rows raise :class:`~slowfast_det.ava.io.AVAFormatError` naming
file, line and field (from :mod:`slowfast_det.ava.io`); non-finite coordinates, NaN
scores, and ground-truth boxes with ``x2 < x1`` or ``y2 < y1`` (which crash the official
code), raise it too. As the official reader does, a detection row without a score (7
fields) gets score 1.0 (counted, ``det_rows_without_score``); an empty 8th field is an
error, as it stops the official script. Infinite scores (``inf``, ``1e400``) are kept: the
metric only uses the order of the scores. Scores outside [0, 1] are counted.
"""

import dataclasses
import logging

import numpy as np

from slowfast_det.ava.io import AVAFormatError

from .array_ops import (
    Clock,
    Keys,
    average_precision,
    capacity_keep,
    descending_rank,
    integer_timestamps,
    member,
    num_distinct,
    order_by_key_rank_row,
)
from .box_arrays import as_box_arrays, check_finite
from .matching import match_detections
from .official_order import KeyOrder, break_ties, order_groundtruth
from .result import KEYS_ABSENT_RULES, FrameMAPResult, format_result, grouped_map, log_counts

__all__ = [
    "FrameMAPResult",
    "frame_map",
    "format_result",
    "IOU_THRESHOLD",
    "KEYS_ABSENT_RULES",
]

logger = logging.getLogger(__name__)

IOU_THRESHOLD = 0.5
_COORDS = ["x1", "y1", "x2", "y2"]


def frame_map(
    groundtruth,
    detections,
    class_ids,
    excluded=(),
    capacity=50,
    iou_threshold=IOU_THRESHOLD,
    groundtruth_path=None,
    detections_path=None,
    keys_absent_from_groundtruth="false-positive",
    timings=None,
):
    """Frame-mAP of detections against ground truth (see the module docstring for the rules).

    Args:
        groundtruth: a :class:`~slowfast_det.ava.box_arrays.BoxArrays`, a
            :class:`~slowfast_det.ava.io.BoxTable` or its ``rows`` DataFrame (columns
            video_id, timestamp, x1, y1, x2, y2, action_id, last = person id, line). Its
            ``keys_without_boxes`` (2-column rows) count as keys present in the file.
        detections: the same kinds (last = score), or an iterable of them (chunks of one
            file, in file order); ``line`` gives the file order (equal scores are ordered
            from it as the official code orders them).
        class_ids: the evaluated action ids (the label map's).
        excluded: (video_id, timestamp) keys to drop.
        capacity: per-keyframe cap on detections; <= 0 keeps all.
        groundtruth_path, detections_path: file names for error messages.
        keys_absent_from_groundtruth: "false-positive" (2019 script, default) or "ignore"
            (2020 script): what to do with detections at keys the ground-truth file lacks.
        timings: optional dict, filled with the seconds of each stage (``prepare``: video
            codes, keys, ground truth and label-map filter; ``rank_scores``; ``capacity_cut``;
            ``filters``: exclusions, invalid boxes, absent keys; ``class_ranking``;
            ``matching``; ``average_precision``).

    Returns:
        FrameMAPResult. ``counts`` has: gt_rows, gt_rows_other_class, gt_rows_excluded,
        gt_boxes (evaluated), gt_keys, gt_keys_without_detections, det_rows,
        det_rows_other_class, det_rows_over_capacity (cut first, as the official code),
        det_rows_excluded, det_rows_invalid_box, det_rows_at_keys_absent_from_groundtruth
        and det_keys_absent_from_groundtruth (false positives or ignored, by the rule; of
        them det_rows_unknown_video at det_unknown_videos video ids absent from the file),
        det_rows_evaluated, det_rows_at_keys_without_groundtruth and
        det_keys_without_groundtruth (evaluated rows at keys without an evaluated
        ground-truth box: false positives), det_scores_outside_0_1 (inf included),
        det_rows_without_score (7-column rows: score 1.0, as the official reader),
        det_rows_repeated (evaluated rows equal to an earlier one in key, box, class, score).

    Raises:
        AVAFormatError: non-finite values, or a ground-truth box with x2 < x1 or y2 < y1.
        ValueError: a class id < 1, an unknown rule, or no ground-truth box of an evaluated
            class (the mAP is undefined).
    """
    if keys_absent_from_groundtruth not in KEYS_ABSENT_RULES:
        raise ValueError(
            f"keys_absent_from_groundtruth must be one of {sorted(KEYS_ABSENT_RULES)}, "
            f"got {keys_absent_from_groundtruth!r}"
        )
    class_ids = sorted(int(c) for c in class_ids)
    if not class_ids:
        raise ValueError("no evaluated classes (empty label map)")
    if class_ids[0] < 1:
        raise ValueError(
            f"class ids must be >= 1 (as the official evaluator requires), got {class_ids[0]}"
        )
    max_id = class_ids[-1]
    ncls = max_id + 1
    capacity = int(capacity)
    evaluated = np.zeros(ncls, dtype=bool)
    evaluated[class_ids] = True

    def in_label_map(action):
        in_range = (action >= 0) & (action <= max_id)
        if in_range.all():
            return evaluated[action]
        return in_range & evaluated[np.where(in_range, action, 0)]

    clock = Clock(timings)
    gt = as_box_arrays(groundtruth)
    det = as_box_arrays(detections)
    if (
        len(det) > 1 and not (det.line[1:] >= det.line[:-1]).all()
    ):  # a caller's table: put it in file order
        det = det.take(np.argsort(det.line, kind="stable"))

    # ------------------------------------------------------------ one video code space
    # ground-truth videos first (those of any row of the file, 2-column rows included)
    index = {v: i for i, v in enumerate(gt.videos)}
    for v, _ in sorted(gt.keys_without_boxes):
        index.setdefault(v, len(index))
    n_known = len(index)

    def codes(videos):
        return np.array([index.setdefault(v, len(index)) for v in videos], dtype=np.int64)

    gt_video = codes(gt.videos)[gt.video] if len(gt) else np.zeros(0, dtype=np.int64)
    det_video = codes(det.videos)[det.video] if len(det) else np.zeros(0, dtype=np.int64)
    kwb = sorted(gt.keys_without_boxes)
    kwb_video, kwb_ts = codes([k[0] for k in kwb]), np.array([k[1] for k in kwb], dtype=np.float64)
    excl = sorted(excluded)
    excl_video, excl_ts = (
        codes([k[0] for k in excl]),
        np.array([k[1] for k in excl], dtype=np.float64),
    )
    gt_ts, det_ts, kwb_ts, excl_ts = integer_timestamps(
        gt.timestamp, det.timestamp, kwb_ts, excl_ts
    )
    keys = Keys([gt_ts, det_ts, kwb_ts, excl_ts], len(index))
    gt_key_all, det_key = keys(gt_video, gt_ts), keys(det_video, det_ts)
    excl_key = keys(excl_video, excl_ts)
    gt_file_keys = np.concatenate([gt_key_all, keys(kwb_video, kwb_ts)])

    # ------------------------------------------------------------ ground truth
    counts = {"gt_rows": len(gt)}
    keep = in_label_map(gt.action_id)
    counts["gt_rows_other_class"] = int(len(gt) - keep.sum())
    gt = gt.take(keep)
    gt_key = gt_key_all[keep]
    del gt_key_all
    check_finite(gt, _COORDS, groundtruth_path, "groundtruth")
    for a, b in (("x1", "x2"), ("y1", "y2")):
        bad = getattr(gt, b) < getattr(gt, a)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AVAFormatError(
                groundtruth_path,
                int(gt.line[i]),
                b,
                f"{b} < {a} ({getattr(gt, b)[i]!r} < {getattr(gt, a)[i]!r}): not a box",
            )
    gt_ex = member(gt_key, excl_key, keys.size)
    counts["gt_rows_excluded"] = int(gt_ex.sum())
    if gt_ex.any():
        gt, gt_key = gt.take(~gt_ex), gt_key[~gt_ex]

    # ------------------------------------------------------------ detections
    counts["det_rows"] = n_rows = len(det)
    check_finite(det, _COORDS, detections_path, "detections")
    no_score = np.isnan(det.last)
    counts["det_rows_without_score"] = int(np.count_nonzero(no_score))
    if counts["det_rows_without_score"]:  # 7-column rows: score 1.0, as the official reader
        det = dataclasses.replace(det, last=np.where(no_score, 1.0, det.last))
    del no_score
    keep = in_label_map(det.action_id)
    counts["det_rows_other_class"] = int(n_rows - keep.sum())
    if not keep.all():
        det, det_key, det_video = det.take(keep), det_key[keep], det_video[keep]
    score = det.last
    counts["det_scores_outside_0_1"] = int(((score < 0) | (score > 1)).sum())

    clock("prepare")
    rank = descending_rank(score)  # orders every sort below: score desc (equal: official_order)
    official = KeyOrder(
        det_key, score, det.action_id, det.x1, det.y1, det.x2, det.y2, capacity, keys.size
    )
    clock("rank_scores")

    # capacity cut per key (score desc; equal scores at the cut: the official heap), over all keys
    keep = capacity_keep(det_key, rank, capacity, keys.size, counts, official)
    clock("capacity_cut")
    # exclusions (whole keys), then invalid boxes (after the cut, as the official code)
    det_ex = member(det_key, excl_key, keys.size)
    counts["det_rows_excluded"] = int(np.count_nonzero(keep & det_ex))
    keep &= ~det_ex
    valid = (det.x1 < det.x2) & (det.y1 < det.y2)
    counts["det_rows_invalid_box"] = int(np.count_nonzero(keep & ~valid))
    keep &= valid
    del det_ex, valid
    absent = keep & ~member(det_key, gt_file_keys, keys.size)
    counts["det_rows_at_keys_absent_from_groundtruth"] = int(np.count_nonzero(absent))
    counts["det_keys_absent_from_groundtruth"] = num_distinct(det_key[absent], keys.size)
    unknown = absent & (det_video >= n_known)
    counts["det_rows_unknown_video"] = int(np.count_nonzero(unknown))
    counts["det_unknown_videos"] = int(len(np.unique(det_video[unknown])))
    if keys_absent_from_groundtruth == "ignore":
        keep &= ~absent
    del absent, unknown, det_video

    clock("filters")
    # Kept detections by (class, score desc), equal scores in the official order: the
    # per-class ranking. Detections of one (key, class) take boxes in score order, equal
    # scores in the key's official order (``take_order``; None when no such tie).
    rows = np.flatnonzero(keep)
    del keep
    d_cls = det.action_id[rows]
    order = order_by_key_rank_row(d_cls, rank[rows])
    rows = rows[order]
    d_cls = d_cls[order]
    del order
    perm, take_order, repeats = break_ties(
        rows, d_cls, rank[rows], det_key[rows], official, [getattr(det, c) for c in _COORDS]
    )
    del rank, official
    rows, d_cls = rows[perm], d_cls[perm]
    det_key = det_key[rows]
    counts["det_rows_repeated"] = repeats[0]
    repeat_lines = None
    if repeats[0]:
        repeat_lines = (int(det.line[rows[repeats[1]]]), int(det.line[rows[repeats[2]]]))
    n_det = len(det_key)
    counts["det_rows_evaluated"] = n_det

    clock("class_ranking")
    # ------------------------------------------------------------ matching
    g_cls = gt.action_id
    g_pid = np.where(np.isnan(gt.last), 1.0, gt.last)  # the official reader's default "score"
    g_order = np.lexsort((gt.line, -g_pid, g_cls, gt_key))
    gt_order = KeyOrder(gt_key, g_pid, g_cls, gt.x1, gt.y1, gt.x2, gt.y2, 0, keys.size)
    g_order = order_groundtruth(g_order, gt_key, g_cls, g_pid, gt_order)
    del gt_order
    g_kc = (gt_key * ncls + g_cls)[g_order]
    g_box = np.stack([getattr(gt, c) for c in _COORDS], axis=1)[g_order]
    num_gt = np.bincount(g_cls, minlength=ncls)
    counts["gt_boxes"] = int(len(g_kc))
    counts["gt_keys"] = num_distinct(gt_key, keys.size)
    det_at_gt_key = member(det_key, gt_key, keys.size)
    counts["det_rows_at_keys_without_groundtruth"] = int(n_det - det_at_gt_key.sum())
    counts["det_keys_without_groundtruth"] = num_distinct(det_key[~det_at_gt_key], keys.size)
    counts["gt_keys_without_detections"] = counts["gt_keys"] - num_distinct(
        det_key[det_at_gt_key], keys.size
    )
    del det_at_gt_key

    coords = [getattr(det, c) for c in _COORDS]
    tp = match_detections(
        det_key, d_cls, rows, coords, g_kc, g_box, keys.size, ncls, iou_threshold, take_order
    )

    clock("matching")
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
        ap, precision, recall = average_precision(tp[lo:hi], num_gt[c])
        ap_all[c - 1] = ap
        per_class[c] = ap
        pr_curves[c] = (precision, recall)
    if np.isnan(ap_all).all():
        raise ValueError(
            "no ground-truth box of an evaluated class in "
            f"{groundtruth_path or 'the ground truth'} (after exclusions): the frame-mAP is "
            "undefined"
        )
    m = float(np.nanmean(ap_all))

    clock("average_precision")
    log_counts(
        counts, groundtruth_path, detections_path, keys_absent_from_groundtruth, repeat_lines
    )
    return FrameMAPResult(
        m,
        per_class,
        num_gt_out,
        num_det_out,
        pr_curves,
        max(capacity, 0),
        counts,
        keys_absent_from_groundtruth,
        grouped_map(per_class),
    )
