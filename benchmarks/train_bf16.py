"""Mixed precision in CPU training: the bare training step in float32 and with
``SOLVER.AMP.ENABLED`` (bfloat16 autocast in the model's forward on a CPU), for
``tools/benchmark.py --task train --parts bf16``.

    .venv/bin/python tools/benchmark.py --task train --parts bf16 --threads 2
    .venv/bin/python tools/benchmark.py --task train --parts bf16 --threads 2 \\
        --step-config configs/AVA/SLOWFAST_32x2_R50.yaml \\
        --opts SOLVER.IMS_PER_BATCH 2 INPUT.TRAIN_CROP_SIZE 160

Two detectors with the same weights on the same batch (as the ``step`` part builds it:
:mod:`benchmarks.train_step`), one float32, one with ``SOLVER.AMP.ENABLED``; steps
(forward, backward, SGD) alternate after ``--warmup-steps``; median, min and max of each and
the speed-up. bfloat16 pays only on CPUs that compute it natively (AVX512-BF16 / AMX-BF16,
reported in the rows); elsewhere it is emulated and far slower.
"""

from benchmarks.train_step import (
    _ratio_row,
    _spread_rows,
    _step_setup,
    alternate_steps,
    ours_step,
    same_weight_models,
)
from slowfast_det.utils.cpu_features import NATIVE_BF16_FLAGS, cpu_has_native_bf16

__all__ = ["part_bf16"]


def part_bf16(args, rows):
    """Rows of the float32 and the bfloat16-autocast training step (CPU only)."""
    if args.device != "cpu":
        raise ValueError(
            "--parts bf16 times bfloat16 autocast in CPU training; on a GPU SOLVER.AMP.ENABLED "
            "is Detectron2's AMPTrainer (float16), timed by the loop part"
        )
    base, what, inputs = _step_setup(args)
    models = same_weight_models(
        base,
        {
            "float32": lambda c: setattr(c.SOLVER.AMP, "ENABLED", False),
            "bf16 autocast": lambda c: setattr(c.SOLVER.AMP, "ENABLED", True),
        },
    )
    assert models["bf16 autocast"].bf16_training and not models["float32"].bf16_training
    steps = {name: ours_step(m, inputs) for name, m in models.items()}
    times, cpu = alternate_steps(steps, args.warmup_steps, args.steps)
    native = cpu_has_native_bf16()
    rows.append(["bf16: model and batch", what, ""])
    rows.append(
        [
            f"bf16: CPU computes bfloat16 natively ({' / '.join(NATIVE_BF16_FLAGS)})",
            "unknown" if native is None else native,
            "",
        ]
    )
    rows += _spread_rows("bf16", times, cpu, base.SOLVER.IMS_PER_BATCH)
    rows.append(
        _ratio_row(
            "bf16: speed-up of SOLVER.AMP.ENABLED (median float32 / bf16 autocast)",
            times,
            "float32",
            "bf16 autocast",
        )
    )
