"""Eval-mode weights (BatchNorm folded, channels-last) are computed once per eval-mode model
and recomputed after train(), eval(), load_state_dict and .to(): never a stale result."""

import copy

import torch
import torch.nn.functional as F
from detectron2.modeling import build_backbone
from torch import nn

from benchmarks.random_weights import randomize_
from slowfast_det.modeling import Conv3d, FrozenBatchNorm3d

CL3 = torch.channels_last_3d


def _conv(norm_cls=nn.BatchNorm3d, kernel=(1, 3, 3), padding=(0, 1, 1)):
    conv = Conv3d(
        4, 6, kernel_size=kernel, padding=padding, bias=False, norm=norm_cls(6), activation=F.relu
    )
    conv.fold_norm = True
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        conv.norm.running_mean.copy_(torch.rand(6, generator=g) - 0.5)
        conv.norm.running_var.copy_(torch.rand(6, generator=g) + 0.5)
    return conv


def _count_folds(monkeypatch, conv):
    calls = []
    original = conv._folded_weight_bias

    def counting():
        calls.append(1)
        return original()

    monkeypatch.setattr(conv, "_folded_weight_bias", counting)
    return calls


def test_folded_channels_last_weights_are_computed_once_in_eval(monkeypatch):
    conv = _conv().eval()
    calls = _count_folds(monkeypatch, conv)
    x = torch.randn(2, 4, 3, 6, 6).contiguous(memory_format=CL3)
    with torch.no_grad():
        first = conv(x)
        second = conv(x)
    assert len(calls) == 1
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    _, weight, _, folded = conv._inference_weights
    assert folded and weight.is_contiguous(memory_format=CL3)
    with torch.no_grad():
        conv(x.contiguous())  # another memory format: a new entry
    assert len(calls) == 2


def test_cache_follows_train_eval_and_in_place_updates():
    conv = _conv().eval()
    x = torch.randn(2, 4, 3, 6, 6).contiguous(memory_format=CL3)
    with torch.no_grad():
        before = conv(x)
    conv.train()
    opt = torch.optim.SGD(conv.parameters(), lr=0.5)
    conv(x).square().mean().backward()  # updates the running statistics too
    opt.step()
    conv.eval()
    with torch.no_grad():
        after = conv(x)
        fresh = copy.deepcopy(conv).eval()
        fresh.clear_inference_cache()
        fresh.fold_norm = False
        expected = fresh(x)
    assert (after - before).abs().max() > 1e-3
    torch.testing.assert_close(after, expected, rtol=1e-5, atol=1e-5)


def test_cache_is_dropped_by_load_state_dict_of_a_parent_and_by_to():
    parent = nn.Sequential(_conv(FrozenBatchNorm3d)).eval()
    other = nn.Sequential(_conv(FrozenBatchNorm3d))
    with torch.no_grad():
        other[0].weight.mul_(-2.0)
        other[0].norm.running_mean.add_(0.3)
    x = torch.randn(1, 4, 2, 5, 5).contiguous(memory_format=CL3)
    with torch.no_grad():
        parent(x)
        parent.load_state_dict(other.state_dict())
        got = parent(x)
        other.eval()
        other[0].fold_norm = False
        torch.testing.assert_close(got, other(x), rtol=1e-5, atol=1e-5)
        parent.to(torch.float64)
        got64 = parent(x.double())
    assert got64.dtype == torch.float64
    torch.testing.assert_close(got64.float(), got, rtol=1e-5, atol=1e-5)


def test_no_cache_when_weight_gradients_are_wanted_in_eval():
    conv = _conv().eval()
    x = torch.randn(1, 4, 2, 5, 5).contiguous(memory_format=CL3)
    conv(x).sum().backward()
    assert conv._inference_weights is None
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert conv.norm.weight.grad is not None  # through the folded weight


def test_backbone_eval_outputs_stay_equal_to_unfolded_over_repeated_calls(tiny_cfg):
    tiny_cfg.MODEL.SLOWFAST.NORM = "FrozenBN"
    model = randomize_(build_backbone(tiny_cfg))
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, Conv3d):
            m.fold_norm = False
    g = torch.Generator().manual_seed(0)
    x = [torch.randn(1, 3, 2, 32, 32, generator=g), torch.randn(1, 3, 8, 32, 32, generator=g)]
    with torch.no_grad():
        expected = ref(x)
        for _ in range(2):
            got = model(x)
            for k in expected:
                torch.testing.assert_close(got[k], expected[k], rtol=1e-4, atol=1e-4)
        assert all(
            m._inference_weights is not None for m in model.modules() if isinstance(m, Conv3d)
        )
