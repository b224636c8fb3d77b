"""The speed levers change no result: the 2D formulations of the 3D convolutions on
channels_last_3d features (forward and backward), BatchNorm folding in eval mode, the
channels-last temporal mean, the one-copy clip packing, and bf16 inference (close, float32
scores). Tiny shapes only."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import build_model
from torch import nn

from benchmarks.random_weights import randomize_
from slowfast_det.modeling import Conv3d, FrozenBatchNorm3d, fast_ops
from slowfast_det.modeling.fast_ops import (
    choose_algorithm,
    conv3d,
    gemm_conv3d,
    im2col_conv3d,
    is_channels_last_3d,
    taps_conv3d,
    temporal_mean,
)

CL3 = torch.channels_last_3d

# (C_in, C_out, kernel, stride, padding, dilation, groups): every path of fast_ops.conv3d.
CONV_CASES = {
    "pointwise": (6, 5, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1),
    "pointwise strided (shortcut)": (6, 5, (1, 1, 1), (1, 2, 2), (0, 0, 0), (1, 1, 1), 1),
    "spatial 3x3": (6, 4, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1), 1),
    "spatial 3x3 stride 2": (6, 4, (1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1), 1),
    "spatial 3x3 dilation 2, groups 2": (6, 4, (1, 3, 3), (1, 1, 1), (0, 2, 2), (1, 2, 2), 2),
    "spatial stem 1x7x7": (3, 4, (1, 7, 7), (1, 2, 2), (0, 3, 3), (1, 1, 1), 1),
    "temporal 3x1x1": (6, 4, (3, 1, 1), (1, 1, 1), (1, 0, 0), (1, 1, 1), 1),
    "temporal lateral 5x1x1 stride 4": (4, 8, (5, 1, 1), (4, 1, 1), (2, 0, 0), (1, 1, 1), 1),
    "fallback: stem 5x7x7": (3, 4, (5, 7, 7), (1, 2, 2), (2, 3, 3), (1, 1, 1), 1),
    "fallback: 3x3x3": (4, 4, (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), 1),
}


@pytest.mark.parametrize("algorithm", [None, "conv2d", "gemm", "im2col"])
@pytest.mark.parametrize("case", list(CONV_CASES))
@pytest.mark.parametrize("n", [1, 2])
def test_fast_conv3d_matches_conv3d_forward_and_backward(case, n, algorithm):
    cin, cout, k, stride, pad, dil, groups = CONV_CASES[case]
    if algorithm in ("gemm", "im2col") and groups != 1:
        pytest.skip("the matrix-product formulation is for groups == 1 only")
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(n, cin, 8, 12, 10, generator=g)
    w0 = torch.randn(cout, cin // groups, *k, generator=g)
    b0 = torch.randn(cout, generator=g)
    up = torch.randn(F.conv3d(x0, w0, b0, stride, pad, dil, groups).shape, generator=g)

    def run(fn, x_layout, **kwargs):
        leaf = x0.clone(memory_format=x_layout).requires_grad_(True)
        # The gradient as the layer before would get it (a leaf's .grad is re-laid-out).
        x, grads = leaf * 1.0, []
        x.register_hook(grads.append)
        w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
        y = fn(x, w, b, stride, pad, dil, groups, **kwargs)
        (y * up).sum().backward()
        return y, grads[0], w.grad, b.grad

    ref = run(F.conv3d, torch.contiguous_format)
    ours = run(conv3d, CL3, algorithm=algorithm)
    for r, o, what in zip(ref, ours, ("output", "grad input", "grad weight", "grad bias")):
        assert o.shape == r.shape, what
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4, msg=f"{case}: {what}")
    if not case.startswith("fallback"):
        assert is_channels_last_3d(ours[0]), "the 2D paths keep the channels_last_3d layout"
        # ... in the input gradient too (a default-layout one slows every backward before it)
        assert is_channels_last_3d(ours[1]), "grad input is channels_last_3d"


# (C_in, C_out, kernel, stride, padding, dilation) of kernels with temporal and spatial extent.
TAPS_CASES = {
    "Fast stem 5x7x7": (3, 4, (5, 7, 7), (1, 2, 2), (2, 3, 3), (1, 1, 1)),
    "3x3x3": (4, 4, (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
    "3x3x3 no temporal padding": (4, 5, (3, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1)),
    "3x3x3 temporal dilation 2": (4, 5, (3, 3, 3), (1, 2, 1), (2, 1, 0), (2, 1, 1)),
    "2x3x3 padding beyond the kernel": (3, 2, (2, 3, 3), (1, 1, 1), (3, 0, 1), (1, 1, 2)),
}


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("case", list(TAPS_CASES))
@pytest.mark.parametrize("n", [1, 2])
def test_taps_conv3d_matches_conv3d_forward_and_backward(case, n, bias):
    """The Fast stem's formulation for training (one 2D convolution over the temporal taps,
    then the shifted sum): output and all gradients as F.conv3d's."""
    cin, cout, k, stride, pad, dil = TAPS_CASES[case]
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(n, cin, 7, 12, 10, generator=g)
    w0 = torch.randn(cout, cin, *k, generator=g)
    b0 = torch.randn(cout, generator=g) if bias else None
    up = torch.randn(F.conv3d(x0, w0, b0, stride, pad, dil).shape, generator=g)

    def run(fn, layout, **kwargs):
        x = x0.clone(memory_format=layout).requires_grad_(True)
        w = w0.clone().requires_grad_(True)
        b = b0.clone().requires_grad_(True) if bias else None
        y = fn(x, w, b, stride, pad, dil, 1, **kwargs)
        (y * up.contiguous(memory_format=layout)).sum().backward()
        return [y, x.grad, w.grad] + ([b.grad] if bias else [])

    ref = run(F.conv3d, torch.contiguous_format)
    ours = run(conv3d, CL3, algorithm="taps")
    assert is_channels_last_3d(ours[0])
    for r, o, what in zip(ref, ours, ("output", "grad input", "grad weight", "grad bias")):
        assert o.shape == r.shape, what
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4, msg=f"{case}: {what}")


def test_taps_conv3d_refuses_a_temporal_stride():
    x = torch.randn(1, 3, 8, 8, 8).contiguous(memory_format=CL3)
    with pytest.raises(ValueError, match="temporal stride"):
        taps_conv3d(x, torch.randn(4, 3, 3, 3, 3), None, (2, 1, 1), (1, 1, 1), (1, 1, 1))


@pytest.mark.parametrize("product", [gemm_conv3d, im2col_conv3d])
@pytest.mark.parametrize("case", [c for c in CONV_CASES if not c.startswith("fallback")])
def test_products_with_channels_last_weight(case, product):
    """The eval-mode weight cache keeps weights channels-last: the products read them as is."""
    cin, cout, k, stride, pad, dil, groups = CONV_CASES[case]
    if groups != 1:
        pytest.skip("groups == 1 only")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, cin, 8, 12, 10, generator=g)
    w = torch.randn(cout, cin, *k, generator=g)
    b = torch.randn(cout, generator=g)
    y = product(
        x.contiguous(memory_format=CL3), w.contiguous(memory_format=CL3), b, stride, pad, dil
    )
    torch.testing.assert_close(y, F.conv3d(x, w, b, stride, pad, dil), rtol=1e-4, atol=1e-4)
    assert is_channels_last_3d(y)


def test_choose_algorithm_by_size_and_isa(monkeypatch):
    cl = dict(memory_format=CL3)
    small = torch.empty(1, 8, 8, 16, 16).contiguous(**cl)  # 2048 positions
    big = torch.empty(1, 64, 32, 64, 64).contiguous(**cl)  # 131072 positions
    tiny_map = torch.empty(1, 2048, 2, 4, 4).contiguous(**cl)  # 32 positions
    pw = torch.empty(32, 8, 1, 1, 1)
    one = (1, 1, 1)
    monkeypatch.setattr(fast_ops, "_cpu_has_avx512", lambda: False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert choose_algorithm(small, pw, one, 1) == "gemm"
    # in training (a weight gradient) oneDNN's pointwise convolution wins above 64 positions
    assert choose_algorithm(small, pw.clone().requires_grad_(True), one, 1) == "conv2d"
    wide = torch.empty(512, 2048, 1, 1, 1, requires_grad=True)
    assert choose_algorithm(tiny_map, wide, one, 1) == "gemm"
    assert choose_algorithm(big, torch.empty(256, 64, 1, 1, 1), one, 1) == "conv2d"
    assert choose_algorithm(big, torch.empty(64, 64, 1, 3, 3), one, 1) == "conv2d"
    # at most 64 positions, no weight gradient: one weight-first product on several threads,
    # the per-tap products (which skip the padding) on one
    assert choose_algorithm(tiny_map, torch.empty(512, 2048, 3, 1, 1), one, 1) == "im2col"
    assert choose_algorithm(tiny_map, torch.empty(512, 2048, 1, 1, 1), one, 1) == "im2col"
    with torch.no_grad():
        assert choose_algorithm(tiny_map, wide, one, 1) == "im2col"
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert choose_algorithm(tiny_map, torch.empty(512, 2048, 3, 1, 1), one, 1) == "gemm"
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert choose_algorithm(tiny_map, torch.empty(512, 1024, 1, 3, 3), one, 2) == "conv2d"
    # a kernel with temporal and spatial extent: the taps formulation only for training
    stem = torch.empty(4, 3, 5, 7, 7, requires_grad=True)
    clip = torch.empty(1, 3, 8, 32, 32).contiguous(**cl)
    assert choose_algorithm(clip, stem, (1, 2, 2), 1) == "taps"
    assert choose_algorithm(clip, stem, (2, 2, 2), 1) == "conv3d"
    assert choose_algorithm(clip, stem.detach(), (1, 2, 2), 1) == "conv3d"
    with torch.no_grad():
        assert choose_algorithm(clip, stem, (1, 2, 2), 1) == "conv3d"
    # AVX-512: the products without a weight gradient only, no taps
    monkeypatch.setattr(fast_ops, "_cpu_has_avx512", lambda: True)
    assert choose_algorithm(small, pw, one, 1) == "gemm"
    assert choose_algorithm(tiny_map, torch.empty(512, 2048, 3, 1, 1), one, 1) == "im2col"
    assert choose_algorithm(tiny_map, wide, one, 1) == "conv2d"
    assert choose_algorithm(big, torch.empty(256, 64, 1, 1, 1), one, 1) == "conv2d"
    with torch.no_grad():
        assert choose_algorithm(tiny_map, wide, one, 1) == "im2col"
    assert choose_algorithm(clip, stem, (1, 2, 2), 1) == "conv3d"


def test_traced_convolutions_stay_convolutions(monkeypatch):
    """fvcore's FLOP count and TorchScript export trace the model: they see a convolution on
    every machine, not the matrix products an AVX2 CPU runs."""
    monkeypatch.setattr(fast_ops, "_cpu_has_avx512", lambda: False)
    x = torch.randn(1, 8, 8, 16, 16).contiguous(memory_format=CL3)
    w = torch.randn(32, 8, 1, 1, 1)
    assert choose_algorithm(x, w, (1, 1, 1), 1) == "gemm"
    traced = torch.jit.trace(lambda t: conv3d(t, w, None, (1, 1, 1), (0, 0, 0), (1, 1, 1), 1), x)
    kinds = {n.kind() for n in traced.graph.nodes()}
    assert "aten::_convolution" in kinds and "aten::linear" not in kinds, kinds


def test_fast_conv3d_leaves_contiguous_inputs_to_conv3d():
    x = torch.randn(1, 4, 4, 6, 6)
    w = torch.randn(3, 4, 1, 3, 3)
    assert torch.equal(
        conv3d(x, w, None, (1, 1, 1), (0, 1, 1), (1, 1, 1), 1),
        F.conv3d(x, w, None, (1, 1, 1), (0, 1, 1), (1, 1, 1), 1),
    )


@pytest.mark.parametrize("shape", [(1, 16, 4, 5, 6), (2, 3, 8, 1, 7), (2, 5, 1, 3, 3)])
def test_temporal_mean(shape):
    x = torch.randn(shape)
    ref = x.mean(dim=2)
    torch.testing.assert_close(temporal_mean(x), ref)
    torch.testing.assert_close(temporal_mean(x.contiguous(memory_format=CL3)), ref)
    # Gradient: equal to mean's, and channels-last for a channels-last input whatever the
    # layout of the gradient handed back (ROIAlign's backward gives the default one).
    up = torch.randn(ref.shape)
    x_ref = x.clone().requires_grad_(True)
    (x_ref.mean(dim=2) * up).sum().backward()
    x_cl = x.contiguous(memory_format=CL3).requires_grad_(True)
    inner, grads = x_cl * 1.0, []  # not a leaf: its gradient as the layer before gets it
    inner.register_hook(grads.append)
    (temporal_mean(inner) * up).sum().backward()
    torch.testing.assert_close(grads[0], x_ref.grad)
    assert is_channels_last_3d(grads[0])


def _random_bn_(bn, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn.running_mean.copy_(torch.rand(bn.running_mean.shape, generator=g) - 0.5)
        bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g) + 0.5)
        bn.weight.copy_(torch.rand(bn.weight.shape, generator=g) + 0.5)
        bn.bias.copy_(torch.rand(bn.bias.shape, generator=g) - 0.5)
    return bn


@pytest.mark.parametrize("norm_cls", [nn.BatchNorm3d, FrozenBatchNorm3d])
@pytest.mark.parametrize("conv_bias", [False, True])
def test_conv_bn_folding_eval_equals_unfolded(norm_cls, conv_bias):
    conv = Conv3d(
        4,
        6,
        kernel_size=(3, 1, 1),
        padding=(1, 0, 0),
        bias=conv_bias,
        norm=_random_bn_(norm_cls(6)),
        activation=F.relu_,
    ).eval()
    x = torch.randn(2, 4, 4, 5, 5)
    with torch.no_grad():
        conv.fold_norm = False
        ref = conv(x)
        conv.fold_norm = True
        assert conv._folded_weight_bias() is not None
        folded = conv(x)
        folded_cl = conv(x.contiguous(memory_format=CL3))
    torch.testing.assert_close(folded, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(folded_cl, ref, rtol=1e-5, atol=1e-5)


def test_no_folding_in_training_mode():
    conv = Conv3d(4, 6, kernel_size=1, bias=False, norm=nn.BatchNorm3d(6))
    conv.fold_norm = True
    conv.train()
    assert conv._folded_weight_bias() is None
    conv(torch.randn(2, 4, 2, 3, 3))
    assert conv.norm.num_batches_tracked.item() == 1  # the norm ran and updated its statistics
    conv.eval()
    conv.norm.track_running_stats = True
    assert conv._folded_weight_bias() is not None
    untracked = Conv3d(
        4, 6, kernel_size=1, bias=False, norm=nn.BatchNorm3d(6, track_running_stats=False)
    )
    untracked.fold_norm = True
    assert (
        untracked.eval()._folded_weight_bias() is None
    )  # batch statistics even in eval: not foldable


def _randomize_model_(model, seed=0):
    training = model.training
    randomize_(model, seed).train(training)  # keep the caller's mode
    with torch.no_grad():
        model.roi_heads.predictor.weight.normal_(
            0, 0.3, generator=torch.Generator().manual_seed(seed)
        )
    return model


def _variant(tiny_cfg, state_dict=None, **sf):
    cfg = tiny_cfg.clone()
    for k, v in sf.items():
        setattr(cfg.MODEL.SLOWFAST, k, v)
    model = build_model(cfg)
    if state_dict is None:
        _randomize_model_(model)
    else:
        model.load_state_dict(state_dict, strict=True)  # same parameters in every variant
    return model


def _batch(make_input, labels=False):
    boxes = [[2.0, 3, 40, 30], [10, 0, 63, 47], [20, 20, 30, 30]]
    lab = torch.eye(5)[:3] if labels else None
    lab2 = torch.eye(5)[3:4] if labels else None
    return [
        make_input(48, 64, boxes, labels=lab, seed=1),
        make_input(40, 56, boxes[:1], labels=lab2, seed=2),
    ]


def test_detector_outputs_equal_with_and_without_levers(tiny_cfg, make_input):
    ref_model = _variant(tiny_cfg, FOLD_BN_FOR_INFERENCE=False, CHANNELS_LAST=False).eval()
    sd = ref_model.state_dict()
    batch = _batch(make_input)
    with torch.no_grad():
        ref = [o["instances"].scores for o in ref_model(batch)]
        assert torch.cat(ref).std() > 0.05  # a non-degenerate comparison
        for fold in (False, True):
            for cl in (False, True):
                model = _variant(tiny_cfg, sd, FOLD_BN_FOR_INFERENCE=fold, CHANNELS_LAST=cl).eval()
                assert set(model.state_dict()) == set(sd)
                out = [o["instances"].scores for o in model(batch)]
                for o, r in zip(out, ref):
                    assert (o - r).abs().max().item() <= 1e-4, (fold, cl)


def test_training_step_equal_with_and_without_channels_last(tiny_cfg, make_input):
    tiny_cfg.MODEL.ROI_ACTION_HEAD.DROPOUT_RATE = 0.0
    # Fixed convolution weights (build_model draws them from the global RNG, whose state
    # depends on the tests run before): with some draws a ReLU input lies within float32
    # rounding of 0 and one of the two paths gates it the other way. Seed 2 of 12 tried did
    # that, in the contiguous reference (1.8e-3 from a float64 run; channels-last 3e-6).
    with torch.random.fork_rng():
        torch.manual_seed(0)
        a = _variant(tiny_cfg, CHANNELS_LAST=False).train()
    b = _variant(tiny_cfg, a.state_dict(), CHANNELS_LAST=True).train()
    batch = _batch(make_input, labels=True)
    la, lb = a(batch)["loss_action"], b(batch)["loss_action"]
    la.backward()
    lb.backward()
    torch.testing.assert_close(lb, la, rtol=1e-5, atol=1e-6)
    grads_b = dict(b.named_parameters())
    for name, p in a.named_parameters():
        # Float rounding of sums over every position scales with the gradient's size: 5e-5 on
        # the Fast stem's weight gradient (max 2.6) under one random state.
        scale = float(p.grad.abs().max())
        torch.testing.assert_close(
            grads_b[name].grad, p.grad, rtol=1e-3, atol=1e-5 + 1e-4 * scale, msg=name
        )
    # BatchNorm statistics were updated identically (training-mode norms are never folded).
    for (name, buf), buf_b in zip(a.named_buffers(), b.buffers()):
        torch.testing.assert_close(buf_b, buf, rtol=1e-4, atol=1e-6, msg=name)


def test_clips_are_packed_in_the_backbone_layout(tiny_cfg, make_input):
    model = _variant(tiny_cfg).eval()
    seen = {}
    model.backbone.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    batch = _batch(make_input)
    with torch.no_grad():
        model(batch)
    slow, fast = seen["x"]
    assert (
        fast.shape == (2, 3, 8, 48, 64) and is_channels_last_3d(fast) and is_channels_last_3d(slow)
    )
    # The second clip (40 x 56) is zero-padded at the bottom / right.
    torch.testing.assert_close(
        fast[1, :, :, :40, :56], (batch[1]["clip"].float() - model.pixel_mean) / model.pixel_std
    )
    assert fast[1, :, :, 40:].abs().sum() == 0 and fast[1, :, :, :, 56:].abs().sum() == 0


def test_bf16_inference_is_close_and_returns_float32(tiny_cfg, make_input):
    fp32 = _variant(tiny_cfg).eval()
    tiny_cfg.TEST.BF16 = True
    bf16 = _variant(tiny_cfg, fp32.state_dict()).eval()
    assert bf16.bf16_inference
    dtypes = []
    bf16.backbone.register_forward_hook(lambda m, i, out: dtypes.append(out["pathway0"].dtype))
    batch = _batch(make_input)
    with torch.no_grad():
        ref = torch.cat([o["instances"].scores for o in fp32(batch)])
        out = torch.cat([o["instances"].scores for o in bf16(batch)])
    assert dtypes == [torch.bfloat16]  # autocast was on
    assert out.dtype == torch.float32
    assert (out - ref).abs().max().item() < 0.05
    # Training is never autocast by TEST.BF16.
    bf16.train()
    loss = bf16(_batch(make_input, labels=True))["loss_action"]
    assert loss.dtype == torch.float32 and dtypes == [torch.bfloat16, torch.float32]
