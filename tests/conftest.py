"""Shared pytest fixtures: everything runs on the CPU with tiny shapes."""
import os

import pytest
import torch

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def cfg():
    """A Detectron2 config with the slowfast_det keys added (defaults, not merged, not frozen)."""
    from slowfast_det.config import load_slowfast_cfg

    return load_slowfast_cfg(freeze=False)
