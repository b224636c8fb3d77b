"""Quality of person proposals: the AP of a predicted-boxes CSV against the ground-truth
persons, with the official evaluator on one class.

Every distinct ground-truth box of a keyframe (rows with the same coordinates are one person
with several actions) becomes one box of class 1 ("person"); every predicted box becomes a
detection of class 1 with its score. :func:`~slowfast_det.ava.metric.frame_map` then
gives the PASCAL AP at IoU 0.5 under the AVA rules (excluded keys dropped, detections at keys
without ground-truth boxes are false positives).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from slowfast_det.ava.io import read_box_csv, read_exclusions

from .files import write_box_csv
from .metric import frame_map

__all__ = ["PersonBoxQuality", "person_box_ap", "write_groundtruth_person_boxes"]

_COORDS = ["x1", "y1", "x2", "y2"]


@dataclass
class PersonBoxQuality:
    """Attributes:
    ap: person-box AP at IoU 0.5 over all boxes (fraction).
    num_groundtruth: ground-truth persons evaluated.
    num_boxes: predicted boxes evaluated.
    thresh: the operating score threshold of ``recall`` / ``precision``.
    recall, precision: of the boxes with score >= ``thresh`` (what the action model scores).
    boxes_at_thresh: number of those boxes.
    """

    ap: float
    num_groundtruth: int
    num_boxes: int
    thresh: float
    recall: float
    precision: float
    boxes_at_thresh: int

    def line(self):
        return (
            f"person box AP@0.5IOU: {self.ap:.4f} ({self.num_boxes} boxes, "
            f"{self.num_groundtruth} persons); score >= {self.thresh:g}: recall "
            f"{self.recall:.4f}, precision {self.precision:.4f} ({self.boxes_at_thresh} boxes)"
        )


def person_box_ap(groundtruth_csv, boxes_csv, exclusions_csv=None, thresh=0.8, capacity=0):
    """Person-box AP of ``boxes_csv`` (AVA predicted-boxes CSV) against ``groundtruth_csv``.

    Args:
        groundtruth_csv, boxes_csv: AVA CSVs (ground truth; predicted boxes with a score).
        exclusions_csv: optional excluded-timestamps CSV.
        thresh: operating point for the reported recall and precision.
        capacity: per-keyframe cap on boxes (0 = keep all; the official script uses 50 rows,
            which for actions is 50 (box, class) pairs).
    Returns:
        :class:`PersonBoxQuality`.
    Raises:
        ValueError naming the file when a predicted box has no score.
    """
    gt = read_box_csv(groundtruth_csv, kind="groundtruth").rows
    gt = gt.drop_duplicates(["video_id", "timestamp"] + _COORDS).assign(action_id=1)
    det = read_box_csv(boxes_csv, kind="proposals").rows
    if det["last"].isna().any():
        line = int(det.loc[det["last"].isna(), "line"].iloc[0])
        raise ValueError(
            f"{boxes_csv}:{line}: field 'score' (column 8) is empty: person-box AP needs scores"
        )
    # a box repeated once per action (an action-labelled file) counts once
    det = det.drop_duplicates(["video_id", "timestamp"] + _COORDS + ["last"]).assign(action_id=1)
    excluded = read_exclusions(exclusions_csv) if exclusions_csv else set()
    kw = dict(
        excluded=excluded,
        capacity=capacity,
        groundtruth_path=groundtruth_csv,
        detections_path=boxes_csv,
    )
    full = frame_map(gt, det, [1], **kw)
    at = frame_map(gt, det[det["last"] >= thresh], [1], **kw)
    precision, recall = at.pr_curves.get(1, (np.zeros(0), np.zeros(0)))
    return PersonBoxQuality(
        ap=float(full.mAP),
        num_groundtruth=int(full.num_groundtruth[1]),
        num_boxes=int(full.num_detections[1]),
        thresh=float(thresh),
        recall=float(recall[-1]) if len(recall) else 0.0,
        precision=float(precision[-1]) if len(precision) else 0.0,
        boxes_at_thresh=int(at.num_detections[1]),
    )


def write_groundtruth_person_boxes(groundtruth_csv, output):
    """Oracle person proposals: every distinct ground-truth box of each keyframe of
    ``groundtruth_csv`` as a predicted box with score 1.0, written to ``output`` in AVA's
    predicted-boxes format (``video_id,timestamp,x1,y1,x2,y2,,1``, by the one CSV writer);
    a keyframe with no box (a 2-column row) stays a 2-column row.

    An action model evaluated on these boxes is scored as if person detection were perfect:
    its frame-mAP is an upper bound of what detector proposals give.

    Returns:
        dict: ``keyframes`` and ``boxes`` written.
    """
    table = read_box_csv(groundtruth_csv, kind="groundtruth")
    keys = ["video_id", "timestamp"]
    boxes = table.rows.drop_duplicates(keys + _COORDS)[keys + _COORDS].assign(last=1.0)
    with_boxes = set(zip(boxes["video_id"], boxes["timestamp"]))
    empty = pd.DataFrame(sorted(table.keys_without_boxes - with_boxes), columns=keys)
    rows = pd.concat([boxes, empty], ignore_index=True) if len(empty) else boxes
    write_box_csv(rows.sort_values(keys, kind="stable"), output)
    n = len(boxes)
    return {"keyframes": len(table.keys), "boxes": n}
