"""ONNX export of an :class:`~slowfast_det.export.ExportableActionDetector`, with the facts a
runtime needs (clip length, classes, input type, weights) stored in the file's metadata.

Graph: inputs ``clips`` ``(N, 3, T, H, W)`` uint8 (or float32, 0-255 units) and ``rois``
``(R, 5)`` float32 (clip index, x1, y1, x2, y2 in clip pixels); output ``scores`` ``(R, K)``.
N, H, W and R are dynamic; T is fixed. Normalisation and the Slow/Fast pathway split are in
the graph, so it takes the data mapper's clips as they are. ROIAlign becomes ONNX ``RoiAlign``
(``coordinate_transformation_mode`` ``half_pixel`` for ``aligned=True``, opset >= 16).
"""

import json
import logging
import time
import warnings
from typing import Dict, Optional, Sequence

import torch

__all__ = [
    "METADATA_PREFIX",
    "INPUT_NAMES",
    "OUTPUT_NAMES",
    "export_onnx",
    "read_metadata",
    "model_metadata",
]

logger = logging.getLogger(__name__)

METADATA_PREFIX = "slowfast_det."
INPUT_NAMES = ("clips", "rois")
OUTPUT_NAMES = ("scores",)
INPUT_DTYPES = {"uint8": torch.uint8, "float32": torch.float32}
MIN_OPSET = 16  # RoiAlign with coordinate_transformation_mode (aligned=True)


def model_metadata(cfg) -> Dict[str, object]:
    """What a runtime may want to know of the config a detector was built from."""
    return {
        "num_frames": int(cfg.INPUT.NUM_FRAMES),
        "sampling_rate": int(cfg.INPUT.SAMPLING_RATE),
        "test_size": int(cfg.INPUT.TEST_SIZE),
        "num_classes": int(cfg.MODEL.ROI_HEADS.NUM_CLASSES),
        "arch": cfg.MODEL.SLOWFAST.ARCH,
        "alpha": int(cfg.MODEL.SLOWFAST.ALPHA),
    }


def export_onnx(
    module: torch.nn.Module,
    path: str,
    *,
    num_frames: int,
    size: Sequence[int] = (256, 256),
    input_dtype: str = "uint8",
    opset: int = 17,
    dynamo: bool = False,
    metadata: Optional[Dict[str, object]] = None,
) -> str:
    """Write ``module`` (``forward(clips, rois) -> scores``) to ONNX at ``path``.

    Args:
        module: an :class:`ExportableActionDetector` in eval mode, on the CPU.
        num_frames: T of the graph's clips.
        size: (H, W) of the example clip that is traced (the graph takes any H, W).
        input_dtype: "uint8" (the mapper's clips; a quarter of the bytes) or "float32".
        opset: ONNX opset, >= 16.
        dynamo: use the ``torch.export``-based exporter (needs the ``onnxscript`` package)
            instead of the TorchScript-based one. Both give the same scores; the TorchScript
            one needs no extra package and exports in a fraction of the time.
        metadata: extra ``key: value`` pairs (JSON-encoded) stored as ``slowfast_det.<key>``
            (e.g. :func:`model_metadata`); ``num_frames``, ``input_dtype``, ``exporter``,
            ``opset``, ``torch``, ``num_classes`` (from the module's head), ``weights`` (the
            module's ``weights``) and ``random_weights`` (no ``weights``) are always written.
    Returns:
        ``path``.
    """
    import onnx  # optional dependency: only the export needs it

    if input_dtype not in INPUT_DTYPES:
        raise ValueError(f"input_dtype must be one of {sorted(INPUT_DTYPES)}, got {input_dtype!r}")
    if opset < MIN_OPSET:
        raise ValueError(
            f"opset must be >= {MIN_OPSET} (RoiAlign with half-pixel coordinates), got {opset}"
        )
    backbone = getattr(getattr(module, "model", None), "backbone", None)
    if not dynamo and getattr(backbone, "memory_format", None) == torch.channels_last_3d:
        raise ValueError(
            "the TorchScript-based ONNX exporter cannot trace channels_last_3d conversions: build "
            "the module with build_exportable (MODEL.SLOWFAST.CHANNELS_LAST False; same weights)"
        )
    h, w = (int(s) for s in size)
    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (1, 3, int(num_frames), h, w), generator=g).to(
        INPUT_DTYPES[input_dtype]
    )
    rois = torch.tensor(
        [[0.0, 0.1 * w, 0.1 * h, 0.6 * w, 0.9 * h], [0.0, 0.4 * w, 0.2 * h, 0.9 * w, 0.8 * h]]
    )
    module = module.eval()
    t0 = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer turns Python-side shape checks and T (the Slow frame indices) into constants,
        # as intended (T is fixed); its warnings about that would only be noise.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        if dynamo:
            dim = torch.export.Dim
            torch.onnx.export(
                module,
                (clips, rois),
                path,
                dynamo=True,
                opset_version=opset,
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                dynamic_shapes={
                    "clips": {0: dim("N"), 3: dim("H"), 4: dim("W")},
                    "rois": {0: dim("R")},
                },
            )
        else:
            torch.onnx.export(
                module,
                (clips, rois),
                path,
                dynamo=False,
                opset_version=opset,
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={
                    "clips": {0: "N", 3: "H", 4: "W"},
                    "rois": {0: "R"},
                    "scores": {0: "R"},
                },
            )
    elapsed = time.perf_counter() - t0
    meta = dict(metadata or {})
    meta.update(
        num_frames=int(num_frames),
        input_dtype=input_dtype,
        exporter="dynamo" if dynamo else "torchscript",
        opset=opset,
        torch=torch.__version__,
    )
    head = getattr(getattr(module, "model", None), "roi_heads", None)
    if head is not None:
        meta.setdefault("num_classes", int(head.num_classes))
    weights = getattr(module, "weights", "")
    meta.update(weights=weights, random_weights=not weights)
    proto = onnx.load(path)
    for key, value in sorted(meta.items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, json.dumps(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, path)
    logger.info(
        "exported %s in %.1f s (opset %d, %s exporter, %s clips)",
        path,
        elapsed,
        opset,
        meta["exporter"],
        input_dtype,
    )
    return path


def read_metadata(
    custom_metadata_map: Dict[str, str], source: str = "the ONNX file"
) -> Dict[str, object]:
    """``slowfast_det.*`` entries of an ONNX model's metadata (e.g.
    ``onnxruntime.InferenceSession.get_modelmeta().custom_metadata_map``), decoded."""
    out = {}
    for key, value in custom_metadata_map.items():
        if not key.startswith(METADATA_PREFIX):
            continue
        try:
            out[key[len(METADATA_PREFIX) :]] = json.loads(value)
        except ValueError as e:
            raise ValueError(
                f"{source}: metadata field {key!r} is not JSON ({value!r}): {e}"
            ) from None
    return out
