"""What a benchmark number was measured on: CPU model, the ISA PyTorch and oneDNN use, cores.

oneDNN picks its kernels by ISA (``ONEDNN_MAX_CPU_ISA`` caps it), so the same code can differ
in speed, and in correctness (``tools/repro_onednn_1x1_bwd_weights.py``), between an AVX2
and an AVX-512 machine; every benchmark report starts with these rows.
"""
import os
import re

__all__ = ["cpu_model_name", "machine_rows"]


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


def machine_rows():
    """``[metric, value, unit]`` rows: CPU model, cores, torch version and threads, the CPU
    capability torch dispatches to, the oneDNN version, ``ONEDNN_MAX_CPU_ISA`` and the GPU."""
    import torch

    config = torch.__config__.show()
    onednn = re.search(r"MKL-DNN v([\d.]+)", config)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return [
        ["machine: CPU model", cpu_model_name(), ""],
        ["machine: cores (os.cpu_count) / torch threads", f"{os.cpu_count()} / {torch.get_num_threads()}", ""],
        ["machine: torch / CPU capability", f"{torch.__version__} / {torch.backends.cpu.get_cpu_capability()}", ""],
        ["machine: oneDNN / ONEDNN_MAX_CPU_ISA", f"{onednn.group(1) if onednn else 'n/a'} / "
                                                  f"{os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset: all)')}", ""],
        ["machine: GPU", gpu, ""],
    ]
