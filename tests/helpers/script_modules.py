"""The project's scripts (``tools/*.py``, ``datasets/*.py``) as modules for the tests, loaded
from their files (no ``sys.path`` change)."""

import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_script(relpath, name=None, register=False):
    """The script ``<repo>/<relpath>`` executed as a module named ``name`` (default: its file
    stem); ``register`` also puts it in ``sys.modules`` (needed when a worker pool pickles
    its functions by module name)."""
    name = name or os.path.splitext(os.path.basename(relpath))[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_tool(name):
    """``tools/<name>.py`` as a module."""
    return load_script(os.path.join("tools", f"{name}.py"))
