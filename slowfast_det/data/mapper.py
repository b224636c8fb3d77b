"""AVADatasetMapper: dataset dict (one keyframe) -> model input (decoded, augmented clip).

Per clip, one geometric transform (Detectron2 augmentations: short-side resize, crop,
horizontal flip) is sampled and applied to every frame and to the boxes. Frames are
decoded only for the clip's frame paths, at 1/2, 1/4 or 1/8 size when the transform's
scale allows (:func:`~slowfast_det.data.decode.reduced_decode_factor`), and each decoded
frame goes through a single resize / affine warp straight to the output size, then is
normalised into the output tensor.

Bad data: a frame that is missing or cannot be decoded is replaced by the nearest readable
frame of the clip (same video), logged and counted; a clip with no readable frame is
skipped (the mapper returns None and Detectron2's MapDataset tries another index). The
counts travel with the next sample the worker returns, in ``data_issues`` (see
:mod:`slowfast_det.data.issues`).
"""
import logging
import sys
from collections import Counter

import cv2
import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import transforms as T
from detectron2.structures import Boxes, Instances, pairwise_iou
from fvcore.transforms.transform import HFlipTransform, NoOpTransform, VFlipTransform

from .decode import read_frame, read_frame_size, reduced_decode_factor

__all__ = ["AVADatasetMapper", "pathway_indices", "ISSUE_MISSING_FRAMES", "ISSUE_SKIPPED_CLIPS", "ISSUE_NO_BOXES"]

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
        suffix = "" if _warnings_left[0] else " (further data warnings of this process are only counted)"
        logger.warning(msg + suffix, *args)
    else:
        logger.debug(msg, *args)


def pathway_indices(num_frames, alpha):
    """Indices of the Slow pathway's frames among the Fast pathway's ``num_frames`` frames.

    ``torch.linspace(0, T - 1, T // alpha).long()``, as PySlowFast and pytorchvideo.
    """
    return torch.linspace(0, num_frames - 1, num_frames // alpha).long()


class _ShapeOnlyInput:
    """Stands in for an image in Detectron2 augmentations: only its ``.shape`` is read.

    Supports the geometric transforms of the clip pipeline (resize, crop, flips); the
    frames themselves are transformed later, all with the same sampled transform.
    """

    def __init__(self, height, width):
        self.image = np.broadcast_to(np.zeros((1, 1, 3), dtype=np.uint8), (height, width, 3))

    def transform(self, tfm):
        h, w = self.image.shape[:2]
        if isinstance(tfm, T.ResizeTransform):
            h, w = tfm.new_h, tfm.new_w
        elif isinstance(tfm, T.CropTransform):
            h, w = tfm.h, tfm.w
        elif not isinstance(tfm, (HFlipTransform, VFlipTransform, NoOpTransform)):
            raise NotImplementedError(f"AVADatasetMapper supports resize, crop and flip augmentations, not {tfm}")
        self.image = np.broadcast_to(np.zeros((1, 1, 3), dtype=np.uint8), (h, w, 3))


def _axis_affine(tfms):
    """(ax, bx, ay, by): the transform list maps a source point (x, y) to (ax x + bx, ay y + by)."""
    p = tfms.apply_coords(np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float64))
    return p[1, 0] - p[0, 0], p[0, 0], p[1, 1] - p[0, 1], p[0, 1]


class AVADatasetMapper:
    """Map an AVA dataset dict to the model input (``docs/DATAFLOW.md``).

    Output dict::

        clip: list of float32 tensors (C, T_p, H, W), RGB, (x / 255 - mean) / std;
              [slow (C, T // alpha, H, W), fast (C, T, H, W)] for "slowfast",
              [the T-frame clip] for "slow" and "fast"
        instances: Instances(image_size=(H, W)) with proposal_boxes (Boxes (R, 4), clip
              pixels) and, at training, gt_labels (float32 (R, K) multi-hot, column id-1)
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
        num_classes,
        pathways="slowfast",
        alpha=4,
        clip_mean=(0.45, 0.45, 0.45),
        clip_std=(0.225, 0.225, 0.225),
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
            num_classes: K, the multi-hot length (action ids 1..K).
            pathways: "slowfast" ([slow, fast]), "slow" or "fast" (one tensor: the clip).
            alpha: Fast/Slow frame-rate ratio (Slow = T // alpha frames).
            clip_mean, clip_std: per-channel (RGB) statistics of pixels scaled to [0, 1].
            color_jitter: brightness/contrast/saturation jitter strength at training (0: off).
            reduced_decode: decode JPEGs at 1/2, 1/4, 1/8 size when the target allows.
            use_predicted_boxes: training also uses predicted boxes with IoU >
                predicted_box_iou_thresh to a gt box (taking that box's labels).
            detection_score_thresh: test-time minimum detector score.
            min_box_size: training boxes narrower or lower than this (pixels) after the crop
                are dropped; if none is left the crop is re-sampled (max_crop_tries times),
                then the sample is skipped.
        """
        if pathways not in ("slowfast", "slow", "fast"):
            raise ValueError(f"pathways must be 'slowfast', 'slow' or 'fast', got {pathways!r}")
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.num_classes = num_classes
        self.pathways = pathways
        self.alpha = alpha
        mean = np.asarray(clip_mean, dtype=np.float32)
        std = np.asarray(clip_std, dtype=np.float32)
        if mean.shape != (3,) or std.shape != (3,) or (std <= 0).any():
            raise ValueError(f"clip_mean and clip_std must be 3 values with std > 0, got {clip_mean}, {clip_std}")
        self.clip_mean, self.clip_std = mean, std
        # uint8 -> float32 lookup tables, RGB order: (x / 255 - mean) / std, and x / 255 for jitter
        levels = np.arange(256, dtype=np.float32)
        self._norm_luts = [((levels / 255.0 - mean[c]) / std[c]).astype(np.float32) for c in range(3)]
        self._unit_luts = [(levels / 255.0).astype(np.float32)] * 3
        self.color_jitter = float(color_jitter) if is_train else 0.0
        self.reduced_decode = reduced_decode
        self.use_predicted_boxes = use_predicted_boxes
        self.predicted_box_iou_thresh = predicted_box_iou_thresh
        self.detection_score_thresh = detection_score_thresh
        self.min_box_size = min_box_size
        self.max_crop_tries = max_crop_tries
        self._pending = Counter()
        mode = "training" if is_train else "inference"
        logger.info(f"[AVADatasetMapper] augmentations used in {mode}: {augmentations}")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        big = sys.maxsize
        if is_train:
            augs = [T.ResizeShortestEdge(tuple(cfg.INPUT.TRAIN_JITTER_SCALES), max_size=big, sample_style="range")]
            if cfg.INPUT.TRAIN_CROP_SIZE > 0:
                augs.append(T.RandomCrop("absolute", (cfg.INPUT.TRAIN_CROP_SIZE, cfg.INPUT.TRAIN_CROP_SIZE)))
            if cfg.INPUT.FLIP_PROB > 0:
                augs.append(T.RandomFlip(prob=cfg.INPUT.FLIP_PROB, horizontal=True, vertical=False))
        else:
            augs = [T.ResizeShortestEdge(cfg.INPUT.TEST_SIZE, max_size=big, sample_style="choice")]
        arch = cfg.MODEL.SLOWFAST.ARCH
        alpha = cfg.MODEL.SLOWFAST.ALPHA
        if arch == "slowfast" and cfg.INPUT.NUM_FRAMES < alpha:
            raise ValueError(f"INPUT.NUM_FRAMES ({cfg.INPUT.NUM_FRAMES}) must be >= MODEL.SLOWFAST.ALPHA ({alpha})")
        return {
            "is_train": is_train,
            "augmentations": augs,
            "num_classes": cfg.MODEL.ROI_HEADS.NUM_CLASSES,
            "pathways": arch,
            "alpha": alpha,
            "clip_mean": tuple(cfg.INPUT.CLIP_MEAN),
            "clip_std": tuple(cfg.INPUT.CLIP_STD),
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
            iou = pairwise_iou(Boxes(torch.from_numpy(pboxes)), Boxes(torch.from_numpy(boxes))).numpy()
            best = iou.argmax(axis=1)
            keep = iou[np.arange(len(pboxes)), best] > self.predicted_box_iou_thresh
            boxes = np.concatenate([boxes, pboxes[keep]])
            labels = labels + [labels[j] for j in best[keep]]
        return boxes, labels

    def _multi_hot(self, labels, dataset_dict):
        out = torch.zeros((len(labels), self.num_classes), dtype=torch.float32)
        for r, ids in enumerate(labels):
            for a in ids:
                if not 1 <= a <= self.num_classes:
                    raise ValueError(
                        f"{dataset_dict.get('image_id')}: action id {a} outside 1..{self.num_classes} "
                        "(MODEL.ROI_HEADS.NUM_CLASSES)"
                    )
                out[r, a - 1] = 1.0
        return out

    # ------------------------------------------------------------------ geometry

    def _source_size(self, dataset_dict):
        paths = dataset_dict["frame_paths"]
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
            keep = ((boxes[:, 2] - boxes[:, 0]) >= self.min_box_size) & ((boxes[:, 3] - boxes[:, 1]) >= self.min_box_size)
            if keep.any():
                return tfms, (out_h, out_w), boxes, keep
        return None

    @staticmethod
    def _warp(img, affine, src_hw, factor, out_hw):
        """Apply the clip transform to one decoded frame (BGR uint8) in one resize or warp.

        ``affine`` = (ax, bx, ay, by) maps source-pixel coordinates to output coordinates;
        ``img`` was decoded at 1/factor of ``src_hw`` (or at whatever size it has).
        """
        ax, bx, ay, by = affine
        (src_h, src_w), (out_h, out_w) = src_hw, out_hw
        h, w = img.shape[:2]
        if factor > 1 and (h, w) == (-(-src_h // factor), -(-src_w // factor)):
            rx = ry = 1.0 / factor  # libjpeg DCT scaling: reduced pixel i covers source [i f, (i+1) f)
        else:
            rx, ry = w / src_w, h / src_h
        sx, sy = ax / rx, ay / ry  # output pixels per decoded pixel
        full = abs(bx) < 1e-6 and abs(by) < 1e-6 and sx > 0 and sy > 0
        if full and abs(sx * w - out_w) <= 1 and abs(sy * h - out_h) <= 1:
            if (h, w) == (out_h, out_w):
                return img
            return cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        # output pixel centre u + 0.5 = s (v + 0.5) + b  =>  v = (u + 0.5 - b) / s - 0.5
        m = np.array([[1.0 / sx, 0.0, (0.5 - bx) / sx - 0.5], [0.0, 1.0 / sy, (0.5 - by) / sy - 0.5]])
        return cv2.warpAffine(
            img, m, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )

    # ------------------------------------------------------------------ pixels

    def _color_jitter(self, clip):
        """Brightness, contrast and saturation jitter, in random order, on a (3, T, H, W) [0, 1] clip."""
        j = self.color_jitter
        for op in np.random.permutation(3):
            f = float(np.random.uniform(max(0.0, 1.0 - j), 1.0 + j))
            if op == 0:
                clip.mul_(f)
            else:
                gray = 0.299 * clip[0] + 0.587 * clip[1] + 0.114 * clip[2]  # (T, H, W)
                ref = gray.mean() if op == 1 else gray.unsqueeze(0)
                clip.sub_(ref).mul_(f).add_(ref)
            clip.clamp_(0.0, 1.0)
        return clip

    @staticmethod
    def _new_clip_tensor(shape):
        t = torch.empty(shape, dtype=torch.float32)
        if torch.utils.data.get_worker_info() is not None:
            # in a DataLoader worker the sample is sent through shared memory: allocate it there
            # (as torch's default_collate does) instead of copying it when it is sent
            t.share_memory_()
        return t

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

    def frames_to_pathways(self, frames, affine, src_hw, factor, out_hw):
        """Decoded frames -> the model's pathway tensors (warp, RGB, normalise, jitter, split).

        Args:
            frames: list of T BGR uint8 arrays; a frame object that repeats (clamped clip
                ends) is warped once.
            affine: (ax, bx, ay, by), the clip transform from source to output pixels.
            src_hw: source frame size; factor: decode reduction the frames were read at;
            out_hw: output size (H, W).
        Returns:
            list of float32 tensors (3, T_p, H, W): [slow, fast] or [clip] (see the class doc).
        """
        out_h, out_w = out_hw
        num = len(frames)
        clip = self._new_clip_tensor((3, num, out_h, out_w))
        dst = clip.numpy()
        jitter = self.color_jitter > 0
        luts = self._unit_luts if jitter else self._norm_luts
        slow = slow_dst = None
        slow_pos = {}  # fast index -> slow index
        if self.pathways == "slowfast":
            idx = pathway_indices(num, self.alpha)
            slow = self._new_clip_tensor((3, len(idx), out_h, out_w))
            if not jitter:  # written frame by frame below; with jitter taken after it
                slow_dst = slow.numpy()
                slow_pos = {int(t): j for j, t in enumerate(idx)}
        warped = {}  # id(frame) -> warped frame; ``frames`` keeps every frame alive
        for i, frame in enumerate(frames):
            img = warped.get(id(frame))
            if img is None:
                img = warped[id(frame)] = self._warp(frame, affine, src_hw, factor, out_hw)
            planes = cv2.split(img)
            for c in range(3):  # BGR -> RGB; one table lookup per pixel, written in place
                cv2.LUT(planes[2 - c], luts[c], dst=dst[c, i])
            j = slow_pos.get(i)
            if j is not None:
                np.copyto(slow_dst[:, j], dst[:, i])
        if jitter:
            self._color_jitter(clip)
            clip.sub_(torch.from_numpy(self.clip_mean).view(3, 1, 1, 1)).div_(torch.from_numpy(self.clip_std).view(3, 1, 1, 1))
            if slow is not None:
                torch.index_select(clip, 1, idx, out=slow)
        return [slow, clip] if slow is not None else [clip]

    def map_frames(self, frames, boxes):
        """This mapper's transform applied to a clip already in memory (e.g. a decoded video).

        Args:
            frames: sequence of T BGR uint8 frames (H, W, 3), in time order.
            boxes: (R, 4) person boxes (x1, y1, x2, y2) in pixels of (H, W).
        Returns:
            (pathways: list of float32 tensors (3, T_p, H', W'), boxes: float64 (R', 4) in clip
            pixels (R' = R at test time), (H', W')).
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
        pathways = self.frames_to_pathways(frames, _axis_affine(tfms), (height, width), 1, out_hw)
        return pathways, boxes[keep], out_hw

    # ------------------------------------------------------------------ main

    def __call__(self, dataset_dict):
        """dataset dict -> model input dict, or None to skip the sample (see the class doc)."""
        d = dataset_dict
        paths = d["frame_paths"]
        size = self._source_size(d)
        if size is None:
            return self._skip(d, ISSUE_SKIPPED_CLIPS, f"no readable frame among {len(paths)} clip frames")
        height, width = size
        boxes, labels = self.select_boxes(d)
        if self.is_train and len(boxes) == 0:
            return self._skip(d, ISSUE_NO_BOXES, "no ground-truth person box")
        scale = np.array([width, height, width, height], dtype=np.float64)
        sampled = self.sample_transform(height, width, boxes * scale)
        if sampled is None:
            return self._skip(d, ISSUE_NO_BOXES, f"no person box left inside {self.max_crop_tries} sampled crops")
        tfms, (out_h, out_w), boxes, keep = sampled
        affine = _axis_affine(tfms)
        factor = reduced_decode_factor(affine[2], affine[0]) if self.reduced_decode else 1

        decoded = {p: read_frame(p, factor) for p in dict.fromkeys(paths)}
        readable = [i for i, p in enumerate(paths) if decoded[p] is not None]
        if not readable:
            return self._skip(d, ISSUE_SKIPPED_CLIPS, f"none of its {len(paths)} frames can be read (e.g. {paths[0]})")

        frames, replaced = [], 0
        for i, p in enumerate(paths):
            if decoded[p] is None:
                src_i = min(readable, key=lambda j: (abs(j - i), j))
                _log_issue("Frame %s is missing or unreadable; using %s instead", p, paths[src_i])
                p = paths[src_i]
                replaced += 1
            frames.append(decoded[p])
        pathways = self.frames_to_pathways(frames, affine, (height, width), factor, (out_h, out_w))

        boxes, labels_kept = boxes[keep], None
        instances = Instances((out_h, out_w))
        instances.proposal_boxes = Boxes(torch.from_numpy(boxes.astype(np.float32)))
        if self.is_train:
            labels_kept = [lab for lab, k in zip(labels, keep) if k]
            instances.gt_labels = self._multi_hot(labels_kept, d)
        return {
            "clip": pathways,
            "instances": instances,
            "height": height,
            "width": width,
            "video_id": d["video_id"],
            "timestamp": d["timestamp"],
            "image_id": d["image_id"],
            "data_issues": self.take_issues({ISSUE_MISSING_FRAMES: replaced} if replaced else None),
        }
