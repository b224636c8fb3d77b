"""Fixtures of the data tests (the tiny AVA folder itself is built by ava_tiny.py)."""

import pytest
from ava_tiny import make_ava_root


@pytest.fixture(scope="module")
def ava_root(tmp_path_factory):
    """A pristine tiny AVA folder shared by a test module (do not modify it)."""
    return make_ava_root(tmp_path_factory.mktemp("ava"))


@pytest.fixture
def fresh_ava_root(tmp_path):
    """A tiny AVA folder a test may modify."""
    return make_ava_root(tmp_path / "ava")


@pytest.fixture
def registered(request):
    """Register datasets for a test and remove them afterwards:
    registered(name, root, split, **kw)."""
    from slowfast_det.data import datasets

    names = []

    def _register(name, root, split, **kw):
        names.append(name)
        return datasets.register_ava_dataset(name, root, split, **kw)

    yield _register
    for n in names:
        datasets.unregister_ava_dataset(n)
