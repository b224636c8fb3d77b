"""slowfast_det.modeling.roi_align: ROIAlign as matrix products equals torchvision's kernel
(output and input gradient) on boxes inside, across and outside the map, degenerate boxes,
fixed and adaptive sampling, aligned and legacy mode; the module uses it only for CPU
training. Tiny shapes only."""

import pytest
import torch
from detectron2.layers import ROIAlign
from torchvision.ops import roi_align

from slowfast_det.modeling.roi_align import MatrixROIAlign, roi_align_matrix


def _rois(g, n, r, h, w, scale):
    """(R + 4, 5) rois in input pixels: random boxes (some past the borders) and edge cases."""
    corners = torch.rand(r, 2, 2, generator=g) * 1.4 - 0.2  # (box, corner, xy) in map units
    low, high = corners.min(1).values, corners.max(1).values
    boxes = torch.cat([low, high], 1) * torch.tensor([w, h, w, h], dtype=torch.float32)
    edge = torch.tensor(
        [
            [0.0, 0.0, w, h],  # the whole map
            [2.0, 3.0, 2.0, 3.0],  # a point (zero size)
            [-4.0, -4.0, -2.0, -1.5],  # fully outside
            [0.5, 0.5, 0.7, 6.0],  # thin
        ]
    )
    boxes = torch.cat([boxes, edge]) / scale
    index = torch.randint(0, n, (boxes.shape[0], 1), generator=g).float()
    return torch.cat([index, boxes], 1)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
@pytest.mark.parametrize("scale", [1.0, 1.0 / 16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_equals_torchvision_forward_and_backward(aligned, sampling_ratio, scale, channels_last):
    g = torch.Generator().manual_seed(int(aligned) + 2 * sampling_ratio)
    n, c, h, w = 3, 5, 8, 10
    x0 = torch.randn(n, c, h, w, generator=g)
    if channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last)
    rois = _rois(g, n, 12, h, w, scale)
    up = torch.randn(rois.shape[0], c, 7, 7, generator=g)
    results = []
    for fn in (roi_align, roi_align_matrix):
        x = x0.clone().requires_grad_(True)
        y = fn(x, rois, 7, scale, sampling_ratio, aligned)
        (y * up).sum().backward()
        results.append((y, x.grad))
    (ref, ref_grad), (out, grad) = results
    assert out.shape == ref.shape == (rois.shape[0], c, 7, 7)
    assert ref.abs().sum() > 0 and ref_grad.abs().sum() > 0  # the cases are not all empty
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-5)


def test_module_uses_the_products_only_for_cpu_training(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "slowfast_det.modeling.roi_align.roi_align_matrix",
        lambda *a: calls.append(1) or roi_align_matrix(*a),
    )
    pooler = MatrixROIAlign((7, 7), 0.25, 0, True)
    ref = ROIAlign((7, 7), 0.25, 0, True)
    x = torch.randn(2, 3, 6, 7)
    rois = torch.tensor([[0.0, 1.0, 2.0, 20.0, 16.0], [1.0, 0.0, 0.0, 9.0, 5.0]])
    with torch.no_grad():
        torch.testing.assert_close(pooler(x, rois), ref(x, rois))
    assert calls == []
    out = pooler(x.requires_grad_(True), rois)
    assert calls == [1]
    torch.testing.assert_close(out, ref(x, rois), rtol=1e-5, atol=1e-5)
