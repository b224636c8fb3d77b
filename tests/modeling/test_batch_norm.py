"""slowfast_det.modeling.batch_norm: the column-sum batch norm for channels-last CPU features
equals nn.BatchNorm3d (output, gradients, running statistics) and leaves every other case to
it. Tiny shapes only."""

import pytest
import torch
from torch import nn

from slowfast_det.modeling import get_norm3d
from slowfast_det.modeling.batch_norm import NTHWC_MAX_CHANNELS, BatchNorm3d, batch_norm_nthwc

CL3 = torch.channels_last_3d


def _pair(c, **kwargs):
    ref = nn.BatchNorm3d(c, **kwargs)
    if ref.affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-1.0, 1.0)
    ours = BatchNorm3d(c, **kwargs)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _run(module, x0, up, steps=2):
    """``steps`` training calls; returns the last output, the input / parameter gradients."""
    for _ in range(steps):
        module.zero_grad()
        x = x0.clone().requires_grad_(True)
        y = module(x)
        (y * up).sum().backward()
    params = [p.grad for p in module.parameters()]
    return [y, x.grad] + params


@pytest.mark.parametrize("c", [1, 3, 4, 8])
@pytest.mark.parametrize("shape", [(2, 4, 6, 5), (3, 3, 7, 9)])  # (N, T, H, W); odd row counts
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False}])
def test_equals_nn_batchnorm3d_in_training(c, shape, kwargs, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "slowfast_det.modeling.batch_norm.batch_norm_nthwc",
        lambda *a, **k: calls.append(1) or batch_norm_nthwc(*a, **k),
    )
    n, t, h, w = shape
    g = torch.Generator().manual_seed(c)
    x0 = (torch.randn(n, c, t, h, w, generator=g) * 3 + 2).contiguous(memory_format=CL3)
    up = torch.randn(x0.shape, generator=g)
    ref, ours = _pair(c, **kwargs)
    expected, got = _run(ref, x0, up), _run(ours, x0, up)
    assert got[0].is_contiguous(memory_format=CL3)
    for name, a, b in zip(("output", "grad input", "grad weight", "grad bias"), got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)
    for (name, a), b in zip(ours.named_buffers(), ref.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6, msg=name)
    assert int(ours.num_batches_tracked) == 2
    assert len(calls) == 2, "the column-sum path was taken"


def test_inplace_relu_after_it_keeps_channels_last_gradients():
    """The output is a tensor of its own (not a view), so an in-place ReLU on it leaves the
    input gradient channels-last and equal to nn.BatchNorm3d's (a view output made autograd
    rebuild it in the default layout)."""
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(2, 4, 3, 6, 5, generator=g).contiguous(memory_format=CL3)
    up = torch.randn(x0.shape, generator=g)
    ref, ours = _pair(4)
    grads = []
    for module in (ref, ours):
        x = x0.clone().requires_grad_(True) * 1.0  # not a leaf: its gradient as is
        x.register_hook(grads.append)
        y = module(x)
        if module is ours:
            assert y._base is None
        (torch.nn.functional.relu_(y) * up).sum().backward()
    assert grads[1].is_contiguous(memory_format=CL3)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-5)


def test_statistics_precise_on_a_large_offset():
    """The variance comes from centred values: a mean 1000x the spread loses nothing (float64
    reference), where E[x^2] - E[x]^2 in float32 would keep no significant digit."""
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 4, 8, 16, 16, generator=g, dtype=torch.float64) + 1000.0).contiguous(
        memory_format=CL3
    )
    y, mean, var = batch_norm_nthwc(x.float())
    ref_mean = x.mean(dim=(0, 2, 3, 4))
    ref_var = x.var(dim=(0, 2, 3, 4), unbiased=False)
    torch.testing.assert_close(mean.double(), ref_mean, rtol=1e-6, atol=0)
    torch.testing.assert_close(var.double(), ref_var, rtol=1e-3, atol=0)
    ref_y = (x - ref_mean.view(1, -1, 1, 1, 1)) / torch.sqrt(ref_var.view(1, -1, 1, 1, 1) + 1e-5)
    torch.testing.assert_close(y.double(), ref_y, rtol=0, atol=2e-3)


@pytest.mark.parametrize(
    "case", ["eval", "contiguous input", "wide", "no running stats", "one value per channel"]
)
def test_other_cases_are_nn_batchnorm3d(case, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "slowfast_det.modeling.batch_norm.batch_norm_nthwc",
        lambda *a, **k: calls.append(1) or batch_norm_nthwc(*a, **k),
    )
    c = NTHWC_MAX_CHANNELS + 1 if case == "wide" else 4
    kwargs = {"track_running_stats": False} if case == "no running stats" else {}
    ref, ours = _pair(c, **kwargs)
    shape = (1, c, 1, 1, 1) if case == "one value per channel" else (2, c, 3, 4, 5)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    if case != "contiguous input":
        x = x.contiguous(memory_format=CL3)
    for m in (ref, ours):
        m.train(case != "eval")
    if case == "one value per channel":
        with pytest.raises(ValueError):
            ours(x)
    else:
        assert torch.equal(ours(x), ref(x))
    assert not calls


def test_used_for_bn_and_state_dict_unchanged():
    norm = get_norm3d("BN", 4)
    assert isinstance(norm, BatchNorm3d) and isinstance(norm, nn.BatchNorm3d)
    assert list(norm.state_dict()) == list(nn.BatchNorm3d(4).state_dict())
    norm.load_state_dict(nn.BatchNorm3d(4).state_dict())


def test_bfloat16_input_is_normalised_in_float32():
    """Under autocast (SOLVER.AMP on a CPU) the map arrives in bfloat16: statistics, output and
    running statistics are the float32 computation on the same values, not sums rounded to 8
    bits; the input's gradient comes back in bfloat16."""
    g = torch.Generator().manual_seed(0)
    x16 = (torch.randn(2, 4, 6, 30, 40, generator=g) * 3 + 2).to(torch.bfloat16)
    x16 = x16.contiguous(memory_format=CL3).requires_grad_(True)
    x32 = x16.detach().float().contiguous(memory_format=CL3).requires_grad_(True)
    up = torch.randn(x16.shape, generator=g)
    _, bn16 = _pair(4)
    ref, bn32 = _pair(4)
    bn16.load_state_dict(ref.state_dict())
    y16, y32 = bn16(x16), bn32(x32)
    assert y16.dtype == torch.float32 and y16.is_contiguous(memory_format=CL3)
    torch.testing.assert_close(y16, y32)
    (y16 * up).sum().backward()
    (y32 * up).sum().backward()
    assert x16.grad.dtype == torch.bfloat16
    torch.testing.assert_close(x16.grad, x32.grad.to(torch.bfloat16))
    torch.testing.assert_close(bn16.weight.grad, bn32.weight.grad)
    for a, b in zip(bn16.buffers(), bn32.buffers()):
        torch.testing.assert_close(a, b)
