"""AVA evaluation: the official frame-mAP@0.5IoU, vectorised (see ``ava_map``), as a
Detectron2 ``DatasetEvaluator`` (``AVAEvaluator``) and for ``tools/eval_ava.py``.

The metric (``ava_map``, ``result``, ``box_arrays``, ``reference``) needs only numpy, pandas
and optionally pyarrow; ``AVAEvaluator`` (Detectron2, torch) is imported on first use.
"""
from slowfast_det.ava.metric import FrameMAPResult, evaluate_files, format_result, frame_map

__all__ = ["AVAEvaluator", "FRAME_MAP_KEY", "FrameMAPResult", "evaluate_files", "format_result", "frame_map"]


def __getattr__(name):
    if name in ("AVAEvaluator", "FRAME_MAP_KEY"):
        from . import evaluator

        return getattr(evaluator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
