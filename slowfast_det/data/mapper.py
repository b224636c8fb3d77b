"""AVADatasetMapper: dataset dict (one keyframe) -> model input (decoded, augmented uint8 clip).

The clip's frame indices come from ``INPUT.NUM_FRAMES`` / ``INPUT.SAMPLING_RATE`` and the
dict's keyframe (:func:`~slowfast_det.data.frames.clip_frame_indices`). Per clip, one
geometric transform (Detectron2 augmentations: short-side resize, crop, horizontal flip) is
sampled and applied to every frame and to the boxes. Frames are decoded only for the clip's
frames, at 1/2, 1/4 or 1/8 size when the transform's scale allows
(:func:`~slowfast_det.data.decode.reduced_decode_factor`), one at a time: each decoded
frame is resized (only the source rectangle the crop needs) and split straight into the
uint8 RGB clip's planes while it is in cache (:class:`~slowfast_det.data.warp.FrameWarp`).
Normalisation, the colour jitter (whose parameters are drawn here) and the pathway split
happen in the model, on its device. The mapper reads no ``MODEL.*`` key.

This module holds the mapper itself (its config, the call, the skip counts); its clip
reading is :class:`~.mapper_clips.AVAClipReading`, its boxes and geometric transform
:class:`~.mapper_boxes.AVABoxTransforms` (its base classes).

Frames come from the dict's ``frame_source``: image files (``"frames"``) or the movie,
decoded by time (``"video"``, :mod:`slowfast_det.data.video_reader`).

Bad data: a frame that is missing or cannot be decoded (a missing or unreadable file; a
movie that cannot be opened, is truncated or fails to decode part way) is replaced by the
nearest readable frame of the clip (same video), logged and counted; a clip with no readable
frame is skipped (the mapper returns None and Detectron2's MapDataset tries another index).
The counts travel with the next sample the worker returns, in ``data_issues`` (see
:mod:`slowfast_det.data.issues`).
"""

import logging
import sys
from collections import Counter

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import transforms as T
from detectron2.structures import Boxes, Instances

from .clip_ops import axis_affine as _axis_affine
from .clip_ops import sample_color_jitter, train_augmentations
from .decode import reduced_decode_factor
from .mapper_boxes import AVABoxTransforms
from .mapper_clips import AVAClipReading, replace_missing_frames

__all__ = ["AVADatasetMapper", "ISSUE_MISSING_FRAMES", "ISSUE_SKIPPED_CLIPS", "ISSUE_NO_BOXES"]

logger = logging.getLogger(__name__)

#: ``data_issues`` keys produced by the mapper.
ISSUE_MISSING_FRAMES = "missing_frames"  # clip frames replaced by the nearest readable frame
ISSUE_SKIPPED_CLIPS = "skipped_clips"  # clips with no readable frame (sample skipped)
ISSUE_NO_BOXES = "clips_without_boxes"  # training clips with no person box left (sample skipped)


class AVADatasetMapper(AVAClipReading, AVABoxTransforms):
    """Map an AVA dataset dict to the model input (``docs/DATAFLOW.md``).

    Output dict::

        clip: uint8 tensor (3, T, H, W), RGB, not normalised (the model normalises it and
              splits the pathways)
        color_jitter: at training with jitter on, the ordered [(name, factor), ...] the
              model applies (modeling.preprocess.apply_color_jitter)
        instances: Instances(image_size=(H, W)) with proposal_boxes (Boxes (R, 4), clip
              pixels) and, at training, gt_actions (int64 (R, M) action ids, 0-padded;
              the model makes the (R, K) multi-hot)
        height, width: the source frame size (output boxes are wanted in it)
        video_id, timestamp, image_id: passed through
        data_issues: dict of counts of data problems met since the previous returned sample
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations,
        num_frames=32,
        sampling_rate=2,
        color_jitter=0.0,
        reduced_decode=True,
        use_predicted_boxes=False,
        predicted_box_iou_thresh=0.9,
        detection_score_thresh=0.8,
        min_box_size=1.0,
        max_crop_tries=10,
    ):
        """
        Args:
            is_train: training (gt boxes with labels, random augmentation) or testing
                (predicted boxes with score >= detection_score_thresh, deterministic).
            augmentations: list of Detectron2 augmentations producing resize / crop / flip
                transforms, applied to every frame and box of the clip.
            num_frames, sampling_rate: the clip: ``num_frames`` frames ``sampling_rate``
                apart around the keyframe (the AVA clip convention).
            color_jitter: brightness/contrast/saturation jitter strength at training (0: off);
                the factors are drawn here, the model applies them.
            reduced_decode: decode JPEGs at 1/2, 1/4, 1/8 size when the target allows.
            use_predicted_boxes: training also uses predicted boxes with IoU >
                predicted_box_iou_thresh to a gt box (taking that box's labels).
            detection_score_thresh: test-time minimum detector score.
            min_box_size: training boxes narrower or lower than this (pixels) after the crop
                are dropped; if none is left the crop is re-sampled (max_crop_tries times),
                then the sample is skipped.
        """
        if num_frames < 1 or sampling_rate < 1:
            raise ValueError(
                f"num_frames and sampling_rate must be >= 1, got {num_frames}, {sampling_rate}"
            )
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.num_frames = int(num_frames)
        self.sampling_rate = int(sampling_rate)
        self.color_jitter = float(color_jitter) if is_train else 0.0
        self.reduced_decode = reduced_decode
        self.use_predicted_boxes = use_predicted_boxes
        self.predicted_box_iou_thresh = predicted_box_iou_thresh
        self.detection_score_thresh = detection_score_thresh
        self.min_box_size = min_box_size
        self.max_crop_tries = max_crop_tries
        self._pending = Counter()
        mode = "training" if is_train else "inference"
        logger.info("[AVADatasetMapper] augmentations used in %s: %s", mode, augmentations)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        big = sys.maxsize
        if is_train:
            augs = train_augmentations(
                cfg.INPUT.TRAIN_JITTER_SCALES, cfg.INPUT.TRAIN_CROP_SIZE, cfg.INPUT.FLIP_PROB
            )
        else:
            augs = [T.ResizeShortestEdge(cfg.INPUT.TEST_SIZE, max_size=big, sample_style="choice")]
        return {
            "is_train": is_train,
            "augmentations": augs,
            "num_frames": cfg.INPUT.NUM_FRAMES,
            "sampling_rate": cfg.INPUT.SAMPLING_RATE,
            "color_jitter": cfg.INPUT.COLOR_JITTER,
            "reduced_decode": cfg.INPUT.REDUCED_DECODE,
            "use_predicted_boxes": cfg.AVA.TRAIN_USE_PREDICTED_BOXES,
            "predicted_box_iou_thresh": cfg.AVA.TRAIN_PREDICTED_BOX_IOU_THRESH,
            "detection_score_thresh": cfg.AVA.DETECTION_SCORE_THRESH,
        }

    # ------------------------------------------------------------------ colour, issues

    def sample_color_jitter(self):
        """The training colour jitter: ``[(name, factor), ...]`` in a random order, or None
        when off.

        Brightness, contrast and saturation each get a factor uniform in
        ``[max(0, 1 - j), 1 + j]``; the model applies them on its device
        (:func:`slowfast_det.modeling.preprocess.apply_color_jitter`).
        """
        return sample_color_jitter(self.color_jitter)

    def take_issues(self, extra=None):
        """Counts of problems met since the last returned sample (plus ``extra``); resets them."""
        issues = self._pending
        self._pending = Counter()
        if extra:
            issues.update(extra)
        return dict(issues)

    def _skip(self, dataset_dict, key, reason):
        self._pending[key] += 1
        logger.warning("Skipping clip %s: %s", dataset_dict.get("image_id"), reason)
        return None

    def map_frames(self, frames, boxes):
        """This mapper's transform applied to a clip already in memory (e.g. a decoded video).

        Args:
            frames: sequence of T BGR uint8 frames (H, W, 3), in time order.
            boxes: (R, 4) person boxes (x1, y1, x2, y2) in pixels of (H, W).
        Returns:
            (clip: uint8 tensor (3, T, H', W'), RGB, boxes: float64 (R', 4) in clip pixels
            (R' = R at test time), (H', W')). A training mapper with colour jitter draws
            factors the caller does not get; use ``__call__`` for training samples.
        Raises:
            ValueError when training and no box survives the sampled crops.
        """
        frames = list(frames)
        height, width = frames[0].shape[:2]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        sampled = self.sample_transform(height, width, boxes)
        if sampled is None:
            raise ValueError(f"no person box left inside {self.max_crop_tries} sampled crops")
        tfms, out_hw, boxes, keep = sampled
        clip = self.frames_to_clip(frames, _axis_affine(tfms), (height, width), 1, out_hw)
        return clip, boxes[keep], out_hw

    # ------------------------------------------------------------------ main

    def __call__(self, dataset_dict):
        """dataset dict -> model input dict, or None to skip the sample (see the class doc)."""
        d = dataset_dict
        size = self.source_size(d)
        if (
            size is None and d["frame_source"]["type"] == "video"
        ):  # header unreadable: the frames tell
            _, frames, _ = self.read_clip_frames(d, 1)
            size = next((f.shape[:2] for f in frames if f is not None), None)
        if size is None:
            return self._skip(
                d, ISSUE_SKIPPED_CLIPS, f"no readable frame among the {self.num_frames} clip frames"
            )
        height, width = size
        boxes, labels = self.select_boxes(d)
        if self.is_train and len(boxes) == 0:
            return self._skip(d, ISSUE_NO_BOXES, "no ground-truth person box")
        scale = np.array([width, height, width, height], dtype=np.float64)
        sampled = self.sample_transform(height, width, boxes * scale)
        if sampled is None:
            return self._skip(
                d, ISSUE_NO_BOXES, f"no person box left inside {self.max_crop_tries} sampled crops"
            )
        tfms, (out_h, out_w), boxes, keep = sampled
        affine = _axis_affine(tfms)
        factor = reduced_decode_factor(affine[2], affine[0]) if self.reduced_decode else 1

        if (
            d["frame_source"]["type"] == "frames"
        ):  # image files: decoded one at a time into the clip
            paths = self.clip_frame_paths(d)
            clip, replaced = self.decode_clip(
                paths, factor, affine, (height, width), (out_h, out_w)
            )
            if clip is None:
                return self._skip(
                    d,
                    ISSUE_SKIPPED_CLIPS,
                    f"none of its {len(paths)} frames can be read (e.g. {paths[0]})",
                )
        else:
            names, decoded, error = self.read_clip_frames(d, factor)
            readable = [i for i, f in enumerate(decoded) if f is not None]
            if not readable:
                why = f" ({error})" if error else ""
                return self._skip(
                    d,
                    ISSUE_SKIPPED_CLIPS,
                    f"none of its {len(names)} frames can be read (e.g. {names[0]}){why}",
                )

            frames = list(decoded)
            missing = [i for i, f in enumerate(decoded) if f is None]
            replaced = replace_missing_frames(
                names,
                missing,
                readable,
                lambda i, j: frames.__setitem__(i, decoded[j]),
                f" ({error})" if error else "",
            )
            clip = self.frames_to_clip(frames, affine, (height, width), factor, (out_h, out_w))
        jitter = (
            self.sample_color_jitter() if self.is_train else None
        )  # drawn where the mapper used to apply it

        boxes, labels_kept = boxes[keep], None
        instances = Instances((out_h, out_w))
        instances.proposal_boxes = Boxes(torch.from_numpy(boxes.astype(np.float32)))
        if self.is_train:
            labels_kept = [lab for lab, k in zip(labels, keep) if k]
            instances.gt_actions = self._gt_actions(labels_kept, d)
        out = {
            "clip": clip,
            "instances": instances,
            "height": height,
            "width": width,
            "video_id": d["video_id"],
            "timestamp": d["timestamp"],
            "image_id": d["image_id"],
            "data_issues": self.take_issues({ISSUE_MISSING_FRAMES: replaced} if replaced else None),
        }
        if jitter:
            out["color_jitter"] = jitter
        return out
