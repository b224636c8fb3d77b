"""onnxruntime inference for an exported detector (:func:`~slowfast_det.export.export_onnx`).

:class:`OnnxActionDetector` has the test-time interface of ``VideoActionDetector`` (a list of
mapper dicts in, ``{"instances": Instances}`` out), so evaluation code can run the exported
graph; :class:`OnnxActionPredictor` is :class:`~slowfast_det.engine.predictor.ActionPredictor`
(same call, same input checks and test-time resize) on top of it.
"""

import logging
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from detectron2.structures import Boxes, Instances

from slowfast_det.data import AVADatasetMapper
from slowfast_det.engine.predictor import ActionPredictor, RandomWeightsError

from .onnx_export import INPUT_NAMES, read_metadata

__all__ = ["OnnxActionDetector", "OnnxActionPredictor"]

logger = logging.getLogger(__name__)

_ORT_TYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32}


class OnnxActionDetector:
    """An exported detector in an onnxruntime session.

    Args:
        path: the ``.onnx`` file.
        providers: onnxruntime execution providers (default ``["CPUExecutionProvider"]``).
        num_threads: onnxruntime intra-op threads (default: onnxruntime's choice).
        allow_spinning: let idle onnxruntime threads spin-wait for work (onnxruntime's
            default; False yields the cores, as ``OMP_WAIT_POLICY=PASSIVE`` for PyTorch).

    Attributes:
        metadata: the ``slowfast_det.*`` metadata of the file (``num_frames``, ``num_classes``,
            ``random_weights``, ``weights``, ...).
        num_frames, num_classes: T of the graph's clips and K.
        input_dtype: numpy dtype of the ``clips`` input (uint8 or float32).
    """

    def __init__(
        self,
        path: str,
        providers: Optional[Sequence[str]] = None,
        num_threads: Optional[int] = None,
        allow_spinning: bool = True,
    ):
        import onnxruntime as ort  # optional dependency: only this class needs it

        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"no exported model at {path} (write one with tools/export_model.py)"
            )
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        if not allow_spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = path
        self.session = ort.InferenceSession(
            path, options, providers=list(providers or ["CPUExecutionProvider"])
        )
        self.metadata = read_metadata(self.session.get_modelmeta().custom_metadata_map, path)
        names = [i.name for i in self.session.get_inputs()]
        if tuple(names) != INPUT_NAMES:
            raise ValueError(
                f"{path}: inputs are {names}, an exported detector has {list(INPUT_NAMES)}"
            )
        for key in ("num_frames", "num_classes"):
            if key not in self.metadata:
                raise ValueError(
                    f"{path}: metadata field 'slowfast_det.{key}' is missing "
                    "(not written by slowfast_det.export.export_onnx?)"
                )
        clip_type = self.session.get_inputs()[0].type
        if clip_type not in _ORT_TYPES:
            raise ValueError(
                f"{path}: input 'clips' has type {clip_type}, expected one of {sorted(_ORT_TYPES)}"
            )
        self.input_dtype = _ORT_TYPES[clip_type]
        self.num_frames = int(self.metadata["num_frames"])
        self.num_classes = int(self.metadata["num_classes"])

    def run(self, clips: np.ndarray, rois: np.ndarray) -> np.ndarray:
        """Raw graph call: ``clips`` ``(N, 3, T, H, W)``, ``rois`` ``(R, 5)`` (clip index,
        x1, y1, x2, y2 in clip pixels) -> float32 ``(R, K)`` scores."""
        clips = np.asarray(clips)
        if clips.ndim != 5 or clips.shape[1] != 3 or clips.shape[2] != self.num_frames:
            raise ValueError(
                f"{self.path}: clips must be (N, 3, {self.num_frames}, H, W), got {clips.shape}"
            )
        if self.input_dtype == np.uint8 and clips.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: the graph takes uint8 clips, got {clips.dtype} (export with "
                "--input-dtype float32 for float clips in 0-255 units)"
            )
        rois = np.ascontiguousarray(rois, dtype=np.float32).reshape(-1, 5)
        if len(rois) == 0:
            return np.zeros((0, self.num_classes), dtype=np.float32)
        feeds = {"clips": np.ascontiguousarray(clips, dtype=self.input_dtype), "rois": rois}
        return self.session.run(None, feeds)[0]

    def __call__(self, batched_inputs: List[Dict]) -> List[Dict[str, Instances]]:
        """``VideoActionDetector``'s test-time call: dicts with ``"clip"`` ``(3, T, H, W)``,
        ``"instances"`` (``proposal_boxes`` in clip pixels) and optional ``"height"``,
        ``"width"``; returns ``{"instances": Instances(pred_boxes, scores)}`` per input, boxes
        rescaled to ``height x width``. Clips of one size run as one batch (the graph
        normalises before any padding could happen, so clips of different sizes run one by one)."""
        if len(batched_inputs) == 0:
            raise ValueError("OnnxActionDetector: empty batch")
        sizes = {tuple(x["clip"].shape[-2:]) for x in batched_inputs}
        groups = [batched_inputs] if len(sizes) == 1 else [[x] for x in batched_inputs]
        outputs = []
        for group in groups:
            clips = np.stack([_numpy(x["clip"]) for x in group])
            boxes = [
                x["instances"].proposal_boxes.tensor.detach().cpu().numpy().astype(np.float32)
                for x in group
            ]
            index = np.concatenate(
                [np.full((len(b), 1), i, np.float32) for i, b in enumerate(boxes)]
            )
            scores = torch.from_numpy(
                self.run(clips, np.concatenate([index, np.concatenate(boxes)], axis=1))
            )
            for x, s in zip(group, scores.split([len(b) for b in boxes])):
                outputs.append({"instances": _result(x, s)})
        return outputs


def _numpy(clip) -> np.ndarray:
    return clip.detach().cpu().numpy() if isinstance(clip, torch.Tensor) else np.asarray(clip)


def _result(x: Dict, scores: torch.Tensor) -> Instances:
    """Boxes from clip pixels to the input's ``height x width`` (clipped), with the scores."""
    clip_h, clip_w = (int(s) for s in x["clip"].shape[-2:])
    height, width = int(x.get("height", clip_h)), int(x.get("width", clip_w))
    boxes = Boxes(x["instances"].proposal_boxes.tensor.detach().cpu().float().clone())
    boxes.scale(width / clip_w, height / clip_h)
    boxes.clip((height, width))
    return Instances((height, width), pred_boxes=boxes, scores=scores)


class OnnxActionPredictor(ActionPredictor):
    """:class:`ActionPredictor` whose model is an exported ONNX graph run by onnxruntime.

    Same call: ``predictor(frames, boxes)`` with frames uint8 ``(T, H, W, 3)`` BGR and boxes
    ``(R, 4)`` in pixels, returning float32 ``(R, K)`` scores on the CPU; the clip goes through
    the same test-time mapper (``INPUT.TEST_SIZE`` of ``cfg``). The weights are the file's:
    ``MODEL.WEIGHTS`` is not read. A file exported with random weights is refused unless
    ``allow_random_weights``; ``cfg`` must agree with the file on ``INPUT.NUM_FRAMES`` and
    ``MODEL.ROI_HEADS.NUM_CLASSES``.
    """

    def __init__(
        self,
        cfg,
        onnx_path: str,
        allow_random_weights: bool = False,
        providers: Optional[Sequence[str]] = None,
        num_threads: Optional[int] = None,
    ):
        # Not ActionPredictor.__init__: that builds and loads the PyTorch model.
        self.cfg = cfg.clone()
        self.cfg.freeze()
        self.model = OnnxActionDetector(onnx_path, providers=providers, num_threads=num_threads)
        meta = self.model.metadata
        if meta.get("random_weights", True):  # unknown provenance counts as random
            if not allow_random_weights:
                raise RandomWeightsError(
                    f"{onnx_path}: exported with random weights (metadata "
                    "slowfast_det.random_weights); export trained weights (tools/export_model.py "
                    "... MODEL.WEIGHTS model_final.pth) or pass --allow-random-weights "
                    "(OnnxActionPredictor(..., allow_random_weights=True))"
                )
            logger.warning("%s holds RANDOM weights (--allow-random-weights)", onnx_path)
        for key, value in (
            ("INPUT.NUM_FRAMES", self.cfg.INPUT.NUM_FRAMES),
            ("MODEL.ROI_HEADS.NUM_CLASSES", self.cfg.MODEL.ROI_HEADS.NUM_CLASSES),
        ):
            field = "num_frames" if key.startswith("INPUT") else "num_classes"
            if int(meta[field]) != int(value):
                raise ValueError(
                    f"{onnx_path}: metadata slowfast_det.{field} = {meta[field]} but the config "
                    f"has {key} = {value}; use the config the model was exported with"
                )
        if "test_size" in meta and int(meta["test_size"]) != int(self.cfg.INPUT.TEST_SIZE):
            logger.warning(
                "%s was exported with INPUT.TEST_SIZE %s, the config has %s: clips are resized "
                "to the config's",
                onnx_path,
                meta["test_size"],
                self.cfg.INPUT.TEST_SIZE,
            )
        self.mapper = AVADatasetMapper(self.cfg, is_train=False)
        self.num_frames = self.cfg.INPUT.NUM_FRAMES
        self.num_classes = self.cfg.MODEL.ROI_HEADS.NUM_CLASSES
