"""Person boxes on keyframes: a Detectron2 detector, or an AVA-format box CSV.

* :func:`detector_config` / :func:`check_detector_weights`: the person detector's plain
  Detectron2 config, from a config file or a model-zoo name (resolved with
  ``detectron2.model_zoo``) plus weights, and the refusal of random weights;
* :class:`PersonDetector`: the one wrapper of such a detector, for the demo
  ``(frame BGR uint8 (H, W, 3)) -> (boxes (R, 4) pixels, scores (R,))`` and for
  ``tools/detect_persons.py`` (batches of :class:`DetectorInput` outputs);
* :class:`CSVBoxes` ``(timestamp, height, width) -> (boxes (R, 4) pixels, scores (R,))``.
"""

import logging
import os

import numpy as np
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from slowfast_det.ava.io import read_box_csv
from slowfast_det.checkpoint import local_weights
from slowfast_det.config import load_slowfast_cfg

from .predictor import RandomWeightsError, check_model_weights

__all__ = [
    "TOOL_OPTIONS",
    "DEMO_OPTIONS",
    "detector_config",
    "check_detector_weights",
    "DetectorInput",
    "PersonDetector",
    "CSVBoxes",
]

logger = logging.getLogger(__name__)

#: Names of the options that set the detector, for the messages: ``tools/detect_persons.py``'s
#: flags, and the demo's flags (the demo has no option to run a detector untrained).
TOOL_OPTIONS = {
    "config": "--detector-config",
    "weights": "--weights",
    "allow": "--allow-random-weights",
}
DEMO_OPTIONS = {"config": "--detector-config", "weights": "--detector-weights", "allow": None}


def detector_config(config, weights="", opts=(), device="cpu", score_thresh=0.05):
    """The person detector's plain Detectron2 config (no slowfast_det keys), built by the one
    config builder (:func:`~slowfast_det.config.load_slowfast_cfg`).

    Args:
        config: a Detectron2 config file, or a model-zoo name such as
            ``"COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"`` (resolved with
            ``detectron2.model_zoo.get_config_file``; the zoo's trained weights,
            ``get_checkpoint_url``, are ``MODEL.WEIGHTS`` unless ``opts`` or ``weights`` set it).
        weights: checkpoint path or URL (overrides the config's ``MODEL.WEIGHTS``).
        opts: config overrides ``[KEY, VALUE, ...]``.
        device: "cpu" or "cuda".
        score_thresh: the detector's test score threshold (ROI heads and RetinaNet).
    Returns:
        an unfrozen Detectron2 ``CfgNode``.
    Raises:
        FileNotFoundError when ``config`` is neither a file nor a model-zoo name.
    """
    zoo_weights = []
    if os.path.isfile(config):
        config_file = config
    else:
        # imported here: it imports pkg_resources (slow, warns), needed for zoo names only
        from detectron2 import model_zoo

        try:
            config_file = model_zoo.get_config_file(config)
        except RuntimeError:
            raise FileNotFoundError(
                f"person detector config {config!r} is neither a file nor a Detectron2 model-zoo "
                "name (e.g. COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml)"
            ) from None
        try:  # the zoo config's own MODEL.WEIGHTS is only its ImageNet initialisation
            zoo_weights = ["MODEL.WEIGHTS", model_zoo.get_checkpoint_url(config)]
        except RuntimeError:
            zoo_weights = ["MODEL.WEIGHTS", ""]
    values = {
        "MODEL.DEVICE": device,
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST": float(score_thresh),
        "MODEL.RETINANET.SCORE_THRESH_TEST": float(score_thresh),
    }
    if weights:
        values["MODEL.WEIGHTS"] = weights
    return load_slowfast_cfg(
        config_file, zoo_weights + list(opts), freeze=False, values=values, slowfast_keys=False
    )


def check_detector_weights(dcfg, allow_random_weights=False, options=TOOL_OPTIONS):
    """Refuse an empty ``MODEL.WEIGHTS`` (a detector with random weights) unless allowed, through
    the predictor's :func:`~slowfast_det.engine.predictor.check_model_weights` (which warns
    when allowed), with a message naming ``options`` (:data:`TOOL_OPTIONS`,
    :data:`DEMO_OPTIONS`). Returns the local weights path ("" if none); a URL is downloaded
    here, so offline it fails with one line
    (:class:`~slowfast_det.checkpoint.WeightsDownloadError`).

    Raises:
        RandomWeightsError (no weights, not allowed); FileNotFoundError (weights path absent).
    """

    try:
        check_model_weights(dcfg, allow_random_weights)
    except RandomWeightsError:
        allow = (
            f"; to run untrained on purpose pass {options['allow']}" if options.get("allow") else ""
        )
        raise RandomWeightsError(
            "the person detector has no weights (MODEL.WEIGHTS is empty): it would detect with "
            f"random weights. Pass {options['weights']} FILE (e.g. "
            "output/person_detector/model_final.pth from tools/train_person_detector.py, or a "
            f"model-zoo checkpoint), or a model-zoo name as {options['config']}{allow}"
        ) from None
    if not dcfg.MODEL.WEIGHTS:
        return ""
    path = local_weights(dcfg.MODEL.WEIGHTS, options["weights"])
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"person detector weights not found: {path} ({options['weights']} / MODEL.WEIGHTS)"
        )
    return path


class DetectorInput:
    """Frame -> detector input, as Detectron2's ``DefaultPredictor`` prepares it: converted to
    the detector's ``INPUT.FORMAT`` and resized (``ResizeShortestEdge`` to
    ``INPUT.MIN_SIZE_TEST``, at most ``INPUT.MAX_SIZE_TEST``).

    ``__call__(frame BGR uint8 (H, W, 3))`` returns ``{"image": uint8 tensor (3, h, w),
    "height": H, "width": W}`` (the model normalises the uint8 image as it would a float one).
    """

    def __init__(self, dcfg):
        import detectron2.data.transforms as T

        self.resize = T.ResizeShortestEdge([dcfg.INPUT.MIN_SIZE_TEST] * 2, dcfg.INPUT.MAX_SIZE_TEST)
        self.input_format = dcfg.INPUT.FORMAT
        if self.input_format not in ("RGB", "BGR"):
            raise ValueError(
                f"person detector INPUT.FORMAT must be RGB or BGR, got {self.input_format!r}"
            )

    def __call__(self, frame):
        import torch

        height, width = frame.shape[:2]
        if self.input_format == "RGB":
            frame = frame[:, :, ::-1]
        img = self.resize.get_transform(frame).apply_image(frame)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))),
            "height": height,
            "width": width,
        }


class PersonDetector:
    """People on frames, from a Detectron2 detector (e.g. GeneralizedRCNN): person class only,
    score >= ``score_thresh``; the same as Detectron2's ``DefaultPredictor`` output filtered.

    Args:
        config: a Detectron2 config file, or a model-zoo name such as
            ``"COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"`` (:func:`detector_config`).
        weights: checkpoint path or URL; empty = the config's (a zoo name's: the zoo's weights).
        person_class: index of "person" in the detector's classes (0 for COCO).
        score_thresh: keep detections with score >= this.
        device: "cpu" or "cuda".
        opts: config overrides ``[KEY, VALUE, ...]``.
        allow_random_weights: run without weights (a warning) instead of refusing
            (:func:`check_detector_weights`).
        options: the option names of the messages (default: the demo's, :data:`DEMO_OPTIONS`).

    :meth:`from_config` builds one from a config already made by :func:`detector_config`.
    """

    def __init__(
        self,
        config,
        weights="",
        person_class=0,
        score_thresh=0.8,
        device="cpu",
        *,
        opts=(),
        allow_random_weights=False,
        options=DEMO_OPTIONS,
    ):
        dcfg = detector_config(config, weights, opts, device, score_thresh)
        self._build(
            dcfg,
            check_detector_weights(dcfg, allow_random_weights, options),
            person_class,
            score_thresh,
        )

    @classmethod
    def from_config(cls, dcfg, weights, person_class=0, score_thresh=0.05):
        """A detector from ``dcfg`` (:func:`detector_config`) and the local ``weights`` path that
        :func:`check_detector_weights` returned ("" = random weights, already allowed)."""
        self = cls.__new__(cls)
        self._build(dcfg, weights, person_class, score_thresh)
        return self

    def _build(self, dcfg, weights, person_class, score_thresh):

        self.cfg = dcfg.clone()
        self.cfg.MODEL.WEIGHTS = weights
        self.cfg.freeze()
        self.model = build_model(self.cfg)
        self.model.eval()
        if weights:
            DetectionCheckpointer(self.model).load(weights)
        self.person_class = int(person_class)
        self.score_thresh = float(score_thresh)
        self.prepare = DetectorInput(self.cfg)

    def detect(self, inputs):
        """
        Args:
            inputs: list of :class:`DetectorInput` outputs (``image``, ``height``, ``width``).
        Returns:
            per input, ``(boxes float32 (R, 4) pixels of height x width (x1, y1, x2, y2),
            scores float32 (R,))``, by descending score.
        """
        import torch

        if not inputs:
            return []
        batch = [{"image": x["image"], "height": x["height"], "width": x["width"]} for x in inputs]
        with torch.no_grad():
            outputs = self.model(batch)
        results = []
        for out in outputs:
            inst = out["instances"].to("cpu")
            keep = (inst.pred_classes == self.person_class) & (inst.scores >= self.score_thresh)
            boxes, scores = inst.pred_boxes.tensor[keep].numpy(), inst.scores[keep].numpy()
            order = np.argsort(-scores, kind="stable")
            results.append((boxes[order].astype(np.float32), scores[order].astype(np.float32)))
        return results

    def __call__(self, frame):
        """
        Args:
            frame: BGR uint8 (H, W, 3).
        Returns:
            boxes float32 (R, 4) in pixels (x1, y1, x2, y2), scores float32 (R,).
        """
        return self.detect([self.prepare(frame)])[0]


class CSVBoxes:
    """Person boxes of one video from an AVA-format box CSV (predicted-boxes style).

    Rows ``video_id, timestamp, x1, y1, x2, y2, [action_id], [score]`` with boxes normalised
    to [0, 1]; rows that repeat a box (one row per action) count once; boxes with a score
    below ``score_thresh`` are dropped (an empty score keeps the box); coordinates outside
    [0, 1] are clipped and counted in the log.

    Args:
        path: the CSV.
        video_id: the rows to use.
        score_thresh: minimum detector score.
    Raises:
        AVAFormatError for a malformed file (file, line, field); ValueError naming the file
        and the ids it has when it has no row for ``video_id``.
    """

    def __init__(self, path, video_id, score_thresh=0.0):
        table = read_box_csv(path, kind="proposals")
        rows = table.rows[table.rows["video_id"] == video_id]
        has_key = any(v == video_id for v, _ in table.keys_without_boxes)
        if len(rows) == 0 and not has_key:
            ids = sorted(set(table.rows["video_id"]) | {v for v, _ in table.keys_without_boxes})
            raise ValueError(
                f"{path}: no rows for video id {video_id!r} "
                f"(ids in the file: {ids[:10]}{' ...' if len(ids) > 10 else ''}); "
                "set the id with --video-id"
            )
        coords = rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
        outside = (coords < 0) | (coords > 1)
        if outside.any():
            logger.warning(
                "%s: %d boxes of %s reach outside [0, 1]; clipped",
                path,
                int(outside.any(axis=1).sum()),
                video_id,
            )
        rows = rows.assign(
            **{c: np.clip(rows[c].to_numpy(), 0.0, 1.0) for c in ("x1", "y1", "x2", "y2")}
        )
        score = rows["last"].to_numpy()
        rows = rows[np.isnan(score) | (score >= score_thresh)]
        rows = rows.drop_duplicates(subset=["timestamp", "x1", "y1", "x2", "y2"])
        self._by_time = {
            int(t): (
                g[["x1", "y1", "x2", "y2"]].to_numpy(np.float32),
                g["last"].to_numpy(np.float32),
            )
            for t, g in rows.groupby("timestamp")
        }
        self.path = path

    def __call__(self, timestamp, height, width):
        """Boxes of keyframe ``timestamp``: float32 (R, 4) in pixels of (height, width), scores
        (R,)."""
        if timestamp not in self._by_time:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        boxes, scores = self._by_time[timestamp]
        return boxes * np.array([width, height, width, height], np.float32), scores.copy()
