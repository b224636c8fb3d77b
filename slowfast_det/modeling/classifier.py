"""Video classifier: the SlowFast backbone (SlowFast, Slow-only, Fast-only; any depth,
non-local blocks) and PySlowFast's basic head, registered in Detectron2's ``META_ARCH_REGISTRY``
(``MODEL.META_ARCHITECTURE "VideoClassifier"``; configs/Kinetics, configs/Charades)."""

import numbers
from typing import Dict, List

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone

from .preprocess import VideoModelBase
from .video_head import VideoClassificationHead, classification_loss

__all__ = ["VideoClassifier", "ENSEMBLE_METHODS", "combine_views"]

#: How the views of a video combine (``TEST.ENSEMBLE_METHOD``).
ENSEMBLE_METHODS = ("mean", "max")


def combine_views(view_scores: torch.Tensor, method: str) -> torch.Tensor:
    """``(K,)`` video probabilities from ``(V, K)`` per-view probabilities: their "mean"
    (PySlowFast's sum, divided by V) or their "max" per class."""
    if method == "mean":
        return view_scores.mean(dim=0)
    if method == "max":
        return view_scores.max(dim=0).values
    raise ValueError(f"unknown ensemble method {method!r}; expected one of {ENSEMBLE_METHODS}")


@META_ARCH_REGISTRY.register()
class VideoClassifier(VideoModelBase):
    """Classifies whole clips.

    Input: a list of N dicts, one per clip:

    * ``"clip"``: a tensor ``(3, T, H, W)``, RGB, uint8 or float, in 0-255 units, not
      normalised. As :class:`~slowfast_det.modeling.VideoActionDetector`, the model moves it to
      its device, applies ``"color_jitter"`` if given, normalises it with its ``pixel_mean`` /
      ``pixel_std`` buffers and splits the pathways itself. T, H and W must agree across the
      batch (clips are not padded: padding would enter the head's average).
    * ``"color_jitter"`` (optional): ordered ``(name, factor)`` list drawn by the mapper.
    * in training, with a softmax head (single-label): ``"label"``, the class index
      ``0..K-1`` (int or 0-d integer tensor);
      with a sigmoid head (multi-label): ``"labels"``, either a float (or bool) tensor
      ``(K,)`` of multi-hot targets in [0, 1], or the class indices ``0..K-1`` as a list /
      tuple of ints or an integer tensor (any length, also empty). The dtype decides: an
      integer tensor is always a list of indices, never a multi-hot vector.
    * other keys (``video_id``, ``image_id``, ...) are ignored; ``image_id`` names the input
      in errors.

    Output in training: ``{"loss_cls": scalar}`` (cross-entropy for a softmax head, binary
    cross-entropy with logits, mean over clips and classes, for a sigmoid head).

    At test (eval mode) an input may instead hold all the views of one video:

    * ``"clips"``: a tensor ``(V, 3, T, H, W)`` (V = temporal clips x spatial crops, as the
      classification test loader gives them), same units as ``"clip"``. The views run
      through the network ``views_per_chunk`` at a time (memory bounded by one chunk).

    Output at test: a list of N dicts ``{"scores": (K,) float32 probabilities}``: the head's
    activation at every position its pool leaves (one at the training crop size, several at
    larger crops), averaged. For a ``"clips"`` input also ``"view_scores"``: ``(V, K)`` float32,
    each view's probabilities (exactly what that view alone as a ``"clip"`` gives), and
    ``"scores"`` is their combination by ``ensemble_method``: ``"mean"`` (the mean of the
    views' probabilities; Kinetics) or ``"max"`` (per class the largest; Charades). One batch
    may mix ``"clip"`` and ``"clips"`` inputs; outputs keep the input order.
    """

    pad_clips = False

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        cls_head: VideoClassificationHead,
        pixel_mean,
        pixel_std,
        arch: str = "slowfast",
        alpha: int = 4,
        bf16_inference: bool = False,
        bf16_training: bool = False,
        ensemble_method: str = "mean",
        views_per_chunk: int = 8,
    ):
        """
        Args:
            backbone: takes a list of pathway tensors ``(N, C, T_p, H, W)`` and returns
                ``{"pathway0": (N, C0, T0, h, w), ...}``.
            cls_head: e.g. :class:`VideoClassificationHead`, called as ``cls_head(features)``;
                its ``act`` ("softmax" / "sigmoid") selects the loss and the training targets.
            pixel_mean, pixel_std: per-channel (RGB) clip statistics in 0-255 units; kept as
                buffers (saved in checkpoints).
            arch: "slowfast", "slow" or "fast".
            alpha: Fast / Slow frame-rate ratio.
            bf16_inference, bf16_training: bfloat16 autocast in eval / train mode
                (:class:`~slowfast_det.modeling.preprocess.VideoModelBase`; scores are
                returned as float32).
            ensemble_method: how the views of a ``"clips"`` input combine: "mean" or "max"
                of their probabilities (``TEST.ENSEMBLE_METHOD``).
            views_per_chunk: views of a ``"clips"`` input run through the network at once.
        """
        super().__init__(
            pixel_mean=pixel_mean,
            pixel_std=pixel_std,
            arch=arch,
            alpha=alpha,
            bf16_inference=bf16_inference,
            bf16_training=bf16_training,
        )
        if ensemble_method not in ENSEMBLE_METHODS:
            raise ValueError(
                f"TEST.ENSEMBLE_METHOD must be one of {ENSEMBLE_METHODS}, got {ensemble_method!r}"
            )
        if int(views_per_chunk) < 1:
            raise ValueError(f"views_per_chunk must be >= 1, got {views_per_chunk}")
        self.backbone = backbone
        self.cls_head = cls_head
        self.ensemble_method = ensemble_method
        self.views_per_chunk = int(views_per_chunk)

    @classmethod
    def from_config(cls, cfg):
        clip_args = cls.clip_config(cfg)
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "cls_head": VideoClassificationHead(cfg, backbone.output_shape()),
            "ensemble_method": cfg.TEST.ENSEMBLE_METHOD,
            **clip_args,
        }

    @property
    def num_classes(self) -> int:
        return self.cls_head.num_classes

    def forward(self, batched_inputs: List[Dict]):
        """See the class docstring for the input and output formats."""
        if len(batched_inputs) == 0:
            raise ValueError("VideoClassifier: empty batch")
        if self.training:
            multi = [i for i, x in enumerate(batched_inputs) if "clips" in x]
            if multi:
                x = batched_inputs[multi[0]]
                raise ValueError(
                    f"VideoClassifier: input {x.get('image_id', f'#{multi[0]}')}: 'clips' "
                    "(the test views of a video) is for eval mode; training takes one 'clip'"
                )
            clips = self.preprocess_clips(batched_inputs)
            targets = self.targets(batched_inputs)
            with self.bf16_autocast():
                logits = self.cls_head(self.backbone(clips))
                loss = classification_loss(logits, targets, self.cls_head.act)
            return {"loss_cls": loss.float()}
        outputs = [None] * len(batched_inputs)
        single = [i for i, x in enumerate(batched_inputs) if "clips" not in x]
        if single:
            scores = self.clip_scores([batched_inputs[i] for i in single])
            for i, s in zip(single, scores):
                outputs[i] = {"scores": s}
        for i, x in enumerate(batched_inputs):
            if outputs[i] is None:
                outputs[i] = self.video_scores(x, x.get("image_id", x.get("video_id", f"#{i}")))
        return outputs

    def clip_scores(self, inputs: List[Dict]) -> torch.Tensor:
        """``(N, K)`` float32 probabilities of N ``"clip"`` inputs (eval mode, one batch)."""
        clips = self.preprocess_clips(inputs)
        with self.bf16_autocast():
            scores = self.cls_head(self.backbone(clips))
        return scores.float()

    def video_scores(self, x: Dict, name) -> Dict[str, torch.Tensor]:
        """``{"scores": (K,), "view_scores": (V, K)}`` of one ``"clips"`` input (eval mode):
        the views in chunks of :attr:`views_per_chunk`, combined by :attr:`ensemble_method`."""
        views = x["clips"]
        if not isinstance(views, torch.Tensor) or views.dim() != 5 or views.shape[0] < 1:
            got = tuple(views.shape) if isinstance(views, torch.Tensor) else type(views).__name__
            raise ValueError(
                f"VideoClassifier: input {name}: 'clips' must be one tensor (V, 3, T, H, W) "
                f"with V >= 1 views, got {got}"
            )
        chunks = []
        for start in range(0, views.shape[0], self.views_per_chunk):
            part = views[start : start + self.views_per_chunk]
            chunks.append(
                self.clip_scores(
                    [
                        {"clip": c, "image_id": f"{name} view {start + j}"}
                        for j, c in enumerate(part)
                    ]
                )
            )
        view_scores = torch.cat(chunks)
        return {
            "scores": combine_views(view_scores, self.ensemble_method),
            "view_scores": view_scores,
        }

    def targets(self, batched_inputs: List[Dict]) -> torch.Tensor:
        """The training targets on the device: int64 (N,) class indices for a softmax head,
        float (N, K) multi-hot for a sigmoid head (see the class docstring)."""
        k = self.num_classes
        names = [x.get("image_id", f"#{i}") for i, x in enumerate(batched_inputs)]
        if self.cls_head.act == "softmax":
            out = [_label(x, name, k) for x, name in zip(batched_inputs, names)]
            return torch.tensor(out, dtype=torch.int64, device=self.device)
        out = [_multi_hot(x, name, k) for x, name in zip(batched_inputs, names)]
        return torch.stack(out).to(self.device)


def _is_index(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _label(x: Dict, name: str, k: int) -> int:
    """A single-label input's ``"label"`` as an int in 0..k-1."""
    where = f"VideoClassifier: input {name}"
    if "label" not in x:
        raise KeyError(
            f"{where} has no 'label' (single-label head, MODEL.VIDEO_HEAD.ACT softmax; "
            "multi-label data needs ACT sigmoid and 'labels')"
        )
    label = x["label"]
    if isinstance(label, torch.Tensor):
        if label.numel() != 1 or label.is_floating_point() or label.dtype == torch.bool:
            raise ValueError(
                f"{where}: 'label' must be one integer class index, got a "
                f"{label.dtype} tensor of shape {tuple(label.shape)}"
            )
        label = label.item()
    if not _is_index(label):
        raise ValueError(f"{where}: 'label' must be an int class index, got {label!r}")
    if not 0 <= label < k:
        raise ValueError(
            f"{where}: label {label} outside 0..{k - 1} (MODEL.VIDEO_HEAD.NUM_CLASSES)"
        )
    return int(label)


def _multi_hot(x: Dict, name: str, k: int) -> torch.Tensor:
    """A multi-label input's ``"labels"`` (multi-hot, or class indices) as a float (k,) tensor."""
    where = f"VideoClassifier: input {name}"
    if "labels" not in x:
        raise KeyError(
            f"{where} has no 'labels' (multi-label head, MODEL.VIDEO_HEAD.ACT sigmoid; "
            "single-label data needs ACT softmax and 'label')"
        )
    labels = x["labels"]
    multi_hot = isinstance(labels, torch.Tensor) and (
        labels.is_floating_point() or labels.dtype == torch.bool
    )
    if multi_hot:
        if labels.shape != (k,):
            raise ValueError(
                f"{where}: multi-hot 'labels' must be ({k},) "
                f"(MODEL.VIDEO_HEAD.NUM_CLASSES), got {tuple(labels.shape)}"
            )
        labels = labels.float().cpu()
        if bool(((labels < 0) | (labels > 1) | ~torch.isfinite(labels)).any()):
            raise ValueError(f"{where}: multi-hot 'labels' must lie in [0, 1]")
        return labels
    if isinstance(labels, torch.Tensor):
        labels = labels.flatten().tolist()
    if not isinstance(labels, (list, tuple)) or not all(_is_index(c) for c in labels):
        raise ValueError(
            f"{where}: 'labels' must be a float multi-hot ({k},) tensor or a list of "
            f"int class indices, got {labels!r}"
        )
    bad = [c for c in labels if not 0 <= c < k]
    if bad:
        raise ValueError(
            f"{where}: class index {bad[0]} outside 0..{k - 1} (MODEL.VIDEO_HEAD.NUM_CLASSES)"
        )
    out = torch.zeros(k, dtype=torch.float32)
    out[[int(c) for c in labels]] = 1.0
    return out
