"""The result of a frame-mAP evaluation: per-class AP, grouped mAP, counts, and how it is
reported (text table, JSON)."""

import logging
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

__all__ = [
    "ACTION_GROUPS",
    "KEYS_ABSENT_RULES",
    "FrameMAPResult",
    "format_result",
    "grouped_map",
    "log_counts",
]

logger = logging.getLogger(__name__)

#: AVA's three action groups (MMAction2 and the AVA paper report them): name -> (first id,
#: last id), inclusive. Ids outside 1..80 belong to no group.
ACTION_GROUPS = {
    "pose": (1, 14),
    "object manipulation": (15, 63),
    "person interaction": (64, 80),
}

#: The two official rules for detections at keys absent from the ground-truth file:
#: rule -> (the script that follows it, what happens to those detections).
KEYS_ABSENT_RULES = {
    "false-positive": (
        "ActivityNet get_ava_performance.py of 2019, commit 3fee089 "
        "(with -e; AVA v2.1/v2.2, PySlowFast)",
        "scored as false positives",
    ),
    "ignore": (
        "ActivityNet get_ava_performance.py of 2020, commit c070fdb and later (HEAD)",
        "ignored",
    ),
}


def grouped_map(per_class):
    """Mean AP per AVA action group over the classes of the group that have an AP.

    The groups are AVA's id ranges, so they are reported for label maps within AVA's ids
    (AVA's own, or a subset of it); a label map with an id outside 1..80 is not AVA's (your own
    classes) and has no groups: ``{}``.

    Args:
        per_class: class id -> AP, or None for a class without ground truth (every class of
            the label map).

    Returns:
        dict group name -> {"mAP": mean or None (no class of the group has an AP),
        "num_classes": number of classes averaged}; ``{}`` for a label map with ids beyond AVA's.
    """
    if any(not 1 <= c <= 80 for c in per_class):
        return {}
    out = {}
    for name, (lo, hi) in ACTION_GROUPS.items():
        aps = [ap for c, ap in per_class.items() if lo <= c <= hi and ap is not None]
        out[name] = {"mAP": float(np.mean(aps)) if aps else None, "num_classes": len(aps)}
    return out


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
        counts: what happened to the input rows (see
            :func:`~slowfast_det.ava.metric.frame_map`).
        keys_absent_from_groundtruth: the rule used, "false-positive" or "ignore"
            (:data:`KEYS_ABSENT_RULES`).
        grouped: :func:`grouped_map` of ``per_class``.
    """

    mAP: float
    per_class: Dict[int, Optional[float]]
    num_groundtruth: Dict[int, int]
    num_detections: Dict[int, int]
    pr_curves: Dict[int, Tuple[np.ndarray, np.ndarray]] = field(repr=False)
    capacity: int
    counts: Dict[str, int]
    keys_absent_from_groundtruth: str = "false-positive"
    grouped: Dict[str, dict] = field(default_factory=dict)

    def absent_keys_summary(self):
        """The rule and what it did: {"rule", "script", "effect", "detection_rows", "keys"}."""
        script, effect = KEYS_ABSENT_RULES[self.keys_absent_from_groundtruth]
        return {
            "rule": self.keys_absent_from_groundtruth,
            "script": script,
            "effect": effect,
            "detection_rows": int(self.counts.get("det_rows_at_keys_absent_from_groundtruth", 0)),
            "keys": int(self.counts.get("det_keys_absent_from_groundtruth", 0)),
        }

    def to_json_dict(self, class_names=None):
        """A JSON-able dict: ``mAP``, ``grouped_mAP``, ``per_class`` keyed by class id (str)
        with ``name``, ``AP`` (null without ground truth), ``num_groundtruth`` and
        ``num_detections``, the rule for keys absent from the ground truth, ``capacity`` and
        ``counts``."""
        names = class_names or {}
        return {
            "mAP": float(self.mAP),
            "grouped_mAP": {g: v["mAP"] for g, v in self.grouped.items()},
            "grouped_num_classes": {g: v["num_classes"] for g, v in self.grouped.items()},
            "per_class": {
                str(c): {
                    "name": names.get(c, ""),
                    "AP": None if ap is None else float(ap),
                    "num_groundtruth": int(self.num_groundtruth[c]),
                    "num_detections": int(self.num_detections[c]),
                }
                for c, ap in self.per_class.items()
            },
            "keys_absent_from_groundtruth": self.absent_keys_summary(),
            "capacity": int(self.capacity),
            "counts": {k: int(v) for k, v in self.counts.items()},
        }


def format_result(result, class_names=None):
    """Human-readable report: per-class AP by class id (name beside it), the grouped mAP, the
    rule for keys absent from the ground truth, the capacity, the counts and the mAP (lines)."""
    names = class_names or {}
    lines = [f"{'id':>4}  {'AP':>8}  {'#gt':>7}  {'#det':>9}  name"]
    for c, ap in result.per_class.items():
        ap_s = "   (none)" if ap is None else f"{ap:9.6f}"
        lines.append(
            f"{c:>4} {ap_s}  {result.num_groundtruth[c]:>7}  {result.num_detections[c]:>9}  "
            f"{names.get(c, '')}"
        )
    for g, v in result.grouped.items():
        lo, hi = ACTION_GROUPS[g]
        value = "(no class with ground truth)" if v["mAP"] is None else f"{v['mAP']:.6f}"
        lines.append(f"group mAP {g} (ids {lo}-{hi}): {value} over {v['num_classes']} classes")
    s = result.absent_keys_summary()
    lines.append(
        f"keys absent from the ground-truth file: rule '{s['rule']}' ({s['script']}): "
        f"{s['detection_rows']} detection rows at {s['keys']} keys {s['effect']}"
    )
    cap = result.capacity
    lines.append(
        f"capacity: {cap} "
        + (
            "(keep all detections per keyframe, as PySlowFast)"
            if cap == 0
            else "detections per keyframe (the official script uses 50)"
        )
    )
    lines.append("counts: " + ", ".join(f"{k}={v}" for k, v in result.counts.items()))
    n = sum(ap is not None for ap in result.per_class.values())
    lines.append(
        f"frame-mAP@0.5IOU: {result.mAP:.6f} (fraction, mean over {n} classes with ground truth)"
    )
    return lines


def log_counts(counts, gt_path, det_path, rule, repeat_lines=None):
    """Log a warning for each nonzero count of :func:`~slowfast_det.ava.metric.frame_map` that
    changes or explains the value (rows dropped, scored as false positives, repeated, ...),
    naming the file it concerns."""
    script, effect = KEYS_ABSENT_RULES[rule]
    if counts.get("det_rows_repeated"):
        logger.warning(
            "%s: %d evaluated detection rows repeat an earlier row exactly (first: line %d "
            "repeats line %d); each copy is one more detection, as in the official evaluator "
            "(a copy of a true positive is a false positive)",
            det_path,
            counts["det_rows_repeated"],
            *repeat_lines,
        )
    notes = [
        (
            "det_rows_without_score",
            "detection rows had no score (7 fields): scored 1.0, as the official script",
        ),
        ("det_rows_other_class", "detection rows of classes not in the label map were dropped"),
        ("det_rows_excluded", "detection rows at excluded keys were dropped"),
        (
            "det_rows_invalid_box",
            "detections with x1 >= x2 or y1 >= y2 were dropped (as the official code)",
        ),
        (
            "det_rows_at_keys_absent_from_groundtruth",
            f"detection rows at %d keys absent from the ground-truth file were {effect} "
            f"(rule '{rule}': {script})",
        ),
        ("det_rows_unknown_video", "of them at %d video ids absent from the ground truth"),
        (
            "det_rows_at_keys_without_groundtruth",
            "evaluated detections at %d keys without a ground-truth box were scored as false "
            "positives",
        ),
        (
            "det_scores_outside_0_1",
            "detection scores are outside [0, 1], inf included (kept: only their order counts)",
        ),
        (
            "gt_keys_without_detections",
            "ground-truth keys have no detection (their boxes count as misses)",
        ),
        ("gt_rows_excluded", "ground-truth rows at excluded keys were dropped"),
    ]
    extra = {
        "det_rows_at_keys_absent_from_groundtruth": "det_keys_absent_from_groundtruth",
        "det_rows_unknown_video": "det_unknown_videos",
        "det_rows_at_keys_without_groundtruth": "det_keys_without_groundtruth",
    }
    for key, text in notes:
        if counts.get(key):
            if key in extra:
                text = text % counts[extra[key]]
            logger.warning(
                "%s: %d %s", det_path if key.startswith("det") else gt_path, counts[key], text
            )
