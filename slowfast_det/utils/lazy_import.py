"""A module imported on first use: ``pd = lazy_module("pandas")`` at the top of a module
costs nothing until some code reads an attribute (``pd.read_csv``), which imports it.

Used where a module's common path needs no pandas but its fallbacks do, so that a tool
which takes the common path starts faster (``tools/eval_ava.py``: pandas is about 0.3-0.5 s
of import time).
"""
import importlib

__all__ = ["lazy_module"]


class _LazyModule:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self):
        return f"<lazy module {self._name!r}>"


def lazy_module(name):
    """A stand-in for ``import name`` that imports the module on the first attribute read."""
    return _LazyModule(name)
