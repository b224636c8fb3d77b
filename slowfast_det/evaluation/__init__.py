"""AVA evaluation: the official frame-mAP@0.5IoU, vectorised (see ``ava_map``), as a
Detectron2 ``DatasetEvaluator`` (``AVAEvaluator``) and for ``tools/eval_ava.py``."""
from .ava_map import FrameMAPResult, evaluate_files, format_result, frame_map
from .evaluator import FRAME_MAP_KEY, AVAEvaluator

__all__ = ["AVAEvaluator", "FRAME_MAP_KEY", "FrameMAPResult", "evaluate_files", "format_result", "frame_map"]
