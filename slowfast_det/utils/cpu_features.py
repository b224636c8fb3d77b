"""What the CPU can do natively, read from the operating system without loading torch.

``TEST.BF16`` (bfloat16 autocast at inference) pays only where the CPU multiplies bfloat16
natively (AVX512-BF16 or AMX-BF16); elsewhere oneDNN and PyTorch emulate it, far slower than
float32: on a 2-core AVX2 AMD EPYC (no bf16 instructions), ``tools/benchmark.py --task model
--parts bf16`` measured bf16 at 0.018x the fp32 speed (8x64x64 clip, 2 threads) and
``tools/gpu_check.sh --device cpu --quick`` at 0.24x (4x32x32, 1 thread). The same holds
for ``SOLVER.AMP.ENABLED`` in CPU training (bfloat16 autocast in the model's forward).
:func:`bf16_cpu_warning` is the warning the inference entry points and the trainer log when
either is set there.

Standard library only (``slowfast_det.utils`` imports neither torch nor Detectron2).
"""

import os
from typing import FrozenSet, Optional

__all__ = [
    "NATIVE_BF16_FLAGS",
    "ONEDNN_ISAS_WITHOUT_BF16",
    "bf16_cpu_warning",
    "cpu_flags",
    "cpu_has_native_bf16",
]

#: /proc/cpuinfo flags of the instructions that compute with bfloat16 natively.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")

#: The measured slow-down quoted in the warning (see the module docstring).
MEASURED_BF16_SPEED = "0.018x-0.24x"


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> Optional[FrozenSet[str]]:
    """The CPU feature flags of the first processor in ``cpuinfo`` (Linux's "flags" line;
    ARM's "Features"), or None when the file is missing or has no such line (not Linux)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        return None
    return None


#: ``ONEDNN_MAX_CPU_ISA`` values that stop oneDNN below its bfloat16 instructions: its
#: convolutions then emulate bfloat16 even on a CPU that has them (the AVX2 stand-in
#: ``ONEDNN_MAX_CPU_ISA=AVX2`` on an AVX-512 machine: 0.17x the float32 training step).
ONEDNN_ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> Optional[bool]:
    """True when the CPU has AVX512-BF16 or AMX-BF16 (:data:`NATIVE_BF16_FLAGS`) and
    ``ONEDNN_MAX_CPU_ISA`` does not cap oneDNN below them (:data:`ONEDNN_ISAS_WITHOUT_BF16`),
    False otherwise, None when the flags cannot be read."""
    flags = cpu_flags(cpuinfo)
    if flags is None:
        return None
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return cap not in ONEDNN_ISAS_WITHOUT_BF16 and any(f in flags for f in NATIVE_BF16_FLAGS)


def bf16_cpu_warning(
    bf16: bool, device: str, cpuinfo: str = "/proc/cpuinfo", *, key: str = "TEST.BF16"
) -> Optional[str]:
    """The warning for bfloat16 asked for by the config key ``key`` (``TEST.BF16`` at
    inference, ``SOLVER.AMP.ENABLED`` in CPU training) = ``bf16`` on ``device`` ("cpu",
    "cuda", "cuda:0", ...): a message when it is on for a CPU known to lack native bfloat16,
    else None (off, a GPU, native bf16, or flags unknown)."""
    if not bf16 or not str(device).startswith("cpu") or cpu_has_native_bf16(cpuinfo) is not False:
        return None
    return (
        f"{key} is set but this CPU has no native bfloat16 instructions (none of "
        f"{', '.join(NATIVE_BF16_FLAGS)} in {cpuinfo}, or ONEDNN_MAX_CPU_ISA caps oneDNN below "
        f"them): bf16 is emulated there and ran at "
        f"{MEASURED_BF16_SPEED} the float32 speed on an AVX2 CPU (docs/BENCHMARKS.md). Set "
        f"{key} False to compute in float32."
    )
