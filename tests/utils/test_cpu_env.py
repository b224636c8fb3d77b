"""slowfast_det.utils.cpu_env: OMP_WAIT_POLICY set before torch loads, never over the user's
value, never after torch; importing it (and the package) loads neither torch nor Detectron2."""

import json
import os
import subprocess
import sys

from slowfast_det.utils import cpu_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CHILD = """
import json, os, sys
from slowfast_det.utils.cpu_env import configure_cpu_threads, cpu_threads_configured
before = cpu_threads_configured()
value = configure_cpu_threads()
heavy = sorted({"torch", "detectron2"} & {m.split(".")[0] for m in sys.modules})
print(json.dumps({"before": before, "value": value, "env": os.environ.get("OMP_WAIT_POLICY"),
                  "after": cpu_threads_configured(), "heavy": heavy}))
"""


def _child(policy):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    path = [REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sets_passive_before_torch_without_importing_it():
    r = _child(None)
    assert r == {"before": False, "value": "PASSIVE", "env": "PASSIVE", "after": True, "heavy": []}


def test_keeps_the_users_value():
    r = _child("ACTIVE")
    assert r["before"] is True and r["value"] == "ACTIVE" and r["env"] == "ACTIVE"


def test_sets_nothing_once_torch_is_loaded(monkeypatch):
    import torch  # noqa: F401  (the state under test: torch already loaded)

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert cpu_env.configure_cpu_threads() is None
    assert "OMP_WAIT_POLICY" not in os.environ
    assert not cpu_env.cpu_threads_configured()
