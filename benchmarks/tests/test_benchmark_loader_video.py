"""The loader benchmark's video part runs end to end on a tiny configuration (no timing targets)."""

import argparse
import os

from benchmarks import loader as benchmark_loader
from benchmarks import loader_video as benchmark_loader_video


def test_benchmark_loader_video_rows(tmp_path):
    parser = argparse.ArgumentParser()
    benchmark_loader.add_arguments(parser)
    args = parser.parse_args(
        [
            "--sources",
            "video",
            "--frame-sizes",
            "96x64",
            "--modes",
            "test",
            "--clips",
            "2",
            "--repeats",
            "1",
            "--num-frames",
            "4",
            "--test-size",
            "32",
            "--video-gops",
            "12",
            "--workdir",
            str(tmp_path),
        ]
    )
    rows = benchmark_loader.main(args)
    codec = benchmark_loader_video.video_codec()
    by_name = {r[0]: r for r in rows}
    tag = f"96x64 test video ({codec}, GOP 12)"
    assert not any(" test: mapper" in r[0] for r in rows)  # frames part not asked for
    for what in (
        "mapper, frames (JPEG)",
        "decode limit, frames",
        "mapper, video",
        "decode limit, video (seek + decode + BGR)",
        "decode only, video (seek + decode)",
    ):
        name, value, unit = by_name[f"{tag}: {what}"]
        assert unit == "clips/s" and value > 0
    assert by_name[f"{tag}: mapper video / mapper frames"][1] > 0
    assert os.path.exists(tmp_path / "video_96x64_gop12" / "videos" / "benchvid.mp4")
