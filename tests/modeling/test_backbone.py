"""SlowFast backbone: structure (kernels, strides, laterals, widths), variants, norms,
non-local blocks and input validation (activation checkpointing: test_activation_checkpoint.py).
Tiny shapes only."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, build_backbone

from slowfast_det.modeling import FrozenBatchNorm3d, NonLocalBlock3d, SlowFast
from slowfast_det.modeling.resnet3d import BottleneckBlock3d, FastToSlowFusion


def clip(n=2, t=8, hw=32, alpha=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    fast = torch.randn(n, 3, t, hw, hw, generator=g)
    return [fast[:, :, ::alpha].contiguous(), fast]


def test_registered():
    assert "build_slowfast_backbone" in BACKBONE_REGISTRY


def test_r50_ava_shapes_and_channels(cfg):
    cfg.MODEL.DEVICE = "cpu"
    bb = build_backbone(cfg)
    assert bb.output_shape() == {
        "pathway0": ShapeSpec(channels=2048, stride=16),
        "pathway1": ShapeSpec(channels=256, stride=16),
    }
    # Lateral connections: time-strided conv on Fast, 2x Fast channels, after stem..res4 only.
    for name, fast_c in [("stem", 8), ("res2", 32), ("res3", 64), ("res4", 128)]:
        conv = getattr(bb, name).fuse.conv
        assert conv.kernel_size == (7, 1, 1) and conv.stride == (4, 1, 1)
        assert (conv.in_channels, conv.out_channels) == (fast_c, 2 * fast_c)
    assert bb.res5.fuse is None
    # Slow stage inputs carry the lateral channels: 64 + 16, 256 + 64, ...
    assert [
        getattr(bb, s).pathway0[0].conv1.in_channels for s in ("res2", "res3", "res4", "res5")
    ] == [80, 320, 640, 1280]
    assert [len(getattr(bb, s).pathway0) for s in ("res2", "res3", "res4", "res5")] == [3, 4, 6, 3]
    # Temporal kernels: Slow 1,1,3,3 (stem 1); Fast 3 everywhere (stem 5).
    assert bb.stem.pathway0.conv.kernel_size == (1, 7, 7)
    assert bb.stem.pathway1.conv.kernel_size == (5, 7, 7)
    for s, (kt_slow, kt_fast) in zip(
        ("res2", "res3", "res4", "res5"), [(1, 3), (1, 3), (3, 3), (3, 3)]
    ):
        stage = getattr(bb, s)
        assert {b.conv1.kernel_size[0] for b in stage.pathway0} == {kt_slow}
        assert {b.conv1.kernel_size[0] for b in stage.pathway1} == {kt_fast}
    # AVA res5: spatial stride 1, dilation 2.
    b = bb.res5.pathway0[0]
    assert (
        b.conv2.stride == (1, 1, 1)
        and b.conv2.dilation == (1, 2, 2)
        and b.conv2.padding == (0, 2, 2)
    )


def test_forward_shapes_match_output_shape(tiny_cfg):
    bb = build_backbone(tiny_cfg)
    out = bb(clip(t=8, hw=64))
    spec = bb.output_shape()
    assert spec["pathway0"].channels == 8 * 4 * 8 and spec["pathway1"].channels == 8 * 4 * 8 // 8
    assert out["pathway0"].shape == (2, spec["pathway0"].channels, 2, 4, 4)
    assert out["pathway1"].shape == (2, spec["pathway1"].channels, 8, 4, 4)
    tiny_cfg.MODEL.SLOWFAST.SPATIAL_STRIDES = [1, 2, 2, 2]
    tiny_cfg.MODEL.SLOWFAST.SPATIAL_DILATIONS = [1, 1, 1, 1]
    bb = build_backbone(tiny_cfg)
    assert bb.output_shape()["pathway0"].stride == 32
    assert bb(clip(t=8, hw=64))["pathway0"].shape[-2:] == (2, 2)


@pytest.mark.parametrize(
    "depth,blocks", [(18, [2, 2, 2, 2]), (50, [3, 4, 6, 3]), (101, [3, 4, 23, 3])]
)
def test_depths(tiny_cfg, depth, blocks):
    tiny_cfg.MODEL.SLOWFAST.STAGE_BLOCKS = []
    tiny_cfg.MODEL.SLOWFAST.DEPTH = depth
    bb = build_backbone(tiny_cfg)
    assert [len(getattr(bb, s).pathway0) for s in ("res2", "res3", "res4", "res5")] == blocks
    assert all(isinstance(m, BottleneckBlock3d) for m in bb.res4.pathway1)


def test_depth_and_stage_blocks_errors(tiny_cfg):
    tiny_cfg.MODEL.SLOWFAST.STAGE_BLOCKS = []
    tiny_cfg.MODEL.SLOWFAST.DEPTH = 34
    with pytest.raises(ValueError, match="DEPTH"):
        build_backbone(tiny_cfg)
    tiny_cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 1, 1]
    with pytest.raises(ValueError, match="STAGE_BLOCKS"):
        build_backbone(tiny_cfg)


def test_num_block_temp_kernel(tiny_cfg):
    """As PySlowFast's R101 '50_50' models: only the first blocks of res4 are temporal."""
    tiny_cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 1, 5, 1]
    tiny_cfg.MODEL.SLOWFAST.NUM_BLOCK_TEMP_KERNEL = [[1, 1], [1, 1], [2, 3], [1, 1]]
    bb = build_backbone(tiny_cfg)
    assert [b.conv1.kernel_size[0] for b in bb.res4.pathway0] == [3, 3, 1, 1, 1]
    assert [b.conv1.kernel_size[0] for b in bb.res4.pathway1] == [3, 3, 3, 1, 1]
    assert [b.conv1.padding[0] for b in bb.res4.pathway1] == [1, 1, 1, 0, 0]
    assert bb(clip(t=8, hw=32))["pathway0"].shape[2] == 2
    tiny_cfg.MODEL.SLOWFAST.NUM_BLOCK_TEMP_KERNEL = [[1, 1], [1, 1], [6, 6], [1, 1]]
    with pytest.raises(ValueError, match=r"NUM_BLOCK_TEMP_KERNEL\[2\]\[0\] = 6"):
        build_backbone(tiny_cfg)


def test_alpha_beta_fusion_settings(tiny_cfg):
    tiny_cfg.MODEL.SLOWFAST.ALPHA = 8
    tiny_cfg.MODEL.SLOWFAST.FUSION_KERNEL_SZ = 5
    tiny_cfg.MODEL.SLOWFAST.BETA_INV = 4
    tiny_cfg.MODEL.SLOWFAST.FUSION_CONV_CHANNEL_RATIO = 1
    bb = build_backbone(tiny_cfg)
    conv = bb.res2.fuse.conv
    assert conv.kernel_size == (5, 1, 1) and conv.stride == (8, 1, 1)
    assert (conv.in_channels, conv.out_channels) == (8, 8)  # res2 Fast out = 32 / 4, ratio 1
    out = bb(clip(t=16, hw=32, alpha=8))
    assert out["pathway0"].shape[2] == 2 and out["pathway1"].shape[2] == 16
    assert bb.output_shape()["pathway1"].channels == 256 // 4


def test_lateral_is_strided_conv_concatenated_on_slow():
    """The fusion output is [slow, relu(bn(conv_t(fast)))] along channels."""
    fuse = FastToSlowFusion(4, channel_ratio=2, kernel_size=5, alpha=4, norm="BN").eval()
    slow, fast = torch.randn(1, 6, 2, 3, 3), torch.randn(1, 4, 8, 3, 3)
    out_slow, out_fast = fuse([slow, fast])
    expected = F.relu(
        fuse.conv.norm(F.conv3d(fast, fuse.conv.weight, stride=(4, 1, 1), padding=(2, 0, 0)))
    )
    assert out_slow.shape == (1, 6 + 8, 2, 3, 3)
    torch.testing.assert_close(out_slow[:, :6], slow)
    torch.testing.assert_close(out_slow[:, 6:], expected)
    assert out_fast is fast


@pytest.mark.parametrize("arch,ref", [("slow", 0), ("fast", 1)])
def test_single_pathway_variants(tiny_cfg, arch, ref):
    tiny_cfg.MODEL.SLOWFAST.ARCH = arch
    bb = build_backbone(tiny_cfg)
    divisor = 1 if arch == "slow" else 8
    assert bb.output_shape() == {"pathway0": ShapeSpec(channels=256 // divisor, stride=16)}
    assert not hasattr(bb.stem, "pathway1")
    assert all(getattr(bb, s).fuse is None for s in bb.stage_names)
    assert bb.stem.pathway0.conv.kernel_size[0] == [1, 5][ref]
    assert [
        getattr(bb, s).pathway0[0].conv1.kernel_size[0] for s in ("res2", "res3", "res4", "res5")
    ] == [[1, 1, 3, 3], [3, 3, 3, 3]][ref]
    x = torch.randn(1, 3, 4, 32, 32)
    out = bb([x])
    assert list(out) == ["pathway0"] and out["pathway0"].shape == (1, 256 // divisor, 4, 2, 2)
    with pytest.raises(ValueError, match="list of 1 pathway"):
        bb(clip())


def test_nonlocal_blocks_at_configured_indices(tiny_cfg):
    tiny_cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 1, 4, 1]
    tiny_cfg.MODEL.SLOWFAST.NONLOCAL_LOCATIONS = [[[], []], [[], []], [[1, 3], []], [[], []]]
    tiny_cfg.MODEL.SLOWFAST.NONLOCAL_POOL = [2, 2, 2]
    bb = build_backbone(tiny_cfg)
    assert list(bb.res4.pathway0._modules) == ["0", "1", "nonlocal1", "2", "3", "nonlocal3"]
    assert list(bb.res4.pathway1._modules) == ["0", "1", "2", "3"]
    nl = bb.res4.pathway0.nonlocal1
    assert nl.conv_theta.out_channels == 128 // 2 and nl.pool.kernel_size == (2, 2, 2)
    out = bb(clip(t=16, hw=64))
    assert out["pathway0"].shape == (2, 256, 4, 4, 4)
    tiny_cfg.MODEL.SLOWFAST.NONLOCAL_LOCATIONS = [[[], []], [[], []], [[4], []], [[], []]]
    with pytest.raises(ValueError, match="NONLOCAL_LOCATIONS"):
        build_backbone(tiny_cfg)


@pytest.mark.parametrize("instantiation", ["dot_product", "softmax"])
def test_nonlocal_block_math(instantiation):
    torch.manual_seed(0)
    nl = NonLocalBlock3d(6, 3, pool_size=(1, 2, 2), instantiation=instantiation, norm="BN").eval()
    x = torch.randn(2, 6, 2, 4, 4)
    # Zero-initialised final norm: the block starts as the identity.
    torch.testing.assert_close(nl(x), x)
    with torch.no_grad():
        nl.conv_out.norm.weight.fill_(1.0)
    # Explicit per-position formula.
    theta = nl.conv_theta(x).flatten(2).transpose(1, 2)  # (N, 32, 3)
    xp = F.max_pool3d(x, (1, 2, 2), (1, 2, 2))
    phi = nl.conv_phi(xp).flatten(2).transpose(1, 2)  # (N, 8, 3)
    g = nl.conv_g(xp).flatten(2).transpose(1, 2)  # (N, 8, 3)
    aff = theta @ phi.transpose(1, 2)  # (N, 32, 8)
    if instantiation == "softmax":
        aff = (aff / 3**0.5).softmax(-1)
    else:
        aff = aff / 8
    y = (aff @ g).transpose(1, 2).reshape(2, 3, 2, 4, 4)
    expected = x + nl.conv_out.norm(F.conv3d(y, nl.conv_out.weight, nl.conv_out.bias))
    torch.testing.assert_close(nl(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm", ["BN", "SyncBN", "FrozenBN"])
def test_norms_train_step(tiny_cfg, norm):
    tiny_cfg.MODEL.SLOWFAST.NORM = norm
    bb = build_backbone(tiny_cfg).train()
    norm_type = {
        "BN": torch.nn.BatchNorm3d,
        "SyncBN": torch.nn.SyncBatchNorm,
        "FrozenBN": FrozenBatchNorm3d,
    }[norm]
    norms = [m for m in bb.modules() if isinstance(m, norm_type)]
    assert len(norms) == len([n for n, _ in bb.named_modules() if n.endswith(".norm")]) > 0
    out = bb(clip())
    (out["pathway0"].mean() + out["pathway1"].mean()).backward()
    convs = [m for m in bb.modules() if isinstance(m, torch.nn.Conv3d)]
    assert all(c.weight.grad is not None for c in convs)
    if norm == "FrozenBN":
        assert not any(p.requires_grad for m in norms for p in m.parameters(recurse=False))
        assert all(m.running_mean.abs().sum() == 0 for m in norms)  # never updated
    else:
        assert all(m.weight.grad is not None for m in norms)
        assert all(m.num_batches_tracked.item() == 1 for m in norms)


def test_norm_name_error(tiny_cfg):
    tiny_cfg.MODEL.SLOWFAST.NORM = "GN"
    with pytest.raises(ValueError, match="MODEL.SLOWFAST.NORM"):
        build_backbone(tiny_cfg)


def test_frozen_bn_3d_matches_eval_batchnorm_with_and_without_grad():
    bn = torch.nn.BatchNorm3d(4).eval()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    frozen = FrozenBatchNorm3d(4)
    frozen.load_state_dict({k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"})
    x = torch.randn(2, 4, 3, 5, 5)
    expected = bn(x)
    torch.testing.assert_close(frozen(x), expected)
    torch.testing.assert_close(frozen(x.clone().requires_grad_()), expected)  # the broadcast path


def test_input_validation(tiny_cfg):
    bb = build_backbone(tiny_cfg)
    with pytest.raises(ValueError, match="list of 2 pathway"):
        bb(clip()[:1])
    with pytest.raises(ValueError, match=r"\(N, C, T, H, W\)"):
        bb([torch.randn(3, 2, 16, 16), torch.randn(3, 8, 16, 16)])
    slow, fast = clip(t=8)
    with pytest.raises(ValueError, match="T_fast / ALPHA"):
        bb([slow[:, :, :1], fast])


def test_plain_arguments():
    """The backbone is buildable without a config."""
    bb = SlowFast(stage_blocks=(1, 1, 1, 1), width_per_group=8, stem_out_channels=8)
    assert bb.output_shape()["pathway0"] == ShapeSpec(channels=256, stride=16)
