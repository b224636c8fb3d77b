"""SlowFast 3D ResNet backbone (Feichtenhofer et al., ICCV 2019), with its Slow-only and
Fast-only variants, registered in Detectron2's ``BACKBONE_REGISTRY``.

Architecture (as in PySlowFast and pytorchvideo):

* stem per pathway: conv ``kt x 7 x 7`` stride ``(1, 2, 2)``, norm, ReLU, max-pool
  ``1 x 3 x 3`` stride ``(1, 2, 2)``;
* res2..res5 per pathway: bottleneck blocks ``kt x 1 x 1`` -> ``1 x 3 x 3`` (spatial stride and
  dilation) -> ``1 x 1 x 1``; the temporal kernel ``kt`` is per stage and pathway, and only the
  first ``NUM_BLOCK_TEMP_KERNEL`` blocks of a stage use it (the rest use 1);
* Fast pathway width = Slow width / ``BETA_INV``;
* lateral connection after the stem, res2, res3 and res4 (not after res5): a Conv3d on the
  Fast features, kernel ``FUSION_KERNEL_SZ x 1 x 1``, temporal stride ``ALPHA``, output
  ``FUSION_CONV_CHANNEL_RATIO`` x Fast channels, norm and ReLU, concatenated onto the Slow
  features along channels;
* optional non-local blocks after given block indices of a stage.

The stem, bottleneck, fusion and stage modules are in :mod:`slowfast_det.modeling.resnet3d`;
this module assembles them from the config and registers the builder.

Parameter names (``stem.pathway0.conv.weight``, ``res4.pathway0.5.conv1.norm.weight``,
``res3.fuse.conv.weight``, ``res4.pathway0.nonlocal6.conv_theta.weight``, ...) are what
:mod:`slowfast_det.checkpoint.convert` produces from pytorchvideo / PySlowFast checkpoints.
"""

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

from .layers import Conv3d, NonLocalBlock3d
from .resnet3d import BottleneckBlock3d, FastToSlowFusion, MultiPathwayStage, Stem3d

__all__ = [
    "SlowFast",
    "build_slowfast_backbone",
    "ARCH_PATHWAYS",
    "DEPTH_TO_STAGE_BLOCKS",
]

# Bottleneck blocks in res2..res5 per ResNet depth (18 uses bottlenecks, as in PySlowFast).
DEPTH_TO_STAGE_BLOCKS = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
# Which reference pathway (0 = Slow, 1 = Fast) each pathway of an architecture is built like.
# Per-pathway config lists always hold [slow, fast]; single-pathway models take their entry.
ARCH_PATHWAYS = {"slowfast": (0, 1), "slow": (0,), "fast": (1,)}
STAGE_NAMES = ("res2", "res3", "res4", "res5")


class SlowFast(Backbone):
    """SlowFast 3D ResNet (``arch="slowfast"``), or its Slow-only (``"slow"``) or Fast-only
    (``"fast"``) variant from the same code.

    Input: list with one tensor per pathway, ``[slow (N, C, T/alpha, H, W), fast (N, C, T, H, W)]``
    (one tensor for Slow-only / Fast-only).
    Output: ``{"pathway0": (N, C0, T0, H/s, W/s), "pathway1": (N, C1, T1, H/s, W/s)}`` after res5,
    ``s`` the output stride (16 with the AVA setting: res5 stride 1, dilation 2).
    """

    @configurable
    def __init__(
        self,
        *,
        arch: str = "slowfast",
        in_channels: int = 3,
        stage_blocks: Sequence[int] = (3, 4, 6, 3),
        alpha: int = 4,
        beta_inv: int = 8,
        fusion_conv_channel_ratio: int = 2,
        fusion_kernel_size: int = 7,
        num_groups: int = 1,
        width_per_group: int = 64,
        stem_out_channels: int = 64,
        stem_temporal_kernels: Sequence[int] = (1, 5),
        temporal_kernels: Sequence[Sequence[int]] = ((1, 3), (1, 3), (3, 3), (3, 3)),
        num_block_temp_kernel: Optional[Sequence[Sequence[int]]] = None,
        spatial_strides: Sequence[int] = (1, 2, 2, 1),
        spatial_dilations: Sequence[int] = (1, 1, 1, 2),
        stem_pool: bool = True,
        norm: str = "BN",
        nonlocal_locations: Optional[Sequence[Sequence[Sequence[int]]]] = None,
        nonlocal_pool: Sequence[int] = (1, 2, 2),
        nonlocal_instantiation: str = "dot_product",
        zero_init_final_bn: bool = True,
        activation_checkpoint: bool = False,
        fold_bn_for_inference: bool = True,
        channels_last: bool = True,
    ):
        """
        Args:
            arch: "slowfast", "slow" or "fast".
            in_channels: input channels (3 for RGB).
            stage_blocks: bottleneck blocks in res2..res5.
            alpha: frame-rate ratio Fast / Slow (temporal stride of the lateral conv).
            beta_inv: channel ratio Slow / Fast.
            fusion_conv_channel_ratio: lateral output channels = this x Fast channels.
            fusion_kernel_size: temporal kernel of the lateral conv.
            num_groups: groups of the 3x3 convs (1 = ResNet).
            width_per_group: Slow res2 bottleneck width per group (64 for ResNet-50).
            stem_out_channels: Slow stem output channels.
            stem_temporal_kernels: [slow, fast] temporal kernel of the stem conv.
            temporal_kernels: per stage res2..res5, [slow, fast] temporal kernel of conv1.
            num_block_temp_kernel: per stage, [slow, fast] number of leading blocks that use
                the temporal kernel (the others use 1); None = all blocks.
            spatial_strides, spatial_dilations: per stage res2..res5.
            stem_pool: max-pool after the stem conv.
            norm: "BN", "SyncBN" or "FrozenBN".
            nonlocal_locations: per stage, [slow, fast] lists of block indices followed by a
                non-local block; None = none.
            nonlocal_pool: (T, H, W) max-pool of keys / values in the non-local blocks.
            nonlocal_instantiation: "dot_product" or "softmax".
            zero_init_final_bn: initialise the last norm of each residual branch (and of each
                non-local block) to zero, as PySlowFast does.
            activation_checkpoint: in training, keep only each block's input for backward and
                recompute the block's activations there (every bottleneck and non-local block,
                the stem and the lateral fusions).
            fold_bn_for_inference: in eval mode, fold each batch norm into the convolution
                before it (exact up to float rounding; see :class:`Conv3d`).
            channels_last: run in ``torch.channels_last_3d`` memory format, where the
                ``1 x k x k`` and ``k x 1 x 1`` convolutions are computed as 2D ones
                (:mod:`slowfast_det.modeling.fast_ops`; exact up to float rounding).
        """
        super().__init__()
        if arch not in ARCH_PATHWAYS:
            raise ValueError(
                f"MODEL.SLOWFAST.ARCH must be one of {sorted(ARCH_PATHWAYS)}, got {arch!r}"
            )
        refs = ARCH_PATHWAYS[arch]
        num_stages = len(STAGE_NAMES)
        stage_blocks = [int(b) for b in stage_blocks]
        _check_len("STAGE_BLOCKS", stage_blocks, num_stages)
        if any(b < 1 for b in stage_blocks):
            raise ValueError(
                f"MODEL.SLOWFAST.STAGE_BLOCKS must be >= 1 per stage, got {stage_blocks}"
            )
        _check_len("SPATIAL_STRIDES", spatial_strides, num_stages)
        _check_len("SPATIAL_DILATIONS", spatial_dilations, num_stages)
        _check_len("STEM_TEMPORAL_KERNEL", stem_temporal_kernels, 2)
        _check_per_stage_pathway("TEMPORAL_KERNELS", temporal_kernels, num_stages)
        if num_block_temp_kernel is None or len(num_block_temp_kernel) == 0:
            num_block_temp_kernel = [[b, b] for b in stage_blocks]
        _check_per_stage_pathway("NUM_BLOCK_TEMP_KERNEL", num_block_temp_kernel, num_stages)
        if nonlocal_locations is None or len(nonlocal_locations) == 0:
            nonlocal_locations = [[[], []] for _ in range(num_stages)]
        _check_per_stage_pathway("NONLOCAL_LOCATIONS", nonlocal_locations, num_stages)
        for s, name in enumerate(STAGE_NAMES):
            for ref in refs:
                n = int(num_block_temp_kernel[s][ref])
                if not 0 <= n <= stage_blocks[s]:
                    raise ValueError(
                        f"MODEL.SLOWFAST.NUM_BLOCK_TEMP_KERNEL[{s}][{ref}] = {n} is outside "
                        f"[0, {stage_blocks[s]}] ({name} has {stage_blocks[s]} blocks)"
                    )
                bad = [i for i in nonlocal_locations[s][ref] if not 0 <= int(i) < stage_blocks[s]]
                if bad:
                    raise ValueError(
                        f"MODEL.SLOWFAST.NONLOCAL_LOCATIONS[{s}][{ref}] has block indices {bad} "
                        f"outside [0, {stage_blocks[s]}) ({name} has {stage_blocks[s]} blocks)"
                    )
        widths = [1 if ref == 0 else beta_inv for ref in refs]  # channel divisor per pathway
        fuse = arch == "slowfast"
        lateral = fusion_conv_channel_ratio if fuse else 0

        def channels(c: int, divisor: int, what: str) -> int:
            # Fast width = Slow width // BETA_INV (floor, as PySlowFast and pytorchvideo).
            if c // divisor < 1:
                raise ValueError(
                    f"SlowFast widths: {what} has {c} Slow channels, which leaves no Fast "
                    f"channel at BETA_INV={divisor}; raise MODEL.SLOWFAST.WIDTH_PER_GROUP / "
                    "STEM_OUT_CHANNELS"
                )
            return c // divisor

        self.arch = arch
        self.alpha = alpha
        self.num_pathways = len(refs)
        self.activation_checkpoint = activation_checkpoint

        # ---- stem
        stem_out = [channels(stem_out_channels, d, "the stem") for d in widths]
        self.stem = MultiPathwayStage(
            [
                Stem3d(
                    in_channels,
                    stem_out[p],
                    temporal_kernel=int(stem_temporal_kernels[ref]),
                    pool=stem_pool,
                    norm=norm,
                )
                for p, ref in enumerate(refs)
            ],
            FastToSlowFusion(
                stem_out[1],
                channel_ratio=fusion_conv_channel_ratio,
                kernel_size=fusion_kernel_size,
                alpha=alpha,
                norm=norm,
            )
            if fuse
            else None,
        )
        stride = 4 if stem_pool else 2
        in_ch = [stem_out[0] + lateral * stem_out[-1]] + stem_out[1:]

        # ---- res2..res5
        out_per_group = width_per_group * 4
        inner_per_group = num_groups * width_per_group
        self.stage_names = ["stem"] + list(STAGE_NAMES)
        for s, name in enumerate(STAGE_NAMES):
            scale = 2**s
            out_ch = [channels(out_per_group * scale, d, name) for d in widths]
            inner_ch = [channels(inner_per_group * scale, d, name) for d in widths]
            pathways = []
            for p, ref in enumerate(refs):
                blocks = OrderedDict()
                n_temporal = int(num_block_temp_kernel[s][ref])
                nl_inds = {int(i) for i in nonlocal_locations[s][ref]}
                for i in range(stage_blocks[s]):
                    blocks[str(i)] = BottleneckBlock3d(
                        in_ch[p] if i == 0 else out_ch[p],
                        out_ch[p],
                        bottleneck_channels=inner_ch[p],
                        temporal_kernel=int(temporal_kernels[s][ref]) if i < n_temporal else 1,
                        stride=int(spatial_strides[s]) if i == 0 else 1,
                        dilation=int(spatial_dilations[s]),
                        num_groups=num_groups,
                        norm=norm,
                        zero_init_final_norm=zero_init_final_bn,
                    )
                    if i in nl_inds:
                        blocks[f"nonlocal{i}"] = NonLocalBlock3d(
                            out_ch[p],
                            out_ch[p] // 2,
                            pool_size=nonlocal_pool,
                            instantiation=nonlocal_instantiation,
                            norm=norm,
                            zero_init_final_norm=zero_init_final_bn,
                        )
                pathways.append(nn.Sequential(blocks))
            is_last = s == num_stages - 1
            stage_fuse = (
                FastToSlowFusion(
                    out_ch[1],
                    channel_ratio=fusion_conv_channel_ratio,
                    kernel_size=fusion_kernel_size,
                    alpha=alpha,
                    norm=norm,
                )
                if fuse and not is_last
                else None
            )
            self.add_module(name, MultiPathwayStage(pathways, stage_fuse))
            stride *= int(spatial_strides[s])
            in_ch = [out_ch[0] + (0 if is_last else lateral * out_ch[-1])] + out_ch[1:]

        # Speed settings (no parameters): see fast_ops.py and Conv3d.
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        for m in self.modules():
            if isinstance(m, Conv3d):
                m.fold_norm = fold_bn_for_inference

        self._out_features = [f"pathway{p}" for p in range(self.num_pathways)]
        self._out_feature_channels = dict(zip(self._out_features, in_ch))
        self._out_feature_strides = {f: stride for f in self._out_features}

    @classmethod
    def from_config(cls, cfg, input_shape: Optional[ShapeSpec] = None):
        sf = cfg.MODEL.SLOWFAST
        if sf.STAGE_BLOCKS:
            stage_blocks = list(sf.STAGE_BLOCKS)
        elif sf.DEPTH in DEPTH_TO_STAGE_BLOCKS:
            stage_blocks = list(DEPTH_TO_STAGE_BLOCKS[sf.DEPTH])
        else:
            raise ValueError(
                f"MODEL.SLOWFAST.DEPTH must be one of {sorted(DEPTH_TO_STAGE_BLOCKS)} "
                f"(or set MODEL.SLOWFAST.STAGE_BLOCKS), got {sf.DEPTH}"
            )
        return {
            "arch": sf.ARCH,
            "in_channels": input_shape.channels if input_shape is not None else 3,
            "stage_blocks": stage_blocks,
            "alpha": sf.ALPHA,
            "beta_inv": sf.BETA_INV,
            "fusion_conv_channel_ratio": sf.FUSION_CONV_CHANNEL_RATIO,
            "fusion_kernel_size": sf.FUSION_KERNEL_SZ,
            "num_groups": sf.NUM_GROUPS,
            "width_per_group": sf.WIDTH_PER_GROUP,
            "stem_out_channels": sf.STEM_OUT_CHANNELS,
            "stem_temporal_kernels": sf.STEM_TEMPORAL_KERNEL,
            "temporal_kernels": sf.TEMPORAL_KERNELS,
            "num_block_temp_kernel": sf.NUM_BLOCK_TEMP_KERNEL,
            "spatial_strides": sf.SPATIAL_STRIDES,
            "spatial_dilations": sf.SPATIAL_DILATIONS,
            "stem_pool": sf.STEM_POOL,
            "norm": sf.NORM,
            "nonlocal_locations": sf.NONLOCAL_LOCATIONS,
            "nonlocal_pool": sf.NONLOCAL_POOL,
            "nonlocal_instantiation": sf.NONLOCAL_INSTANTIATION,
            "zero_init_final_bn": sf.ZERO_INIT_FINAL_BN,
            "activation_checkpoint": sf.ACTIVATION_CHECKPOINT,
            "fold_bn_for_inference": sf.FOLD_BN_FOR_INFERENCE,
            "channels_last": sf.CHANNELS_LAST,
        }

    def forward(self, x: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """
        Args:
            x: ``[slow (N, C, T/alpha, H, W), fast (N, C, T, H, W)]`` (one tensor for a
                single-pathway model).
        Returns:
            ``{"pathway0": (N, C0, T0, H/s, W/s), ...}``, ``s`` = :meth:`output_shape` stride.
        """
        if not isinstance(x, (list, tuple)) or len(x) != self.num_pathways:
            got = (
                f"a list of {len(x)} tensors" if isinstance(x, (list, tuple)) else type(x).__name__
            )
            raise ValueError(
                f"SlowFast backbone (arch={self.arch!r}) expects a list of {self.num_pathways} "
                f"pathway tensors (N, C, T, H, W), got {got}"
            )
        for p, t in enumerate(x):
            if t.dim() != 5:
                raise ValueError(
                    f"SlowFast backbone: pathway{p} input must be (N, C, T, H, W), got shape "
                    f"{tuple(t.shape)}"
                )
        # A no-op when the caller (VideoActionDetector) already packed the clips this way.
        x = [t.contiguous(memory_format=self.memory_format) for t in x]
        use_ckpt = self.activation_checkpoint and self.training and torch.is_grad_enabled()
        for name in self.stage_names:
            x = getattr(self, name)(x, activation_checkpoint=use_ckpt)
        return dict(zip(self._out_features, x))

    def output_shape(self) -> Dict[str, ShapeSpec]:
        """``{"pathway0": ShapeSpec(channels, stride), ...}`` of the res5 features."""
        return {
            f: ShapeSpec(
                channels=self._out_feature_channels[f], stride=self._out_feature_strides[f]
            )
            for f in self._out_features
        }


def _check_len(key: str, value: Sequence, n: int) -> None:
    if len(value) != n:
        raise ValueError(f"MODEL.SLOWFAST.{key} must have {n} entries, got {list(value)}")


def _check_per_stage_pathway(key: str, value: Sequence, n: int) -> None:
    _check_len(key, value, n)
    for s, entry in enumerate(value):
        if len(entry) != 2:
            raise ValueError(
                f"MODEL.SLOWFAST.{key}[{s}] must be [slow, fast] (2 entries, also for "
                f"single-pathway models), got {list(entry)}"
            )


@BACKBONE_REGISTRY.register()
def build_slowfast_backbone(cfg, input_shape: ShapeSpec) -> SlowFast:
    """Detectron2 backbone builder: the SlowFast / Slow-only / Fast-only network of
    ``cfg.MODEL.SLOWFAST``."""
    return SlowFast(cfg, input_shape)
