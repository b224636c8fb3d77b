"""benchmarks.model, part "checkpoint" (benchmarks.model_checkpoint):
peak memory and step time of training steps with and without activation checkpointing, each in
fresh subprocesses (tiny synthetic model)."""

import argparse
import os

import pytest

from benchmarks import model as benchmark_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_checkpoint_memory_tiny():
    parser = argparse.ArgumentParser()
    benchmark_model.add_arguments(parser)
    args = parser.parse_args(
        [
            "--parts",
            "checkpoint",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--ckpt-config",
            os.path.join(REPO, "configs", "synthetic", "SLOWFAST_synthetic.yaml"),
            "--ckpt-input-size",
            "8",
            "48",
            "48",
            "--ckpt-batch-size",
            "2",
            "--ckpt-steps",
            "1",
        ]
    )
    rows = {r[0]: r[1] for r in benchmark_model.main(args)}
    (without,) = [v for k, v in rows.items() if k.startswith("checkpoint: peak memory without")]
    with_ckpt = rows["checkpoint: peak memory with ACTIVATION_CHECKPOINT"]
    assert without > 0 and with_ckpt > 0
    assert rows["checkpoint: peak ratio with / without (target <= 0.5)"] == pytest.approx(
        with_ckpt / without
    )
    step_without = rows["checkpoint: step memory above the model without (peak - before step)"]
    assert rows["checkpoint: step memory ratio with / without"] == pytest.approx(
        rows["checkpoint: step memory above the model with"] / step_without
    )
    assert (
        rows["checkpoint: step time without (median of 1)"] > 0
        and rows["checkpoint: step time with (median of 1)"] > 0
    )
