"""Device-side clip preprocessing: pathway indices, colour jitter semantics, pathway split."""

import numpy as np
import pytest
import torch

from slowfast_det.modeling.preprocess import apply_color_jitter, pathway_indices, split_pathways


def test_pathway_indices_rule():
    assert (
        pathway_indices(32, 4).tolist()
        == torch.linspace(0, 31, 8).long().tolist()
        == [0, 4, 8, 13, 17, 22, 26, 31]
    )
    assert pathway_indices(8, 4).tolist() == [0, 7]


def _reference_jitter(clip01, ops):
    """The jitter as the mapper applied it before (numpy, pixels in [0, 1]), written out."""
    x = clip01.astype(np.float64)
    for name, f in ops:
        if name == "brightness":
            x = x * f
        else:
            gray = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
            ref = gray.mean() if name == "contrast" else gray[None]
            x = (x - ref) * f + ref
        x = np.clip(x, 0.0, 1.0)
    return x


@pytest.mark.parametrize(
    "ops",
    [
        [("brightness", 1.4), ("contrast", 0.7), ("saturation", 1.3)],
        [("saturation", 0.0), ("brightness", 0.6), ("contrast", 1.6)],
        [("contrast", 1.2), ("saturation", 1.5), ("brightness", 1.0)],
    ],
)
def test_color_jitter_keeps_the_unit_clip_semantics(ops):
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (3, 4, 6, 5)).astype(np.uint8)
    got = apply_color_jitter(
        torch.from_numpy(clip).float(), ops
    )  # 0-255 units, as the model runs it
    want = _reference_jitter(clip / 255.0, ops) * 255.0
    np.testing.assert_allclose(got.numpy(), want, atol=1e-3)
    assert got.min() >= 0 and got.max() <= 255


def test_color_jitter_unknown_operation():
    with pytest.raises(ValueError, match="unknown colour jitter operation 'hue'"):
        apply_color_jitter(torch.zeros(3, 1, 2, 2), [("hue", 1.1)])


def test_split_pathways():
    x = torch.arange(2 * 3 * 8 * 2 * 2, dtype=torch.float32).view(2, 3, 8, 2, 2)
    slow, fast = split_pathways(x, "slowfast", 4)
    assert fast is x and torch.equal(slow, x[:, :, [0, 7]])
    (only,) = split_pathways(x, "slow", 4)
    assert only is x
    with pytest.raises(ValueError, match="at least ALPHA = 16"):
        split_pathways(x, "slowfast", 16)
