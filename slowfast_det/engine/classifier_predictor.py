"""VideoClassifierPredictor: class probabilities of one clip, in the style of detectron2's
``DefaultPredictor`` (and :class:`~slowfast_det.engine.predictor.ActionPredictor`)."""

import sys

import numpy as np
import torch
from detectron2.data import transforms as T

from slowfast_det.data.classification_mapper import crop_offsets
from slowfast_det.data.warp import FrameWarp, write_rgb_planes

from .classification_trainer import CLASSIFIER_ARCH
from .predictor import build_predictor_model

__all__ = ["VideoClassifierPredictor"]


class VideoClassifierPredictor:
    """Build a :class:`~slowfast_det.modeling.VideoClassifier` from a config, load
    ``MODEL.WEIGHTS`` and classify one clip at a time.

    The clip becomes the test views of the classification test loader for those frames
    (:class:`~slowfast_det.data.ClassificationMapper`): the short side resized to
    ``INPUT.TEST_SIZE``, ``TEST.NUM_SPATIAL_CROPS`` square crops of that size along the long
    side; the model combines the views by ``TEST.ENSEMBLE_METHOD``. So the probabilities are
    those the test loader and the model give for a video whose (one) test clip shows these
    frames.

    Example::

        predictor = VideoClassifierPredictor(cfg)
        probs = predictor(frames)   # frames (T, H, W, 3) BGR uint8, T = INPUT.NUM_FRAMES

    Attributes:
        cfg: a frozen copy of the config.
        model: the model, in eval mode.
        num_frames: T, the clip length it takes (frames ``INPUT.SAMPLING_RATE`` frames of
            30 fps apart: :func:`~slowfast_det.engine.classify_video.window_times`).

    An empty ``MODEL.WEIGHTS`` (random weights) is refused (:class:`RandomWeightsError`)
    unless ``allow_random_weights``, as :class:`ActionPredictor` does.
    """

    def __init__(self, cfg, allow_random_weights=False):
        if cfg.MODEL.META_ARCHITECTURE != CLASSIFIER_ARCH:
            raise ValueError(
                f"VideoClassifierPredictor needs a classifier config (MODEL.META_ARCHITECTURE "
                f"{CLASSIFIER_ARCH!r}), got {cfg.MODEL.META_ARCHITECTURE!r}"
            )
        self.cfg, self.model = build_predictor_model(cfg, allow_random_weights)
        self.num_frames = self.cfg.INPUT.NUM_FRAMES
        self.test_size = self.cfg.INPUT.TEST_SIZE
        self.num_crops = self.cfg.TEST.NUM_SPATIAL_CROPS
        self.num_classes = self.cfg.MODEL.VIDEO_HEAD.NUM_CLASSES

    def views(self, frames):
        """uint8 tensor ``(C, 3, T, S, S)``: the RGB test views of BGR frames ``(T, H, W, 3)``
        (resized and cropped as the classification test loader does)."""
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                "VideoClassifierPredictor: frames must be uint8 (T, H, W, 3) BGR, got "
                f"{frames.dtype} {frames.shape}"
            )
        if frames.shape[0] != self.num_frames:
            raise ValueError(
                f"VideoClassifierPredictor: the clip has {frames.shape[0]} frames, the model "
                f"takes INPUT.NUM_FRAMES = {self.num_frames} (every INPUT.SAMPLING_RATE = "
                f"{self.cfg.INPUT.SAMPLING_RATE} frames of 30 fps)"
            )
        h, w, s = frames.shape[1], frames.shape[2], self.test_size
        new_h, new_w = T.ResizeShortestEdge.get_output_shape(h, w, s, sys.maxsize)
        warp = FrameWarp((new_w / w, 0.0, new_h / h, 0.0), (h, w), 1, (h, w), (new_h, new_w))
        along_x = new_w >= new_h
        offsets = crop_offsets(new_w if along_x else new_h, s, self.num_crops)
        out = torch.empty((len(offsets), 3, len(frames), s, s), dtype=torch.uint8)
        dst = out.numpy()
        for j, frame in enumerate(frames):
            resized = warp(frame)
            for v, o in enumerate(offsets):
                y, x = (0, o) if along_x else (o, 0)
                write_rgb_planes(resized[y : y + s, x : x + s], dst[v, :, j])
        return out

    def __call__(self, frames):
        """
        Args:
            frames: uint8 array (T, H, W, 3), BGR, ``T = INPUT.NUM_FRAMES``.
        Returns:
            float32 tensor (K,) on the CPU: the class probabilities (softmax, or sigmoid for
            a multi-label model), the spatial views combined by ``TEST.ENSEMBLE_METHOD``.
        """
        views = self.views(frames)
        with torch.no_grad():  # the model applies TEST.BF16 itself
            out = self.model([{"clips": views}])[0]
        return out["scores"].float().cpu()
