"""Person ids across keyframes with detectron2's trackers, and score smoothing along a track.

:class:`PersonTracker` wraps ``detectron2.tracking``: ``"iou"`` is ``BBoxIOUTracker``
(greedy matching by IoU, highest first), ``"hungarian"`` is
``IOUWeightedHungarianBBoxIOUTracker`` (assignment maximising the summed IoU). detectron2's
Hungarian trackers take every pair the assignment returns, also pairs below the IoU
threshold, whenever there are as many previous boxes; :class:`_ThresholdedHungarianTracker`
keeps only the pairs above it, as ``BBoxIOUTracker`` does.

:class:`ScoreSmoother` averages each track's action scores over its last ``k`` keyframes.
"""

from collections import defaultdict, deque

import numpy as np
import torch
from detectron2.structures import Boxes, Instances
from detectron2.tracking import BBoxIOUTracker, IOUWeightedHungarianBBoxIOUTracker
from detectron2.tracking.vanilla_hungarian_bbox_iou_tracker import LARGE_COST_VALUE

__all__ = ["PersonTracker", "ScoreSmoother", "TRACKERS"]


class _ThresholdedHungarianTracker(IOUWeightedHungarianBBoxIOUTracker):
    """IoU-weighted Hungarian tracker that leaves pairs below the IoU threshold unmatched."""

    def build_cost_matrix(self, instances, prev_instances):
        self._cost = super().build_cost_matrix(instances, prev_instances)
        return self._cost

    def _process_matched_idx(self, instances, matched_idx, matched_prev_idx):
        keep = self._cost[matched_idx, matched_prev_idx] < LARGE_COST_VALUE
        self._kept = (matched_idx[keep], matched_prev_idx[keep])
        return super()._process_matched_idx(instances, *self._kept)

    def _process_unmatched_idx(self, instances, matched_idx):
        return super()._process_unmatched_idx(instances, self._kept[0])

    def _process_unmatched_prev_idx(self, instances, matched_prev_idx):
        return super()._process_unmatched_prev_idx(instances, self._kept[1])


TRACKERS = {"iou": BBoxIOUTracker, "hungarian": _ThresholdedHungarianTracker}


class PersonTracker:
    """Stable person ids for the boxes of successive keyframes of one video.

    Args:
        height, width: frame size (pixels).
        kind: ``"iou"`` or ``"hungarian"`` (see the module doc).
        iou_thresh: a box continues a track when its IoU with the track's last box is at
            least this.
        max_lost: keyframes a track may go unseen and still be continued.
    """

    def __init__(self, height, width, kind="iou", iou_thresh=0.3, max_lost=1):
        if kind not in TRACKERS:
            raise ValueError(
                f"unknown tracker {kind!r} (--tracker); choose one of {sorted(TRACKERS)}"
            )
        self.image_size = (int(height), int(width))
        self._tracker = TRACKERS[kind](
            video_height=int(height),
            video_width=int(width),
            max_lost_frame_count=int(max_lost),
            min_box_rel_dim=0.0,
            min_instance_period=0,
            track_iou_threshold=float(iou_thresh),
        )

    def update(self, boxes, scores=None):
        """Ids of the boxes of the next keyframe.

        Args:
            boxes: (R, 4) pixels (x1, y1, x2, y2).
            scores: (R,) detector scores, or None.
        Returns:
            int64 array (R,) of track ids (0, 1, 2, ... in order of first appearance).
        """
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        n = len(boxes)
        scores = (
            np.ones(n, np.float32) if scores is None else np.asarray(scores, np.float32).reshape(n)
        )
        inst = Instances(
            self.image_size,
            pred_boxes=Boxes(torch.from_numpy(boxes.copy())),
            pred_classes=torch.zeros(n, dtype=torch.int64),
            scores=torch.from_numpy(scores.copy()),
        )
        out = self._tracker.update(inst)
        # the tracker appends the lost tracks it keeps after the current boxes
        return np.asarray(out.ID[:n], dtype=np.int64)


class ScoreSmoother:
    """Mean of each track's scores over its last ``k`` keyframes (``k <= 1``: unchanged)."""

    def __init__(self, k):
        self.k = int(k)
        self._history = defaultdict(lambda: deque(maxlen=max(self.k, 1)))

    def __call__(self, ids, scores):
        """Smoothed (R, K) scores for tracks ``ids`` (R,) with this keyframe's ``scores``."""
        scores = np.asarray(scores, dtype=np.float32)
        if self.k <= 1 or len(scores) == 0:
            return scores
        out = np.empty_like(scores)
        for r, track in enumerate(np.asarray(ids).tolist()):
            history = self._history[track]
            history.append(scores[r])
            out[r] = np.mean(history, axis=0)
        return out

    def forget(self, keep_ids):
        """Drop the history of tracks not in ``keep_ids`` (bounded memory on long streams)."""
        keep = set(np.asarray(keep_ids).tolist())
        for track in [t for t in self._history if t not in keep]:
            del self._history[track]
