"""Shared pytest fixtures: everything runs on the CPU with tiny shapes."""
import os

import pytest
import torch

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def cfg():
    """A Detectron2 config with the slowfast_det keys added (defaults, not merged)."""
    from detectron2.config import get_cfg

    from slowfast_det.config import add_slowfast_config

    c = get_cfg()
    add_slowfast_config(c)
    return c
