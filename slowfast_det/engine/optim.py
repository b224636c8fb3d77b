"""Optimizer construction: Detectron2's parameter groups with SGD (default) or AdamW."""

import torch
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping

__all__ = ["build_optimizer"]


def build_optimizer(cfg, model):
    """Build the optimizer named by ``cfg.SOLVER.OPTIMIZER`` ("SGD" or "AdamW").

    Both use Detectron2's parameter groups (``SOLVER.WEIGHT_DECAY_NORM`` for norm layers,
    ``SOLVER.BIAS_LR_FACTOR``) and ``SOLVER.CLIP_GRADIENTS``. SGD is Detectron2's default
    (momentum ``SOLVER.MOMENTUM``, Nesterov ``SOLVER.NESTEROV``), used by the AVA recipes;
    AdamW (decoupled weight decay ``SOLVER.WEIGHT_DECAY``) trains the tiny synthetic model
    from scratch in far fewer iterations.
    """
    params = get_default_optimizer_params(
        model,
        base_lr=cfg.SOLVER.BASE_LR,
        weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
        bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR,
        weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS,
    )
    name = cfg.SOLVER.OPTIMIZER
    if name == "SGD":
        return maybe_add_gradient_clipping(cfg, torch.optim.SGD)(
            params,
            lr=cfg.SOLVER.BASE_LR,
            momentum=cfg.SOLVER.MOMENTUM,
            nesterov=cfg.SOLVER.NESTEROV,
            weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        )
    if name == "AdamW":
        return maybe_add_gradient_clipping(cfg, torch.optim.AdamW)(
            params, lr=cfg.SOLVER.BASE_LR, weight_decay=cfg.SOLVER.WEIGHT_DECAY
        )
    raise ValueError(f"SOLVER.OPTIMIZER must be 'SGD' or 'AdamW', got {name!r}")
