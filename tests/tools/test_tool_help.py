"""Every entry point's ``--help``, run as a user runs it (a fresh interpreter): exit 0, and no
deprecation noise from the libraries under it (Detectron2's ``torch.jit.script``
FutureWarnings, ``pkg_resources``) in what it prints."""

import glob
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = sorted(
    os.path.relpath(p, REPO)
    for pattern in ("tools/*.py", "datasets/*.py")
    for p in glob.glob(os.path.join(REPO, pattern))
)
CASES = [(s, ["--help"]) for s in SCRIPTS] + [("tools/benchmark.py", ["--task", "model", "--help"])]


def test_every_script_is_covered():
    for script in ("tools/train_ava.py", "tools/eval_ava.py", "datasets/prepare_ava.py"):
        assert script in SCRIPTS


@pytest.mark.parametrize("script,args", CASES, ids=[" ".join([s, *a]) for s, a in CASES])
def test_help_exits_0_without_library_warnings(script, args):
    path = [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    env.pop("PYTHONWARNINGS", None)
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "usage:" in out.stdout
    for noise in ("FutureWarning", "pkg_resources", "torch.jit"):
        assert noise not in text, f"{script}: {noise!r} in its output:\n{text}"
