"""The package's layers (docs/ARCHITECTURE.md): every import of every module of slowfast_det,
module-level and inside functions (and ``lazy_module("...")`` / ``importlib.import_module("...")``
with a literal name), parsed with ``ast`` and checked against one table, ``MAY_IMPORT``, that
docs/ARCHITECTURE.md shows verbatim (checked here too). The rules:

- a layer imports from slowfast_det only the layers of its row (modeling: none);
- slowfast_det.ava and slowfast_det.utils import neither torch nor Detectron2 (nor fvcore,
  torchvision, which import torch);
- no module imports ``benchmarks`` or anything of tools/;
- ``import slowfast_det.ava.metric, slowfast_det.ava.evaluate, slowfast_det.ava.io`` leaves torch
  and Detectron2 unloaded.
"""

import ast
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "slowfast_det")
DOC = os.path.join(ROOT, "docs", "ARCHITECTURE.md")

# Layer -> the layers of slowfast_det it may import (a layer always imports itself). A layer is
# a subpackage, or "config" (slowfast_det/config.py); "slowfast_det" is the package's own
# __init__, which imports nothing (importing a layer registers what it defines).
MAY_IMPORT = {
    "utils": (),
    "ava": ("utils",),
    "modeling": (),
    "config": ("modeling", "utils"),
    "checkpoint": ("config", "utils"),
    "data": ("ava", "config", "utils"),
    "evaluation": ("ava", "config", "data", "utils"),
    "synthetic": ("ava", "data", "utils"),
    "engine": (
        "ava",
        "checkpoint",
        "config",
        "data",
        "evaluation",
        "modeling",
        "synthetic",
        "utils",
    ),
    "export": ("ava", "checkpoint", "config", "data", "engine", "modeling", "utils"),
    "slowfast_det": (),
}
# Layers that must import without torch: no import of these top-level modules at all.
LIGHT = ("ava", "utils")
HEAVY = ("torch", "torchvision", "detectron2", "fvcore")
# Scripts loaded by path, never imported by the package: benchmarks/ and every tools/*.py.
OUTSIDE = {"benchmarks", "tools"} | {
    os.path.splitext(f)[0] for f in os.listdir(os.path.join(ROOT, "tools")) if f.endswith(".py")
}
LOADERS = ("lazy_module", "import_module", "__import__")


def package_files():
    """Paths of every module of slowfast_det, relative to the checkout, sorted."""
    out = []
    for folder, _, files in os.walk(PACKAGE):
        out += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files if f.endswith(".py")]
    return sorted(p.replace(os.sep, "/") for p in out)


def module_name(relpath):
    """``slowfast_det/ava/io.py`` -> ``slowfast_det.ava.io``; a package's __init__: the package."""
    parts = relpath[: -len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted):
    """True when ``dotted`` (``slowfast_det.x.y``) is a module or package file of the checkout."""
    path = os.path.join(ROOT, *dotted.split("."))
    return os.path.isfile(path + ".py") or os.path.isfile(os.path.join(path, "__init__.py"))


def imports(relpath):
    """``[(line, dotted module name)]`` of every import in the file, at any depth; relative
    imports resolved; ``from package import name`` gives ``package.name`` where that is a module."""
    with open(os.path.join(ROOT, relpath), encoding="utf-8") as f:
        tree = ast.parse(f.read(), relpath)
    package = module_name(relpath).split(".")
    if not relpath.endswith("__init__.py"):
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                inside = base.startswith("slowfast_det") and is_module(sub)
                found.append((node.lineno, sub if inside else base))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name in LOADERS and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return sorted(found)


def layer_of(dotted):
    """The layer of a module of slowfast_det: its subpackage, ``config``, or ``slowfast_det``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "slowfast_det"


def violations(relpath, may_import=MAY_IMPORT):
    """``["<file>:<line>: imports <name> (<rule>)"]`` for every import that breaks a rule."""
    own = layer_of(module_name(relpath))
    allowed = set(may_import[own]) | {own}
    out = []
    for line, name in imports(relpath):
        top = name.split(".")[0]
        where = f"{relpath}:{line}: imports {name}"
        if top == "slowfast_det" and layer_of(name) not in allowed:
            out.append(f"{where} (layer {own} may import only {sorted(allowed)})")
        if top in HEAVY and own in LIGHT:
            out.append(f"{where} (layer {own} imports neither torch nor Detectron2)")
        if top in OUTSIDE:
            out.append(f"{where} (the package never imports benchmarks/ or tools/)")
    return out


def test_every_layer_is_in_the_table():
    layers = {layer_of(module_name(p)) for p in package_files()}
    assert layers == set(MAY_IMPORT)
    for own, targets in MAY_IMPORT.items():
        assert set(targets) <= set(MAY_IMPORT) - {own, "slowfast_det"}, own


@pytest.mark.parametrize("relpath", package_files())
def test_imports_follow_the_layers(relpath):
    assert violations(relpath) == []


def test_the_check_sees_forbidden_imports(tmp_path, monkeypatch):
    """A broken rule of each kind is reported, with file and line (module and function level)."""
    fake = tmp_path / "slowfast_det"
    for sub in ("modeling", "ava"):
        (fake / sub).mkdir(parents=True)
        (fake / sub / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "data.py").write_text("")
    (fake / "modeling" / "m.py").write_text("import os\nfrom ..data import x\n")
    (fake / "ava" / "a.py").write_text(
        "from . import b\n\ndef f():\n    import torch\n    from benchmarks import cli\n"
        "    lazy_module('detectron2.config')\n"
    )
    (fake / "ava" / "b.py").write_text("")
    monkeypatch.setitem(globals(), "ROOT", str(tmp_path))
    assert [v.split(" (")[0] for v in violations("slowfast_det/modeling/m.py")] == [
        "slowfast_det/modeling/m.py:2: imports slowfast_det.data"
    ]
    assert [v.split(" (")[0] for v in violations("slowfast_det/ava/a.py")] == [
        "slowfast_det/ava/a.py:4: imports torch",
        "slowfast_det/ava/a.py:5: imports benchmarks",
        "slowfast_det/ava/a.py:6: imports detectron2.config",
    ]


def doc_table():
    """docs/ARCHITECTURE.md's table under the header ``| layer | may import |``, as
    ``{layer: {layers}}`` (a cell without backquoted names: none)."""
    with open(DOC, encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = lines.index("| layer | may import |") + 2  # after the header and its |---| line
    table = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        layer, cell = (c.strip() for c in line.strip("|").split("|"))
        table[layer.strip("`")] = set(re.findall(r"`(\w+)`", cell))
    return table


def test_the_doc_shows_this_table():
    assert doc_table() == {layer: set(targets) for layer, targets in MAY_IMPORT.items()}


def test_metric_and_readers_import_without_torch():
    code = (
        "import sys, slowfast_det.ava.metric, slowfast_det.ava.evaluate, slowfast_det.ava.io\n"
        "print(sorted(m for m in ('torch', 'detectron2') if m in sys.modules))"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
