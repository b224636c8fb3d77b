"""slowfast_det.utils.cpu_env: OMP_WAIT_POLICY and oneDNN's primitive cache capacity set before
torch loads, never over the user's value, never after torch; importing it (and the package)
loads neither torch nor Detectron2."""

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
                  "after": cpu_threads_configured(), "heavy": heavy,
                  "cache": os.environ.get("ONEDNN_PRIMITIVE_CACHE_CAPACITY")}))
"""

_SET_BY_TEST = ("OMP_WAIT_POLICY",) + cpu_env.CACHE_VARIABLES


def _child(policy, **extra):
    env = {k: v for k, v in os.environ.items() if k not in _SET_BY_TEST}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    env.update(extra)
    path = [REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sets_passive_before_torch_without_importing_it():
    r = _child(None)
    assert r == {
        "before": False,
        "value": "PASSIVE",
        "env": "PASSIVE",
        "after": True,
        "heavy": [],
        "cache": cpu_env.ONEDNN_PRIMITIVE_CACHE_CAPACITY,
    }
    assert int(r["cache"]) > 1024  # above oneDNN's default, or setting it would change nothing


def test_keeps_the_users_value():
    r = _child("ACTIVE")
    assert r["before"] is True and r["value"] == "ACTIVE" and r["env"] == "ACTIVE"


def test_keeps_the_users_cache_capacity_under_either_name():
    assert _child(None, ONEDNN_PRIMITIVE_CACHE_CAPACITY="16")["cache"] == "16"
    # oneDNN's older name: set, so no second value under the new one
    assert _child(None, DNNL_PRIMITIVE_CACHE_CAPACITY="16")["cache"] is None


def test_sets_nothing_once_torch_is_loaded(monkeypatch):
    import torch  # noqa: F401  (the state under test: torch already loaded)

    for name in _SET_BY_TEST:
        monkeypatch.delenv(name, raising=False)
    assert cpu_env.configure_cpu_threads() is None
    assert not any(name in os.environ for name in _SET_BY_TEST)
    assert not cpu_env.cpu_threads_configured()


def test_cache_capacity_in_effect_reads_either_name(monkeypatch):
    for name in cpu_env.CACHE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert cpu_env.onednn_cache_capacity() is None
    monkeypatch.setenv("DNNL_PRIMITIVE_CACHE_CAPACITY", "16")
    assert cpu_env.onednn_cache_capacity() == "16"
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "32")  # oneDNN reads this one first
    assert cpu_env.onednn_cache_capacity() == "32"
