"""benchmarks.evaluation (tools/benchmark.py --task eval) at a tiny scale: the case
it makes and the rows it reports."""

import pandas as pd

from benchmarks import cli as benchmark
from benchmarks import evaluation as benchmark_eval


def test_make_case_has_the_ava_val_shape(tmp_path):
    paths, info = benchmark_eval.make_case(str(tmp_path), num_keys=400, seed=1, subset_keys=100)
    det = pd.read_csv(paths["detections"], header=None)
    keys = det.groupby([0, 1]).ngroups
    assert info["det_rows"] == len(det) and det[6].nunique() == 60
    assert 2.2 <= len(det) / 60 / 400 <= 2.8  # about 2.5 boxes per keyframe, 60 classes each
    assert keys <= 400 and info["det_rows_subset"] < len(det)
    assert set(det[6]) == set(benchmark_eval.EVALUATED)


def test_make_case_top_classes(tmp_path):
    paths, info = benchmark_eval.make_case(str(tmp_path), num_keys=200, seed=2, top_classes=5)
    det = pd.read_csv(paths["detections"], header=None)
    boxes = det.groupby([0, 1, 2, 3, 4, 5]).size()
    assert (boxes == 5).all() and info["det_rows"] == 5 * len(boxes)


def test_benchmark_eval_runs_and_agrees(capsys):
    benchmark.main(["--task", "eval", "--scale", "0.002", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "speedup end to end, wall (target >= 20)" in out and "peak RSS" in out
    assert "|mAP ours - reference|" in out and "heavy modules imported: none" in out
    assert "python tools/eval_ava.py -l " in out and "torch CPU capability" in out
