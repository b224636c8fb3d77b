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
from detectron2.structures import Boxes, Instances, pairwise_iou

from slowfast_det.ava.checks import action_id_message, action_ids_outside

from .clip_ops import ShapeOnlyInput as _ShapeOnlyInput
from .clip_ops import axis_affine as _axis_affine
from .clip_ops import new_clip_tensor, sample_color_jitter, train_augmentations
from .decode import read_frame, read_frame_size, reduced_decode_factor
from .frames import clip_frame_indices
from .video_reader import read_clip as read_video_clip
from .warp import FrameWarp

__all__ = ["AVADatasetMapper", "ISSUE_MISSING_FRAMES", "ISSUE_SKIPPED_CLIPS", "ISSUE_NO_BOXES"]

logger = logging.getLogger(__name__)

#: ``data_issues`` keys produced by the mapper.
ISSUE_MISSING_FRAMES = "missing_frames"  # clip frames replaced by the nearest readable frame
ISSUE_SKIPPED_CLIPS = "skipped_clips"  # clips with no readable frame (sample skipped)
ISSUE_NO_BOXES = "clips_without_boxes"  # training clips with no person box left (sample skipped)

_DETAILED_WARNINGS = 20  # per process; afterwards only the counts (epoch summary) report
_warnings_left = [_DETAILED_WARNINGS]


def _log_issue(msg, *args):
    if _warnings_left[0] > 0:
        _warnings_left[0] -= 1
        suffix = (
            "" if _warnings_left[0] else " (further data warnings of this process are only counted)"
        )
        logger.warning(msg + suffix, *args)
    else:
        logger.debug(msg, *args)


def replace_missing_frames(names, missing, readable, copy, why=""):
    """The clip's recovery of missing frames: each clip position in ``missing`` gets the
    nearest position in ``readable`` (ties: the earlier one); logged, counted by the caller.

    Args:
        names: per clip position, how logs name the frame (path, or movie@index).
        missing, readable: clip positions (lists of ints); ``readable`` is not empty.
        copy: ``copy(i, j)`` gives position ``i`` the frame of position ``j``.
        why: text appended to the log message (e.g. the decoder's error).
    Returns:
        the number of replaced frames (``len(missing)``).
    """
    for i in missing:
        j = min(readable, key=lambda r: (abs(r - i), r))
        _log_issue("Frame %s is missing or unreadable%s; using %s instead", names[i], why, names[j])
        copy(i, j)
    return len(missing)


class AVADatasetMapper:
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

    # ------------------------------------------------------------------ boxes

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

    # ------------------------------------------------------------------ geometry

    def _source(self, dataset_dict, kinds=("frames", "video")):
        src = dataset_dict["frame_source"]
        if src.get("type") not in kinds:
            raise ValueError(
                f"{dataset_dict.get('image_id')}: frame_source type {src.get('type')!r} is not "
                f"supported (supported: {', '.join(map(repr, kinds))})"
            )
        return src

    def clip_frame_indices(self, dataset_dict):
        """The clip's frame indices in the source's frame index (the AVA clip convention)."""
        src = self._source(dataset_dict)
        n = (
            len(src["table"])
            if src["type"] == "frames"
            else (src["num_frames"] or np.iinfo(np.int32).max)
        )
        return clip_frame_indices(
            dataset_dict["timestamp"],
            self.num_frames,
            self.sampling_rate,
            n,
            src["fps"],
            src["start_second"],
        ).tolist()

    def clip_frame_paths(self, dataset_dict):
        """The paths of the dict's clip frames, in time order (frame sources of image files)."""
        return self._source(dataset_dict, ("frames",))["table"].paths(
            self.clip_frame_indices(dataset_dict)
        )

    def read_clip_frames(self, dataset_dict, factor):
        """The clip's frames from a "video" source (the movie, decoded by time:
        :mod:`slowfast_det.data.video_reader`): (names, list of BGR arrays or None (missing),
        error). ``names`` name each clip frame in logs (movie and frame index). Image-file
        sources are decoded straight into the clip by :meth:`decode_clip`.
        """
        src = self._source(dataset_dict, ("video",))
        idx = self.clip_frame_indices(dataset_dict)
        frames, error = read_video_clip(src, idx, factor)
        return [f"{src['path']}@{i}" for i in idx], frames, error

    def source_size(self, dataset_dict):
        """(height, width) of the dict's frames, or None when no frame can be read."""
        src = self._source(dataset_dict)
        if src["type"] == "video":
            return (src["height"], src["width"]) if src.get("height") else None
        return self._source_size(dataset_dict, self.clip_frame_paths(dataset_dict))

    def _source_size(self, dataset_dict, paths):
        mid = len(paths) // 2
        order = sorted(range(len(paths)), key=lambda i: (abs(i - mid), i))
        for p in [dataset_dict.get("keyframe_path")] + [paths[i] for i in order]:
            if p:
                size = read_frame_size(p)
                if size is not None:
                    return size
        return None

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

    # ------------------------------------------------------------------ pixels

    def sample_color_jitter(self):
        """The training colour jitter: ``[(name, factor), ...]`` in a random order, or None
        when off.

        Brightness, contrast and saturation each get a factor uniform in
        ``[max(0, 1 - j), 1 + j]``; the model applies them on its device
        (:func:`slowfast_det.modeling.preprocess.apply_color_jitter`).
        """
        return sample_color_jitter(self.color_jitter)

    @staticmethod
    def _new_clip_tensor(shape):
        return new_clip_tensor(shape)

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

    def frames_to_clip(self, frames, affine, src_hw, factor, out_hw):
        """Decoded frames -> the uint8 RGB clip tensor (3, T, H, W)
        (:class:`~slowfast_det.data.warp.FrameWarp`).

        Args:
            frames: list of T BGR uint8 arrays; a frame object that repeats (clamped clip
                ends) is warped once.
            affine: (ax, bx, ay, by), the clip transform from source to output pixels.
            src_hw: source frame size; factor: decode reduction the frames were read at;
            out_hw: output size (H, W).
        """
        clip = self._new_clip_tensor((3, len(frames), *out_hw))
        if frames:
            FrameWarp(affine, src_hw, factor, frames[0].shape[:2], out_hw).write_clip(
                frames, clip.numpy()
            )
        return clip

    def decode_clip(self, paths, factor, affine, src_hw, out_hw):
        """Decode the clip's image files one at a time straight into the uint8 RGB clip.

        Each frame is decoded (at 1/``factor`` size), warped and split into the clip's
        planes while it is in cache; a path that repeats (clamped clip ends) is decoded
        once. A missing or unreadable frame gets the planes of the nearest readable frame
        of the clip (logged). Same clip as ``frames_to_clip`` of all decoded frames.

        Returns:
            (clip tensor (3, T, H, W), number of replaced frames), or (None, T) when no
            frame can be read.
        """
        clip = self._new_clip_tensor((3, len(paths), *out_hw))
        dst = clip.numpy()
        first, readable, missing, warps = {}, [], [], {}  # path -> its first clip index
        for i, p in enumerate(paths):
            j = first.setdefault(p, i)
            if j != i:  # decoded (or found unreadable) at index j already
                if j in readable:
                    dst[:, i] = dst[:, j]
                    readable.append(i)
                else:
                    missing.append(i)
                continue
            img = read_frame(p, factor)
            if img is None:
                missing.append(i)
                continue
            warp = warps.get(img.shape)
            if warp is None:
                warp = warps[img.shape] = FrameWarp(affine, src_hw, factor, img.shape[:2], out_hw)
            warp.write(img, dst[:, i])
            readable.append(i)
        if not readable:
            return None, len(paths)

        def copy(i, j):
            dst[:, i] = dst[:, j]

        return clip, replace_missing_frames(paths, missing, readable, copy)

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
