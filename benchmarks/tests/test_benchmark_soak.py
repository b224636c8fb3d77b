"""benchmarks.soak (tools/benchmark.py --task soak) runs on a tiny AVA folder with 2
workers and reports RSS rows."""

import argparse

from tiny_ava_run import make_tiny_ava, tiny_cfg, write_cfg

from benchmarks import soak as benchmark_soak


def test_soak_reports_start_and_end_rss_of_main_and_workers(tmp_path):
    from slowfast_det.data import datasets

    root = make_tiny_ava(tmp_path / "ava")
    datasets.register_ava_dataset("_soak_train", root, "train")
    try:
        cfg_file = write_cfg(
            tiny_cfg(tmp_path / "out", train="_soak_train", test=None), tmp_path / "cfg.yaml"
        )
        parser = argparse.ArgumentParser()
        benchmark_soak.add_arguments(parser)
        args = parser.parse_args(
            [
                "--config-file",
                cfg_file,
                "--epochs",
                "3",
                "--workers",
                "2",
                "--max-growth-mb",
                "1000",
            ]
        )
        rows = {name: value for name, value, _ in benchmark_soak.main(args)}
    finally:
        datasets.unregister_ava_dataset("_soak_train")
    assert rows["batches per epoch"] == 3 and rows["DataLoader workers"] == 2
    for key in (
        "main RSS start (after epoch 1)",
        "main RSS end",
        "workers RSS start (sum)",
        "workers RSS end (sum)",
    ):
        assert rows[key] > 10.0, key
    assert (
        rows["main RSS growth start->end"]
        == rows["main RSS end"] - rows["main RSS start (after epoch 1)"]
    )
    assert len([k for k in rows if k.startswith("worker ") and k.endswith("RSS start -> end")]) == 2
    assert (
        rows["loader throughput (timed epochs)"] > 0
        and rows["memory flat (growth <= 1000 MiB)"] == "yes"
    )
