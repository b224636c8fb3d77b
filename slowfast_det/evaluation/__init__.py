"""AVA evaluation inside Detectron2: :class:`AVAEvaluator`, a ``DatasetEvaluator`` that scores
the official frame-mAP@0.5IoU (see :mod:`slowfast_det.ava.metric`, which needs only numpy and
pandas, for the metric itself and ``tools/eval_ava.py``; the PNG plots are
:mod:`slowfast_det.ava.plots`).
"""

from slowfast_det.ava.metric import FrameMAPResult, evaluate_files, format_result, frame_map

from .evaluator import FRAME_MAP_KEY, AVAEvaluator

__all__ = [
    "AVAEvaluator",
    "FRAME_MAP_KEY",
    "FrameMAPResult",
    "evaluate_files",
    "format_result",
    "frame_map",
]
