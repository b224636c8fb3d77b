"""The classification-views benchmark runs end to end on a tiny configuration (no timing
targets): both ways give the same pixels (checked by the benchmark) and positive rates."""

import argparse

from benchmarks import TASKS
from benchmarks import cls_views as benchmark_cls_views


def test_benchmark_cls_views_rows(tmp_path):
    assert TASKS["cls_views"] == "cls_views"
    parser = argparse.ArgumentParser()
    benchmark_cls_views.add_arguments(parser)
    args = parser.parse_args(
        "--videos 2 --seconds 1 --size 64x48 --gop 12 --clips 2 --crops 3 --num-frames 4 "
        f"--sampling-rate 2 --test-size 32 --repeats 1 --workdir {tmp_path}".split()
    )
    rows = benchmark_cls_views.main(args)
    by_name = {name.split(": ", 1)[1]: (value, unit) for name, value, unit in rows}
    assert by_name["all views, one decode per video"][1] == "videos/s"
    assert by_name["all views, one decode per video"][0] > 0
    assert by_name["one decode per view (PySlowFast)"][0] > 0
    assert by_name["all views / per view"][1] == "x"
    assert (tmp_path / "v1.mp4").exists() and (tmp_path / "test.csv").exists()
