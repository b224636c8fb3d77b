"""Person boxes on keyframes: a Detectron2 detector, or an AVA-format box CSV.

Both are callables the demo runner takes as its person source:

* :class:`PersonDetector` ``(frame BGR uint8 (H, W, 3)) -> (boxes (R, 4) pixels, scores (R,))``,
  detectron2's ``DefaultPredictor`` filtered to the person class;
* :class:`CSVBoxes` ``(timestamp, height, width) -> (boxes (R, 4) pixels, scores (R,))``.
"""
import logging
import os

import detectron2
import numpy as np
from detectron2.config import get_cfg
from detectron2.engine import DefaultPredictor

from slowfast_det.ava.io import read_box_csv
from slowfast_det.checkpoint import local_weights

__all__ = ["PersonDetector", "CSVBoxes"]

logger = logging.getLogger(__name__)


def _model_zoo_config(name):
    """Path of a config shipped in detectron2's model zoo (e.g. "COCO-Detection/...yaml"), or None."""
    path = os.path.join(os.path.dirname(detectron2.__file__), "model_zoo", "configs", name)
    return path if os.path.isfile(path) else None


def _model_zoo_weights(name):
    """URL of the model zoo's weights for a config name, or "" when unknown.

    ``detectron2.model_zoo`` needs ``pkg_resources`` (setuptools < 82, pinned in
    requirements.txt); without it the URL must be given as the weights
    (``tools/demo.py --detector-weights``).
    """
    try:
        from detectron2 import model_zoo  # here: needs pkg_resources (may be absent), slow, warns

        return model_zoo.get_checkpoint_url(name)
    except (ImportError, RuntimeError) as e:
        logger.warning("no model-zoo weights URL for %s: %s", name, e)
        return ""


class PersonDetector:
    """People on a frame, from a Detectron2 detector run with detectron2's ``DefaultPredictor``.

    Args:
        config_file: a Detectron2 config file, or a model-zoo name such as
            ``"COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"``.
        weights: checkpoint path or URL; empty = the model zoo's weights for a zoo name.
        person_class: index of "person" in the detector's classes (0 for COCO).
        score_thresh: keep detections with score >= this.
        device: "cpu" or "cuda".
    """

    def __init__(self, config_file, weights="", person_class=0, score_thresh=0.8, device="cpu"):
        dcfg = get_cfg()
        if os.path.isfile(config_file):
            dcfg.merge_from_file(config_file)
        else:
            zoo_file = _model_zoo_config(config_file)
            if zoo_file is None:
                raise FileNotFoundError(
                    f"person detector config {config_file!r} is neither a file nor a Detectron2 model-zoo name"
                )
            dcfg.merge_from_file(zoo_file)
            # the zoo config's own MODEL.WEIGHTS is only the ImageNet initialisation
            weights = weights or _model_zoo_weights(config_file)
            if not weights:
                raise ValueError(
                    f"person detector {config_file}: pass --detector-weights, its model-zoo "
                    "weights (URL in "
                    "detectron2's MODEL_ZOO.md, e.g. https://dl.fbaipublicfiles.com/detectron2/COCO-Detection/"
                    "faster_rcnn_R_50_FPN_3x/137849458/model_final_280758.pkl for faster_rcnn_R_50_FPN_3x)"
                )
        if weights:
            dcfg.MODEL.WEIGHTS = weights
        if not dcfg.MODEL.WEIGHTS:
            raise ValueError(
                f"person detector {config_file}: no weights; pass --detector-weights (a path, or "
                "the model "
                "zoo URL of the config, see detectron2's MODEL_ZOO.md)"
            )
        # a URL is downloaded here, so that offline it fails with one line saying what to pass
        dcfg.MODEL.WEIGHTS = local_weights(dcfg.MODEL.WEIGHTS, "--detector-weights")
        dcfg.MODEL.DEVICE = device
        dcfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_thresh
        dcfg.MODEL.RETINANET.SCORE_THRESH_TEST = score_thresh
        dcfg.freeze()
        self.predictor = DefaultPredictor(dcfg)
        self.person_class = int(person_class)
        self.score_thresh = float(score_thresh)

    def __call__(self, frame):
        """
        Args:
            frame: BGR uint8 (H, W, 3).
        Returns:
            boxes float32 (R, 4) in pixels (x1, y1, x2, y2), scores float32 (R,).
        """
        inst = self.predictor(frame)["instances"].to("cpu")
        keep = (inst.pred_classes == self.person_class) & (inst.scores >= self.score_thresh)
        inst = inst[keep]
        return inst.pred_boxes.tensor.numpy().astype(np.float32), inst.scores.numpy().astype(np.float32)


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
                f"{path}: no rows for video id {video_id!r} (ids in the file: {ids[:10]}{' ...' if len(ids) > 10 else ''}); "
                "set the id with --video-id"
            )
        coords = rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
        outside = (coords < 0) | (coords > 1)
        if outside.any():
            logger.warning("%s: %d boxes of %s reach outside [0, 1]; clipped", path, int(outside.any(axis=1).sum()), video_id)
        rows = rows.assign(**{c: np.clip(rows[c].to_numpy(), 0.0, 1.0) for c in ("x1", "y1", "x2", "y2")})
        score = rows["last"].to_numpy()
        rows = rows[np.isnan(score) | (score >= score_thresh)]
        rows = rows.drop_duplicates(subset=["timestamp", "x1", "y1", "x2", "y2"])
        self._by_time = {
            int(t): (g[["x1", "y1", "x2", "y2"]].to_numpy(np.float32), g["last"].to_numpy(np.float32))
            for t, g in rows.groupby("timestamp")
        }
        self.path = path

    def __call__(self, timestamp, height, width):
        """Boxes of keyframe ``timestamp``: float32 (R, 4) in pixels of (height, width), scores (R,)."""
        if timestamp not in self._by_time:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        boxes, scores = self._by_time[timestamp]
        return boxes * np.array([width, height, width, height], np.float32), scores.copy()
