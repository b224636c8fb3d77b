"""What a benchmark number was measured on: CPU model, the ISA PyTorch and oneDNN use, cores.

oneDNN picks its kernels by ISA (``ONEDNN_MAX_CPU_ISA`` caps it), so the same code can differ
in speed, and in correctness (``tools/repro_onednn_1x1_bwd_weights.py``), between an AVX2
and an AVX-512 machine; every benchmark report starts with these rows. The load averages and
the ``OMP_WAIT_POLICY`` in effect go into the reports of the timed benchmarks too.
"""

import os
import re

from slowfast_det.utils.cpu_env import onednn_cache_capacity

__all__ = ["cpu_model_name", "load_avg", "machine_rows", "omp_policy", "omp_row"]


def cpu_model_name() -> str:
    """``model name`` of the first processor in /proc/cpuinfo ("unknown" elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def load_avg() -> str:
    """The machine's 1, 5 and 15 minute load averages, for benchmark reports."""
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def omp_policy() -> str:
    """The ``OMP_WAIT_POLICY`` in effect, for benchmark reports, with ``GOMP_SPINCOUNT`` when
    that is set too (libgomp then spins that many times before sleeping, whatever the policy
    says; the spin changes what a CPU step costs: docs/BENCHMARKS.md, "OpenMP's wait policy").

    libgomp (PyTorch's OpenMP runtime) reads both once, when torch loads, so this package (which
    imports torch) cannot set them; the tools set the policy first
    (``slowfast_det.utils.cpu_env.configure_cpu_threads``, which leaves it alone when torch is
    already loaded), so a value in the environment is the one libgomp read.
    """
    policy = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    spin = os.environ.get("GOMP_SPINCOUNT")
    return f"{policy}, GOMP_SPINCOUNT={spin}" if spin else policy


def omp_row():
    """The benchmark reports' ``[metric, value, unit]`` row of :func:`omp_policy`."""
    return ["OMP_WAIT_POLICY (and GOMP_SPINCOUNT when set)", omp_policy(), ""]


def machine_rows():
    """``[metric, value, unit]`` rows: CPU model, cores, torch version and threads, the CPU
    capability torch dispatches to, the oneDNN version, ``ONEDNN_MAX_CPU_ISA`` and the GPU."""
    import torch

    config = torch.__config__.show()
    onednn = re.search(r"MKL-DNN v([\d.]+)", config)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return [
        ["machine: CPU model", cpu_model_name(), ""],
        [
            "machine: cores (os.cpu_count) / torch threads",
            f"{os.cpu_count()} / {torch.get_num_threads()}",
            "",
        ],
        [
            "machine: torch / CPU capability",
            f"{torch.__version__} / {torch.backends.cpu.get_cpu_capability()}",
            "",
        ],
        [
            "machine: oneDNN / ONEDNN_MAX_CPU_ISA",
            f"{onednn.group(1) if onednn else 'n/a'} / "
            f"{os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset: all)')}",
            "",
        ],
        [
            "machine: oneDNN primitive cache capacity (ONEDNN_PRIMITIVE_CACHE_CAPACITY)",
            onednn_cache_capacity() or "(unset: 1024)",
            "",
        ],
        ["machine: GPU", gpu, ""],
    ]
