"""CPU threading environment shared by the training and benchmark scripts.

Import this module before anything imports torch. libgomp (PyTorch's OpenMP runtime) reads
``OMP_WAIT_POLICY`` once, when torch loads it. Its default spin-waiting makes every parallel
region wait for a descheduled thread whenever there are more busy threads than cores (a
shared machine, or DataLoader workers next to the main process): we measured a 0.04 ms op
taking 5-20 ms with 2 threads on a loaded 2-core machine, and 0.05 ms with ``PASSIVE``.
With ``PASSIVE`` the default synthetic config trains 1.3x faster with 2 torch threads next to
its loader worker than with 1 (``tools/benchmark.py --task train``). A value already set in
the environment wins.
"""
import os
import sys

__all__ = ["OMP_POLICY_EFFECTIVE", "omp_policy", "load_avg"]

# False when torch was imported before this module: the setting below then comes too late.
OMP_POLICY_EFFECTIVE = "OMP_WAIT_POLICY" in os.environ or "torch" not in sys.modules
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def omp_policy() -> str:
    """The OMP_WAIT_POLICY in effect, for benchmark reports."""
    value = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    return value if OMP_POLICY_EFFECTIVE else f"{value} (set after torch was loaded: libgomp default)"


def load_avg() -> str:
    """The machine's 1, 5 and 15 minute load averages, for benchmark reports."""
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"
