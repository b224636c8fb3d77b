"""benchmarks.stream (a short synthetic stream) and the id-switch count of
benchmarks.tracking; the 10-minute soak itself is run by hand (README numbers)."""

import argparse

import numpy as np

from benchmarks import stream as benchmark_stream
from benchmarks import tracking as benchmark_tracking


def test_stream_benchmark_reports_lag_skips_and_rss():
    parser = argparse.ArgumentParser()
    benchmark_stream.add_arguments(parser)
    args = parser.parse_args(
        [
            "--video-minutes",
            "0.1",
            "--speed",
            "2",
            "--no-video",
            "--max-growth-mb",
            "1000",
            "MODEL.SLOWFAST.STAGE_BLOCKS",
            "[1, 1, 1, 1]",
            "MODEL.SLOWFAST.WIDTH_PER_GROUP",
            "8",
            "MODEL.SLOWFAST.STEM_OUT_CHANNELS",
            "8",
            "INPUT.NUM_FRAMES",
            "8",
            "INPUT.TEST_SIZE",
            "64",
        ]
    )
    rows = {name: value for name, value, _ in benchmark_stream.main(args)}
    assert rows["video time streamed"] == 6.0 and rows["frames drawn"] == 180
    assert rows["keyframes scored"] >= 1
    assert rows["keyframes scored"] + rows["keyframes skipped"] == 6
    assert 0 < rows["lag, max"] and rows["lag bounded"] == "yes"
    assert rows["RSS end"] > 10 and rows["memory flat (growth <= 1000 MiB)"] == "yes"
    assert rows["person tracks"] >= 3


def test_id_switches_counts_changes_of_a_persons_track():
    box = lambda x: [x, 0.1, x + 0.2, 0.9]  # noqa: E731
    gt = {t: (np.array([box(0.1 + 0.05 * t), box(0.6)]), np.array([7, 8])) for t in range(4)}
    same = {t: (gt[t][0], np.array([0, 1])) for t in range(4)}
    assert benchmark_tracking.id_switches(gt, same)["switches"] == 0
    # person 7 gets track 2 from t = 2 on: one switch; person 8 swaps with it at t = 3: two more
    swapped = {
        t: (gt[t][0], np.array([0 if t < 2 else (2 if t == 2 else 1), 1 if t < 3 else 2]))
        for t in range(4)
    }
    m = benchmark_tracking.id_switches(gt, swapped)
    assert m["switches"] == 3 and m["matched"] == 8 and m["gt_boxes"] == 8 and m["tracks"] == 3
    # a track box that misses (IoU < 0.5) is no match and no switch
    missed = {t: (gt[t][0] + (0.5 if t == 1 else 0), np.array([0, 1])) for t in range(4)}
    m = benchmark_tracking.id_switches(gt, missed)
    assert m["switches"] == 0 and m["matched"] == 6
