"""Shared pytest fixtures: everything runs on the CPU with tiny shapes."""

import cpu_tests  # noqa: F401  (CPU only, at most 2 torch threads)
import pytest


@pytest.fixture
def cfg():
    """A Detectron2 config with the slowfast_det keys added (defaults, not merged, not frozen)."""
    from slowfast_det.config import load_slowfast_cfg

    return load_slowfast_cfg(freeze=False)
