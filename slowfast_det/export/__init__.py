"""Deployment of the action detector: a tensors-only module for export
(:class:`ExportableActionDetector`), ONNX export with metadata (:func:`export_onnx`) and
onnxruntime-backed inference with the model's and the predictor's interfaces
(:class:`OnnxActionDetector`, :class:`OnnxActionPredictor`). See ``tools/export_model.py``.
"""

from .module import ExportableActionDetector, build_exportable  # noqa: F401
from .onnx_export import METADATA_PREFIX, export_onnx, read_metadata  # noqa: F401
from .runtime import OnnxActionDetector, OnnxActionPredictor  # noqa: F401
