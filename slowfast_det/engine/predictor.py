"""ActionPredictor: score the actions of person boxes in one clip, in the style of
detectron2's ``DefaultPredictor``."""

import logging

import numpy as np
import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.logger import log_first_n

from slowfast_det.checkpoint import SlowFastCheckpointer
from slowfast_det.data import AVADatasetMapper
from slowfast_det.utils.cpu_env import cpu_threads_configured
from slowfast_det.utils.cpu_features import bf16_cpu_warning

from .classification_trainer import CLASSIFIER_ARCH

__all__ = [
    "ActionPredictor",
    "RandomWeightsError",
    "build_predictor_model",
    "check_model_weights",
]

logger = logging.getLogger(__name__)

_WAIT_POLICY_WARNING = (
    "OMP_WAIT_POLICY is not set: on a busy CPU, PyTorch's spin-waiting OpenMP threads can "
    "make a predictor call several times slower (0.82 s instead of 0.13 s measured on 2 "
    "loaded cores). Call slowfast_det.utils.cpu_env.configure_cpu_threads() (or set "
    "OMP_WAIT_POLICY=PASSIVE) before torch is imported."
)


class RandomWeightsError(ValueError):
    """MODEL.WEIGHTS is empty and random weights were not allowed."""


def _trained_by(cfg):
    """The training tool and the predictor of the config's task (for messages)."""
    if cfg.MODEL.META_ARCHITECTURE == CLASSIFIER_ARCH:
        return "tools/train_net.py", "VideoClassifierPredictor"
    return "tools/train_ava.py", "ActionPredictor"


def check_model_weights(cfg, allow_random_weights=False):
    """Refuse to score with random weights: :class:`RandomWeightsError` when ``MODEL.WEIGHTS``
    is empty, unless ``allow_random_weights`` (then a warning). The message names the training
    tool and the predictor of the config's task (a classifier: ``tools/train_net.py``,
    :class:`VideoClassifierPredictor`; a detector: ``tools/train_ava.py``,
    :class:`ActionPredictor`)."""
    if cfg.MODEL.WEIGHTS:
        return
    if not allow_random_weights:
        tool, predictor = _trained_by(cfg)
        raise RandomWeightsError(
            "MODEL.WEIGHTS is empty: the model would score with random weights. Pass trained "
            f"weights, e.g. MODEL.WEIGHTS output/model_final.pth ({tool}) or a file "
            "made by tools/convert_checkpoint.py; to run untrained on purpose pass "
            f"--allow-random-weights ({predictor}(cfg, allow_random_weights=True))"
        )
    logger.warning("MODEL.WEIGHTS is empty: scoring with RANDOM weights (--allow-random-weights)")


def build_predictor_model(cfg, allow_random_weights=False):
    """What every predictor does first: refuse random weights (:func:`check_model_weights`),
    build the model of ``cfg`` in eval mode, warn (once) when a multi-threaded CPU model runs
    without ``OMP_WAIT_POLICY`` (see :class:`ActionPredictor`) or with ``TEST.BF16`` on a CPU
    without native bfloat16, load ``MODEL.WEIGHTS``.

    Returns:
        ``(cfg, model)``: a frozen copy of the config and the model.
    """
    check_model_weights(cfg, allow_random_weights)
    cfg = cfg.clone()
    cfg.freeze()
    model = build_model(cfg)
    model.eval()
    threads = torch.get_num_threads()
    if model.device.type == "cpu" and threads > 1 and not cpu_threads_configured():
        log_first_n(logging.WARNING, _WAIT_POLICY_WARNING, name=__name__)
    bf16_warning = bf16_cpu_warning(cfg.TEST.BF16, model.device.type)
    if bf16_warning:
        log_first_n(logging.WARNING, bf16_warning, name=__name__)
    if cfg.MODEL.WEIGHTS:
        SlowFastCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    return cfg, model


class ActionPredictor:
    """Build a model from a config, load ``MODEL.WEIGHTS`` and score one clip at a time.

    The clip goes through the test-time path of :class:`~slowfast_det.data.AVADatasetMapper`
    (short side resized to ``INPUT.TEST_SIZE``, a uint8 RGB clip) and then the model
    (normalised with its ``pixel_mean`` / ``pixel_std``, Slow/Fast pathway split on its
    device), so the scores equal what the test loader and the model give for the same frames
    and boxes.

    Example::

        predictor = ActionPredictor(cfg)
        scores = predictor(frames, boxes)   # frames (T, H, W, 3) BGR uint8, boxes (R, 4) pixels

    Attributes:
        cfg: a frozen copy of the config.
        model: the model, in eval mode.
        mapper: the test-time :class:`AVADatasetMapper` built from the config.

    An empty ``MODEL.WEIGHTS`` (random weights) is refused unless ``allow_random_weights``.

    On the CPU, call :func:`slowfast_det.utils.cpu_env.configure_cpu_threads` (or set
    ``OMP_WAIT_POLICY=PASSIVE``) before importing torch, as the tools do: OpenMP reads the
    variable when torch loads, so the predictor cannot set it. A predictor built on a CPU
    device with more than one torch thread and the variable unset logs a warning (once), and
    so does one with ``TEST.BF16`` on a CPU without native bfloat16
    (:func:`slowfast_det.utils.cpu_features.bf16_cpu_warning`: emulated, many times slower).
    """

    def __init__(self, cfg, allow_random_weights=False):
        self.cfg, self.model = build_predictor_model(cfg, allow_random_weights)
        self.mapper = AVADatasetMapper(self.cfg, is_train=False)
        self.num_frames = self.cfg.INPUT.NUM_FRAMES
        self.num_classes = self.cfg.MODEL.ROI_HEADS.NUM_CLASSES

    def _check(self, frames, boxes):
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                "ActionPredictor: frames must be uint8 (T, H, W, 3) BGR, "
                f"got {frames.dtype} {frames.shape}"
            )
        if frames.shape[0] != self.num_frames:
            raise ValueError(
                f"ActionPredictor: the clip has {frames.shape[0]} frames, the model takes "
                f"INPUT.NUM_FRAMES = {self.num_frames} (sampled every INPUT.SAMPLING_RATE = "
                f"{self.cfg.INPUT.SAMPLING_RATE} frames)"
            )
        boxes = (
            np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if len(boxes) else np.zeros((0, 4))
        )
        if not np.isfinite(boxes).all():
            raise ValueError("ActionPredictor: boxes contain NaN or infinite values")
        bad = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
        if len(bad):
            raise ValueError(
                f"ActionPredictor: box {bad[0]} has x2 < x1 or y2 < y1: {boxes[bad[0]].tolist()}"
            )
        return frames, boxes

    def __call__(self, frames, boxes):
        """
        Args:
            frames: uint8 array (T, H, W, 3), BGR, ``T = INPUT.NUM_FRAMES`` frames of the clip
                (sampled every ``INPUT.SAMPLING_RATE`` source frames, keyframe in the middle).
            boxes: (R, 4) person boxes (x1, y1, x2, y2) in pixels of (H, W).

        Returns:
            float32 tensor (R, K) on the CPU: per-class probabilities, column k = action id k + 1.
        """
        frames, boxes = self._check(frames, boxes)
        if len(boxes) == 0:
            return torch.zeros((0, self.num_classes), dtype=torch.float32)
        height, width = frames.shape[1:3]
        clip, clip_boxes, out_hw = self.mapper.map_frames(frames, boxes)
        instances = Instances(out_hw)
        instances.proposal_boxes = Boxes(torch.from_numpy(clip_boxes.astype(np.float32)))
        inputs = {"clip": clip, "instances": instances, "height": height, "width": width}
        with torch.no_grad():  # the model applies TEST.BF16 itself
            out = self.model([inputs])[0]["instances"]
        return out.scores.float().cpu()
