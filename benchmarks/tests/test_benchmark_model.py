"""benchmarks.model (tools/benchmark.py --task model) end to end on tiny sizes (a
smoke test of the measurement code; no speed targets): ours vs pytorchvideo with the same
weights, the lever ablation, batching and bf16. The activation-checkpointing part is in
test_benchmark_model_checkpoint.py."""

import argparse

import pytest

from benchmarks import model as benchmark_model

pytest.importorskip("pytorchvideo")


def run(*argv):
    """benchmark_model.main on one thread, one timed round, no warm-up; rows as {metric: value}."""
    parser = argparse.ArgumentParser()
    benchmark_model.add_arguments(parser)
    args = parser.parse_args(
        ["--iters", "1", "--warmup", "0", "--threads", "1", "--device", "cpu", *argv]
    )
    rows = benchmark_model.main(args)
    assert all(len(r) == 3 for r in rows)
    return {r[0]: r[1] for r in rows}


def find(rows, prefix):
    hits = [v for k, v in rows.items() if k.startswith(prefix)]
    assert len(hits) == 1, (prefix, [k for k in rows if k.startswith(prefix[:12])])
    return hits[0]


def test_compare_levers_batch_bf16_tiny():
    rows = run(
        "--parts",
        "compare",
        "levers",
        "batch",
        "bf16",
        "--input-size",
        "4",
        "32",
        "32",
        "--batch-size",
        "2",
        "--matmul-size",
        "128",
    )
    # The same weights give the same scores (the headline's correctness condition).
    assert find(rows, "compare: max abs score difference") <= 1e-4
    assert find(rows, "batch 2: max abs score difference") <= 1e-4
    for name in ("ours", "pytorchvideo"):
        assert find(rows, f"compare: {name} latency") > 0
        gflops = find(rows, f"compare: {name} GFLOP/s")
        assert gflops > 0 and find(rows, f"compare: {name} fraction") == pytest.approx(
            gflops / find(rows, "compare: fp32 matmul peak")
        )
        assert find(rows, f"batch 2: {name} clips/s") > 0
    assert find(rows, "compare: throughput ours / pytorchvideo") == pytest.approx(
        find(rows, "compare: pytorchvideo latency") / find(rows, "compare: ours latency")
    )
    assert find(rows, "compare: best-call throughput ours / pytorchvideo") > 0
    assert find(rows, "compare: CPU time (process, all threads) per call") > 0
    # Every lever variant computes the same scores.
    for variant in (
        "default (fold BN + channels_last)",
        "without BN folding",
        "without channels_last / 2D convs",
        "without either",
    ):
        assert find(rows, f"levers: {variant} latency") > 0
    assert (
        max(v for k, v in rows.items() if k.startswith("levers:") and "max abs score diff" in k)
        <= 1e-4
    )
    assert 0 < find(rows, "bf16: max abs score difference") < 0.05
    assert find(rows, "bf16: scores dtype returned") == "float32"
