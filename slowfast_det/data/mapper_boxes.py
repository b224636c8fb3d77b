"""The AVA mapper's boxes: which person boxes a clip uses, and the clip's geometric transform.

:class:`AVABoxTransforms` is the part of :class:`~.mapper.AVADatasetMapper` that selects
the boxes (training: the ground truth, optionally with matching predicted boxes; testing:
predicted boxes above the score threshold), turns their action ids into the padded
``gt_actions`` tensor, and samples the clip's geometric transform (Detectron2
augmentations), applying it to the boxes and re-sampling crops that leave no box.
"""

import numpy as np
import torch
from detectron2.structures import Boxes, pairwise_iou

from slowfast_det.ava.checks import action_id_message, action_ids_outside

from .clip_ops import ShapeOnlyInput as _ShapeOnlyInput

__all__ = ["AVABoxTransforms"]


class AVABoxTransforms:
    """The boxes and geometric transform of :class:`~.mapper.AVADatasetMapper` (a base class
    of it; uses the mapper's ``is_train``, box thresholds, ``augmentations``,
    ``min_box_size`` and ``max_crop_tries``)."""

    def select_boxes(self, dataset_dict):
        """Boxes this mapper uses, normalised: (float64 (R, 4), int labels list-of-lists or None).

        Training: the ground-truth persons, plus (if enabled) predicted boxes whose IoU with
        a ground-truth box exceeds the threshold, with that box's labels. Testing: predicted
        boxes with score >= detection_score_thresh (labels None).
        """
        props = dataset_dict.get("proposals") or {}
        pboxes = np.asarray(props.get("boxes", np.zeros((0, 4))), dtype=np.float64).reshape(-1, 4)
        pscores = np.asarray(props.get("scores", np.zeros((0,))), dtype=np.float64).reshape(-1)
        if not self.is_train:
            return pboxes[pscores >= self.detection_score_thresh], None
        anns = dataset_dict.get("annotations", [])
        boxes = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        labels = [list(a["labels"]) for a in anns]
        if self.use_predicted_boxes and len(pboxes) and len(boxes):
            iou = pairwise_iou(
                Boxes(torch.from_numpy(pboxes)), Boxes(torch.from_numpy(boxes))
            ).numpy()
            best = iou.argmax(axis=1)
            keep = iou[np.arange(len(pboxes)), best] > self.predicted_box_iou_thresh
            boxes = np.concatenate([boxes, pboxes[keep]])
            labels = labels + [labels[j] for j in best[keep]]
        return boxes, labels

    @staticmethod
    def _gt_actions(labels, dataset_dict):
        """Per box the list of action ids -> int64 (R, M) 0-padded (M >= 1).

        An id < 1 (which the padding would hide) is a ValueError naming the keyframe
        (:func:`~slowfast_det.ava.checks.action_ids_outside`; the loader checks the
        dataset's ``1..num_classes`` with it, the model its ``NUM_CLASSES``).
        """
        flat = [a for ids in labels for a in ids]
        bad = action_ids_outside(flat)
        if len(bad):
            raise ValueError(f"{dataset_dict.get('image_id')}: {action_id_message(flat[bad[0]])}")
        out = torch.zeros((len(labels), max([1] + [len(ids) for ids in labels])), dtype=torch.int64)
        for r, ids in enumerate(labels):
            for j, a in enumerate(ids):
                out[r, j] = int(a)
        return out

    def sample_transform(self, height, width, boxes_px):
        """Sample the clip's geometric transform.

        Args:
            height, width: source frame size.
            boxes_px: float64 (R, 4) boxes in source pixels.

        Returns:
            (TransformList, (out_h, out_w), boxes (R, 4) in output pixels clipped to it,
            keep mask (R,)) or None when training and no box survives ``max_crop_tries`` crops.
        """
        for _ in range(self.max_crop_tries if self.is_train else 1):
            aug_input = _ShapeOnlyInput(height, width)
            tfms = self.augmentations(aug_input)
            out_h, out_w = aug_input.image.shape[:2]
            boxes = tfms.apply_box(boxes_px.copy()) if len(boxes_px) else boxes_px.copy()
            boxes = boxes.reshape(-1, 4)
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, out_w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, out_h)
            if not self.is_train:
                return tfms, (out_h, out_w), boxes, np.ones(len(boxes), dtype=bool)
            keep = ((boxes[:, 2] - boxes[:, 0]) >= self.min_box_size) & (
                (boxes[:, 3] - boxes[:, 1]) >= self.min_box_size
            )
            if keep.any():
                return tfms, (out_h, out_w), boxes, keep
        return None
