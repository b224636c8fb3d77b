"""Helpers for tests and benchmarks that compare models built with random weights."""
import torch

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


def set_cfg_values(cfg, values):
    """Set ``{"MODEL.SLOWFAST.ALPHA": 4, ...}`` on a config, values as given (no parsing or
    type coercion, unlike ``merge_from_list``); returns ``cfg``."""
    for key, value in values.items():
        node = cfg
        *parents, leaf = key.split(".")
        for name in parents:
            node = getattr(node, name)
        setattr(node, leaf, value)
    return cfg
