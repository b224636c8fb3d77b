"""Detectron2 ``DatasetEvaluator`` for AVA: the official frame-mAP@0.5IoU.

Collects per-box, per-class scores from the model outputs (:func:`keyframe_result`, shared
with ``tools/infer_ava.py``; see ``docs/DATAFLOW.md``), gathers them on rank 0 and scores
them in memory with :func:`slowfast_det.ava.evaluate.evaluate_detections`: the checks, rules
and code of ``tools/eval_ava.py``, on the rows the official-format detections CSV holds
(:func:`~slowfast_det.ava.box_arrays.detection_arrays`), so re-scoring the CSV written as an
output gives exactly the reported numbers.
"""

import itertools
import logging
import os
from collections import OrderedDict

import numpy as np
from detectron2.config import configurable
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from slowfast_det.ava.box_arrays import detection_arrays
from slowfast_det.ava.evaluate import evaluate_detections
from slowfast_det.ava.files import write_detections_csv, write_json
from slowfast_det.ava.metric import format_result
from slowfast_det.ava.plots import write_plots
from slowfast_det.ava.result import KEYS_ABSENT_RULES
from slowfast_det.ava.timestamps import format_timestamp, normalize

__all__ = ["AVAEvaluator", "FRAME_MAP_KEY", "keyframe_result"]

#: Key of the frame-mAP (a fraction in [0, 1]) in ``results["ava"]``.
FRAME_MAP_KEY = "frame-mAP@0.5IOU"

logger = logging.getLogger(__name__)


def keyframe_result(sample, instances, class_ids):
    """One keyframe's detections from the model's output: what the evaluator keeps and
    :func:`~slowfast_det.ava.files.write_detections_csv` writes.

    Args:
        sample: the model input (``video_id``, ``timestamp``, ``height``, ``width``;
            ``image_id`` names the keyframe in errors).
        instances: its output ``Instances``: ``pred_boxes`` (R, 4) in pixels of
            ``height x width``, ``scores`` (R, K) per-class probabilities, column k =
            action id k + 1.
        class_ids: the action ids to keep (sorted).

    Returns:
        ``(video_id, timestamp (a key, :func:`~slowfast_det.ava.timestamps.normalize`),
        boxes float64 (R, 4) normalised to [0, 1] of the frame, scores float32
        (R, len(class_ids)))``.

    Raises:
        ValueError naming the keyframe: scores not (R, K), fewer than ``max(class_ids)``
        columns, or non-finite boxes or scores.
    """
    image_id = sample.get("image_id", None)
    if image_id is None:
        image_id = f"{sample['video_id']},{format_timestamp(sample['timestamp'])}"
    boxes = instances.pred_boxes.tensor.detach().cpu().double().numpy()
    scores = instances.scores.detach().float().cpu().numpy()
    columns = np.asarray(class_ids, dtype=np.int64) - 1
    if scores.ndim != 2 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(
            f"keyframe {image_id}: scores must be (R, K) for R={boxes.shape[0]} boxes, "
            f"got {scores.shape}"
        )
    if len(columns) and scores.shape[1] < columns.max() + 1:
        raise ValueError(
            f"keyframe {image_id}: scores have {scores.shape[1]} columns, "
            f"the label map needs action id {columns.max() + 1}"
        )
    if not (np.isfinite(scores).all() and np.isfinite(boxes).all()):
        raise ValueError(f"keyframe {image_id}: non-finite boxes or scores in the model output")
    h, w = float(sample["height"]), float(sample["width"])
    boxes = boxes / np.array([w, h, w, h])
    return str(sample["video_id"]), normalize(sample["timestamp"]), boxes, scores[:, columns]


class AVAEvaluator(DatasetEvaluator):
    """Frame-mAP of an AVA action detector, exactly as the official ActivityNet evaluator.

    Expects, per keyframe, an input dict with ``video_id``, ``timestamp``, ``height``,
    ``width`` and an output ``{"instances": Instances}`` with ``pred_boxes`` (R, 4) in
    pixels of ``height x width`` and ``scores`` (R, K) per-class probabilities, column
    ``k`` = action id ``k + 1``. Only the label map's ids are kept.

    Files written by :meth:`evaluate` (rank 0) in ``output_dir``, as outputs only (the mAP
    is computed from the predictions in memory):
    ``ava_detections.csv`` (official format), ``ava_eval.json`` (``{"mAP", "grouped_mAP",
    "per_class": {"<id>": {"name", "AP", ...}}, "keys_absent_from_groundtruth", "capacity",
    ...}``), and with ``plots=True`` ``ava_ap_per_class.png`` (action groups marked) and
    ``ava_pr_curves.png``.

    Returns ``{"ava": {"frame-mAP@0.5IOU": mAP, "mAP/pose": ..., "mAP/object manipulation":
    ..., "mAP/person interaction": ..., "AP/<id> <name>": AP, ...}}``, all fractions in
    [0, 1]; group entries only for groups with a class with ground truth, per-class entries
    only for classes with ground truth (those in the mean).
    """

    @configurable
    def __init__(
        self,
        dataset_name,
        output_dir=None,
        capacity=50,
        plots=True,
        distributed=True,
        keys_absent_from_groundtruth="false-positive",
    ):
        """
        Args:
            dataset_name: a registered AVA dataset; its metadata gives ``label_map_file``,
                ``groundtruth_file`` (None: only the CSV is written), ``excluded_timestamps_file``
                and ``action_names``.
            output_dir: folder for the result files; None writes no file.
            capacity: per-keyframe cap on (box, class) detections: 50 as the official
                script, 0 keeps all (as PySlowFast).
            plots: write the per-class AP and precision-recall PNGs.
            distributed: gather the predictions of all ranks on rank 0.
            keys_absent_from_groundtruth: detections at keys absent from the ground-truth
                file: "false-positive" (the 2019 official script, commit 3fee089) or
                "ignore" (the 2020 script, commit c070fdb and later); see
                :func:`~slowfast_det.ava.metric.frame_map`.
        """
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0 (0 keeps all), got {capacity}")
        if keys_absent_from_groundtruth not in KEYS_ABSENT_RULES:
            raise ValueError(
                "AVA.EVAL_KEYS_ABSENT_FROM_GROUNDTRUTH must be one of "
                f"{sorted(KEYS_ABSENT_RULES)}, got {keys_absent_from_groundtruth!r}"
            )
        self._keys_absent_rule = keys_absent_from_groundtruth
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._capacity = int(capacity)
        self._plots = plots
        self._distributed = distributed
        meta = MetadataCatalog.get(dataset_name)
        for attr in ("label_map_file", "groundtruth_file"):
            if not hasattr(meta, attr):
                raise ValueError(
                    f"dataset '{dataset_name}' has no '{attr}' in its metadata: not an AVA dataset?"
                )
        self._label_map_file = meta.label_map_file
        self._groundtruth_file = meta.groundtruth_file
        self._excluded_file = getattr(meta, "excluded_timestamps_file", None)
        self._class_names = dict(meta.action_names)
        self._class_ids = [int(c) for c in meta.evaluated_ids]
        self.reset()

    @classmethod
    def from_config(cls, cfg, dataset_name, output_dir=None, distributed=True):
        return {
            "dataset_name": dataset_name,
            "output_dir": output_dir,
            "capacity": cfg.AVA.EVAL_CAPACITY,
            "plots": cfg.AVA.EVAL_PLOTS,
            "distributed": distributed,
            "keys_absent_from_groundtruth": cfg.AVA.EVAL_KEYS_ABSENT_FROM_GROUNDTRUTH,
        }

    def reset(self):
        self._keyframes = []  # (video_id, timestamp, boxes (R,4) normalised, scores (R,E) float32)

    def process(self, inputs, outputs):
        """Keep each keyframe's boxes (normalised to [0, 1] of the frame) and the scores of
        the evaluated classes (:func:`keyframe_result`)."""
        for inp, out in zip(inputs, outputs):
            self._keyframes.append(keyframe_result(inp, out["instances"], self._class_ids))

    def evaluate(self):
        if self._distributed:
            comm.synchronize()
            parts = comm.gather(self._keyframes, dst=0)
            if not comm.is_main_process():
                return {}
            keyframes = list(itertools.chain(*parts))
        else:
            keyframes = self._keyframes
        if not keyframes:
            logger.warning("[AVAEvaluator] no predictions were processed: nothing to evaluate")
            return {}
        seen, unique = set(), []
        for kf in keyframes:
            if (kf[0], kf[1]) not in seen:
                seen.add((kf[0], kf[1]))
                unique.append(kf)
        if len(unique) < len(keyframes):
            logger.warning(
                "[AVAEvaluator] %d keyframes were processed more than once; the first output of "
                "each is kept",
                len(keyframes) - len(unique),
            )

        csv_path = None
        if self._output_dir:
            csv_path = os.path.join(self._output_dir, "ava_detections.csv")
            n_rows = write_detections_csv(unique, self._class_ids, csv_path)
            logger.info(
                "[AVAEvaluator] wrote %d detection rows for %d keyframes to %s",
                n_rows,
                len(unique),
                csv_path,
            )
        if self._groundtruth_file is None:
            logger.warning(
                "[AVAEvaluator] dataset '%s' has no ground truth: no mAP", self._dataset_name
            )
            return {}
        result, _ = evaluate_detections(
            self._label_map_file,
            self._groundtruth_file,
            detection_arrays(unique, self._class_ids),
            self._excluded_file,
            self._capacity,
            keys_absent_from_groundtruth=self._keys_absent_rule,
            detections_name=csv_path or f"the detections of {self._dataset_name}",
        )
        logger.info(
            "[AVAEvaluator] %s:\n%s",
            self._dataset_name,
            "\n".join(format_result(result, self._class_names)),
        )
        if self._output_dir:
            write_json(
                result.to_json_dict(self._class_names),
                os.path.join(self._output_dir, "ava_eval.json"),
            )
            if self._plots:
                write_plots(result, self._output_dir, "ava", self._class_names)

        metrics = OrderedDict([(FRAME_MAP_KEY, result.mAP)])
        for group, v in result.grouped.items():
            if v["mAP"] is not None:
                metrics[f"mAP/{group}"] = v["mAP"]
        for c, ap in result.per_class.items():
            if ap is not None:
                metrics[f"AP/{c} {self._class_names.get(c, '')}".rstrip()] = ap
        return {"ava": metrics}
