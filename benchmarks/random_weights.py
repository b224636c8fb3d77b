"""Helpers for tests and benchmarks that compare models built with random weights.

``set_cfg_values`` is the config builder's (:func:`slowfast_det.config.set_cfg_values`),
importable from here too.
"""

import torch

from slowfast_det.config import set_cfg_values

__all__ = ["randomize_", "set_cfg_values"]


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every norm random running statistics and affine terms, and every projection
    (``*proj*`` parameters: the classifiers) random weights; return the model in eval mode.

    Freshly built models have running mean 0 / var 1, and zero-initialised final norms
    switch whole residual branches off, so two implementations could agree while computing
    different things. Parameters are visited in ``named_parameters`` order, so two models
    with the same parameter names and shapes get the same values from the same seed.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.rand(b.shape, generator=g) * 0.2 - 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 0.5 + 0.75)
        for name, p in model.named_parameters():
            if p.dim() == 1 and "norm" in name and name.endswith("weight"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.5)
            elif p.dim() == 1 and "norm" in name and name.endswith("bias"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.2 - 0.1)
            elif "proj" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()
