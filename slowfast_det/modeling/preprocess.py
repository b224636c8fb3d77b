"""Device-side clip preprocessing of the video models (:class:`VideoModelBase`, the base of
:class:`~slowfast_det.modeling.VideoActionDetector` and
:class:`~slowfast_det.modeling.VideoClassifier`).

The data mapper hands over uint8 RGB clips ``(3, T, H, W)``; on the model's device each
clip gets its colour jitter (training; the parameters were drawn by the mapper, so they stay
a function of the sample's seed), is normalised with the model's ``pixel_mean`` /
``pixel_std`` (0-255 units), the batch is padded with :class:`detectron2.structures.ImageList`
(or, for models that do not pad, checked to share one size) and split into the backbone's
pathways with :func:`pathway_indices`. Clips of one size (the usual batch) skip the padding:
they are normalised straight into the batch tensor, in the backbone's memory layout (the same
values, bit for bit; 11 ms instead of 30 ms for 8 clips of 16x120x160 on a 2-core AVX2 CPU).
"""

from contextlib import nullcontext
from typing import Dict, List, Sequence, Tuple

import torch
from detectron2.structures import ImageList
from torch import nn

__all__ = [
    "COLOR_JITTER_OPS",
    "VideoModelBase",
    "apply_color_jitter",
    "pathway_indices",
    "split_pathways",
]

#: Colour jitter operations, in the names the mapper's ``color_jitter`` entries use.
COLOR_JITTER_OPS = ("brightness", "contrast", "saturation")
_GRAY = (0.299, 0.587, 0.114)  # RGB weights of the luma used by contrast and saturation


def pathway_indices(num_frames: int, alpha: int) -> torch.Tensor:
    """Indices of the Slow pathway's frames among the Fast pathway's ``num_frames`` frames.

    ``torch.linspace(0, T - 1, T // alpha).long()``, as PySlowFast and pytorchvideo.
    """
    return torch.linspace(0, num_frames - 1, num_frames // alpha).long()


def apply_color_jitter(
    clip: torch.Tensor, ops: Sequence[Tuple[str, float]], max_value: float = 255.0
) -> torch.Tensor:
    """Brightness / contrast / saturation jitter of a float RGB clip ``(3, T, H, W)``, in place.

    ``ops`` is the ordered list of ``(name, factor)`` the mapper drew. Brightness scales
    the pixels; contrast blends with the clip's mean luma, saturation with each pixel's luma
    (``x' = ref + factor * (x - ref)``); the clip is clamped to ``[0, max_value]`` after each
    operation. The result does not depend on the unit (0-255 or 0-1) beyond rounding.
    """
    for name, factor in ops:
        f = float(factor)
        if name == "brightness":
            clip.mul_(f)
        elif name in ("contrast", "saturation"):
            gray = _GRAY[0] * clip[0] + _GRAY[1] * clip[1] + _GRAY[2] * clip[2]  # (T, H, W)
            ref = gray.mean() if name == "contrast" else gray.unsqueeze(0)
            clip.sub_(ref).mul_(f).add_(ref)
        else:
            raise ValueError(
                f"unknown colour jitter operation {name!r}; expected one of {COLOR_JITTER_OPS}"
            )
        clip.clamp_(0.0, max_value)
    return clip


def split_pathways(clips: torch.Tensor, arch: str, alpha: int):
    """A batch ``(N, C, T, H, W)`` -> the backbone's pathway list: ``[slow, fast]`` (Slow =
    the :func:`pathway_indices` frames) for "slowfast", ``[clips]`` for "slow" / "fast"."""
    if arch != "slowfast":
        return [clips]
    t = int(clips.shape[2])
    if t < alpha:
        raise ValueError(f"a SlowFast clip needs at least ALPHA = {alpha} frames, got T = {t}")
    idx = pathway_indices(t, alpha).to(clips.device)
    return [clips.index_select(2, idx), clips]


class VideoModelBase(nn.Module):
    """Base of the video meta-architectures: the clip statistics (buffers ``pixel_mean`` /
    ``pixel_std``, saved in checkpoints), the pathway split, :meth:`preprocess_clips` and the
    bfloat16 autocast of each mode (:meth:`bf16_autocast`).

    Subclasses assign ``self.backbone`` (whose ``memory_format`` attribute, if any, is the
    layout the clips are packed in) and may override :meth:`check_input` (per-input checks)
    and ``pad_clips`` (True: zero-pad the batch to its largest H, W; False: the clips of a
    batch must share H, W).
    """

    pad_clips = True

    def __init__(
        self,
        *,
        pixel_mean: Tuple[float, ...],
        pixel_std: Tuple[float, ...],
        arch: str = "slowfast",
        alpha: int = 4,
        bf16_inference: bool = False,
        bf16_training: bool = False,
    ):
        """
        Args:
            pixel_mean, pixel_std: per-channel (RGB) clip statistics in 0-255 units.
            arch: "slowfast" (two pathways), "slow" or "fast" (the clip as the one pathway).
            alpha: Fast / Slow frame-rate ratio (the Slow pathway takes T // alpha frames).
            bf16_inference: in eval mode, run backbone and head under bfloat16 autocast
                (scores are returned as float32).
            bf16_training: in train mode, run backbone, head and loss under bfloat16 autocast
                (weights, gradients and losses stay float32; autocast keeps the losses and
                reductions in float32). Mixed precision without a gradient scaler: bfloat16
                has float32's exponent range.
        """
        super().__init__()
        self.arch = arch
        self.alpha = int(alpha)
        self.bf16_inference = bool(bf16_inference)
        self.bf16_training = bool(bf16_training)
        # checked on the Python values, so that the model can be built on the meta device
        if len(pixel_mean) != len(pixel_std) or not pixel_std or min(map(float, pixel_std)) <= 0:
            raise ValueError(
                "pixel_mean / pixel_std must be per-channel values with std > 0, got "
                f"{pixel_mean}, {pixel_std}"
            )
        mean = torch.tensor([float(v) for v in pixel_mean], dtype=torch.float32)
        std = torch.tensor([float(v) for v in pixel_std], dtype=torch.float32)
        self.register_buffer("pixel_mean", mean.view(-1, 1, 1, 1), persistent=True)
        self.register_buffer("pixel_std", std.view(-1, 1, 1, 1), persistent=True)

    @staticmethod
    def clip_config(cfg) -> Dict:
        """The constructor arguments of this class from a config (``MODEL.PIXEL_MEAN`` / ``STD``,
        ``MODEL.SLOWFAST.ARCH`` / ``ALPHA``, ``TEST.BF16``, ``SOLVER.AMP.ENABLED`` on a CPU),
        checking that a SlowFast clip has >= ALPHA frames."""
        sf = cfg.MODEL.SLOWFAST
        if sf.ARCH == "slowfast" and cfg.INPUT.NUM_FRAMES < sf.ALPHA:
            raise ValueError(
                f"INPUT.NUM_FRAMES ({cfg.INPUT.NUM_FRAMES}) must be >= "
                f"MODEL.SLOWFAST.ALPHA ({sf.ALPHA})"
            )
        return {
            "pixel_mean": tuple(cfg.MODEL.PIXEL_MEAN),
            "pixel_std": tuple(cfg.MODEL.PIXEL_STD),
            "arch": sf.ARCH,
            "alpha": sf.ALPHA,
            "bf16_inference": cfg.TEST.BF16,
            # Mixed precision on a CPU is bfloat16 autocast in the model's forward; on a GPU
            # Detectron2's AMPTrainer autocasts the forward (float16 with a gradient scaler).
            "bf16_training": cfg.SOLVER.AMP.ENABLED and cfg.MODEL.DEVICE.startswith("cpu"),
        }

    def bf16_autocast(self):
        """The context the backbone and head run in: bfloat16 autocast on the model's device
        when the mode asks for it (``bf16_training`` in train mode, ``bf16_inference`` in eval
        mode), else a no-op."""
        on = self.bf16_training if self.training else self.bf16_inference
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if on else nullcontext()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def check_input(self, name: str, x: Dict, clip: torch.Tensor) -> None:
        """Model-specific checks of one input dict ``x`` (named ``name`` in errors)."""

    def preprocess_clips(self, batched_inputs: List[Dict]) -> List[torch.Tensor]:
        """The batch's clips on the device: jittered (if asked), normalised, zero-padded to the
        largest H, W (or checked to share H, W when ``pad_clips`` is False) and split into the
        backbone's pathways ``(N, C, T_p, H, W)``, in the backbone's ``memory_format`` (if it
        has one). Inputs: dicts with ``"clip"`` ``(C, T, H, W)`` (0-255 units) and optionally
        ``"color_jitter"`` (see :func:`apply_color_jitter`)."""
        owner = type(self).__name__
        channels = self.pixel_mean.shape[0]
        clips = []
        for i, x in enumerate(batched_inputs):
            name = x.get("image_id", f"#{i}")
            clip = x["clip"]
            if not isinstance(clip, torch.Tensor) or clip.dim() != 4 or clip.shape[0] != channels:
                got = tuple(clip.shape) if isinstance(clip, torch.Tensor) else type(clip).__name__
                raise ValueError(
                    f"{owner}: input {name}: 'clip' must be one tensor ({channels}, T, H, W) "
                    f"(pathways are split by the model), got {got}"
                )
            self.check_input(name, x, clip)
            if i and clip.shape[1] != clips[0].shape[1]:
                raise ValueError(
                    f"{owner}: clips differ in T within the batch: {int(clips[0].shape[1])} "
                    f"and {int(clip.shape[1])} (input {name})"
                )
            if i and not self.pad_clips and clip.shape[2:] != clips[0].shape[2:]:
                raise ValueError(
                    f"{owner}: clips differ in H, W within the batch: {tuple(clips[0].shape[2:])} "
                    f"and {tuple(clip.shape[2:])} (input {name}); crop or resize them to one size "
                    "in the loader"
                )
            clip = clip.to(self.device, non_blocking=True)
            ops = x.get("color_jitter")
            # float32 before jitter and for float inputs; uint8 clips are converted as they are
            # normalised below
            if ops or clip.is_floating_point():
                clip = clip.float()
            if ops:  # in place, on a copy when the input already was a float tensor on the device
                clip = apply_color_jitter(clip.clone() if clip is x["clip"] else clip, ops)
            clips.append(clip)
        memory_format = getattr(self.backbone, "memory_format", torch.contiguous_format)
        differentiable = torch.is_grad_enabled() and any(c.requires_grad for c in clips)
        if all(c.shape == clips[0].shape for c in clips) and not differentiable:
            # one size (the usual batch): normalised straight into the batch, in the backbone's
            # layout (no float copy per clip, no padded batch to fill and copy into; out=
            # writes are not differentiated: clips that require a gradient take the other way)
            batch = torch.empty(
                (len(clips), *clips[0].shape),
                dtype=torch.float32,
                device=self.device,
                memory_format=memory_format,
            )
            for clip, dst in zip(clips, batch):
                torch.sub(clip, self.pixel_mean, out=dst).div_(self.pixel_std)
        else:
            normalised = [(c.float() - self.pixel_mean) / self.pixel_std for c in clips]
            batch = ImageList.from_tensors(normalised, size_divisibility=0, pad_value=0.0).tensor
        pathways = split_pathways(batch, self.arch, self.alpha)
        return [t.contiguous(memory_format=memory_format) for t in pathways]
