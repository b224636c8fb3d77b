"""Shared pytest fixtures: everything runs on the CPU with tiny shapes."""
import cpu_tests  # noqa: F401  (CPU only, at most 2 torch threads)
import pytest


@pytest.fixture
def cfg():
    """A Detectron2 config with the slowfast_det keys added (defaults, not merged)."""
    from detectron2.config import get_cfg

    from slowfast_det.config import add_slowfast_config

    c = get_cfg()
    add_slowfast_config(c)
    return c
