"""Evaluation inside Detectron2: :class:`AVAEvaluator`, a ``DatasetEvaluator`` that scores
the official frame-mAP@0.5IoU (see :mod:`slowfast_det.ava.metric`, which needs only numpy and
pandas, for the metric itself and ``tools/eval_ava.py``; the PNG plots are
:mod:`slowfast_det.ava.plots`), and :class:`ClassificationEvaluator` for video classifiers
(top-1 / top-5, mean per-class accuracy, Charades mAP;
:mod:`~slowfast_det.evaluation.classification_metrics`).
"""

from slowfast_det.ava.evaluate import evaluate_files
from slowfast_det.ava.metric import FrameMAPResult, format_result, frame_map

from .classification import ClassificationEvaluator
from .evaluator import FRAME_MAP_KEY, AVAEvaluator

__all__ = [
    "AVAEvaluator",
    "ClassificationEvaluator",
    "FRAME_MAP_KEY",
    "FrameMAPResult",
    "evaluate_files",
    "format_result",
    "frame_map",
]
