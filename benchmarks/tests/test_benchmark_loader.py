"""The loader benchmark runs end to end on a tiny configuration (a smoke test, no timing
targets)."""

import argparse

from benchmarks import loader as benchmark_loader


def test_benchmark_loader_rows(tmp_path):
    parser = argparse.ArgumentParser()
    benchmark_loader.add_arguments(parser)
    args = parser.parse_args(
        [
            "--frame-sizes",
            "96x64",
            "--clips",
            "2",
            "--repeats",
            "1",
            "--num-frames",
            "4",
            "--sampling-rate",
            "2",
            "--test-size",
            "32",
            "--train-jitter",
            "32",
            "40",
            "--train-crop",
            "24",
            "--workdir",
            str(tmp_path),
        ]
    )
    rows = benchmark_loader.main(args)
    by_name = {r[0]: r for r in rows}
    assert by_name["96x64 test: output clip (C,T,H,W)"][1] == "3x4x32x48"
    assert (
        by_name[
            "96x64 test: output bytes per clip (torch.uint8; the model normalises and splits it)"
        ][1]
        == 3 * 4 * 32 * 48
    )
    assert by_name["96x64 test: JPEG decode reduction used"][1] == "2"  # 64 / 2 >= 32
    assert by_name["96x64 train: output clip (C,T,H,W)"][1] == "3x4x24x24"
    for mode in ("test", "train"):
        for what in (
            "mapper",
            "decode limit (same frames, same reduction)",
            "naive loader (imread whole window)",
        ):
            name, value, unit = by_name[f"96x64 {mode}: {what}"]
            assert unit == "clips/s" and value > 0
        ratio = by_name[f"96x64 {mode}: mapper / naive (target >= 2.0)"][1]
        assert ratio > 0
