"""The vectorised frame-mAP agrees with the official-structure per-keyframe reference on
random cases, under both rules for keys absent from the ground truth, from tables and from
CSV files (read by pyarrow, or by pandas in chunks of any size)."""

import numpy as np
import pytest
from ava_eval_cases import random_case, table, with_lines, write_csv, write_labelmap

from benchmarks.reference import reference_evaluate_files, reference_frame_map
from slowfast_det.ava.box_arrays import HAVE_PYARROW
from slowfast_det.ava.evaluate import evaluate_files
from slowfast_det.ava.io import BoxTable
from slowfast_det.ava.metric import frame_map

CLASSES = [1, 2, 3, 5]
EXCLUDED = {("v1", 901), ("v2", 903)}


def assert_same(res, ref_map, ref_ap, tol=1e-12):
    assert abs(res.mAP - ref_map) <= tol
    assert res.per_class.keys() == ref_ap.keys()
    for c, ap in ref_ap.items():
        assert (ap is None) == (res.per_class[c] is None), c
        if ap is not None:
            assert abs(res.per_class[c] - ap) <= tol, c


RULES = ["false-positive", "ignore"]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("seed", range(40))
def test_random_cases_match_the_reference(seed, rule):
    rng = np.random.default_rng(seed)
    gt, det = random_case(rng, tied=seed % 2 == 1)
    capacity = [0, 3, 50, 7][seed % 4]
    two_column = {("v0", 911), ("v3", 905)}
    gt_table = BoxTable(table(gt), two_column)
    try:
        ref_map, ref_ap = reference_frame_map(
            with_lines(gt),
            with_lines(det),
            CLASSES,
            EXCLUDED,
            capacity,
            keys_absent_from_groundtruth=rule,
            groundtruth_keys=two_column,
        )
    except ValueError:  # no evaluated ground truth in this draw: both must say so
        with pytest.raises(ValueError, match="undefined"):
            frame_map(
                gt_table, table(det), CLASSES, EXCLUDED, capacity, keys_absent_from_groundtruth=rule
            )
        return
    res = frame_map(
        gt_table, table(det), CLASSES, EXCLUDED, capacity, keys_absent_from_groundtruth=rule
    )
    assert_same(res, ref_map, ref_ap)
    assert 0.0 <= res.mAP <= 1.0


@pytest.mark.parametrize("reader", ["pyarrow", 1, 7, 64, 10_000])
def test_files_match_the_reference(tmp_path, reader):
    rng = np.random.default_rng(123)
    gt, det = random_case(rng, num_keys=40, tied=True)
    lm = write_labelmap(tmp_path / "lm.pbtxt", CLASSES)
    g = write_csv(tmp_path / "gt.csv", gt + [("v1", 908), ("v4", 900)])  # two 2-column rows
    d = write_csv(tmp_path / "det.csv", det)
    x = write_csv(tmp_path / "x.csv", sorted(EXCLUDED))
    use_pyarrow = reader == "pyarrow"
    if use_pyarrow and not HAVE_PYARROW:
        pytest.skip("pyarrow is not installed")
    chunksize = 1000 if use_pyarrow else reader
    for capacity in (0, 2, 5):
        for rule in RULES:
            res, _ = evaluate_files(
                lm,
                g,
                d,
                x,
                capacity,
                chunksize=chunksize,
                keys_absent_from_groundtruth=rule,
                use_pyarrow=use_pyarrow,
            )
            ref_map, ref_ap, _ = reference_evaluate_files(
                lm, g, d, x, capacity, keys_absent_from_groundtruth=rule
            )
            assert_same(res, ref_map, ref_ap)


@pytest.mark.parametrize("seed", range(6))
def test_without_lookup_tables_the_sort_and_hash_paths_agree(seed, monkeypatch):
    # LUT_MAX = 1: timestamps are ranked, membership by np.isin, distinct keys by np.unique,
    # every key ranked for the cut, (key, class) groups found by binary search.
    from slowfast_det.ava import array_ops, matching

    rng = np.random.default_rng(100 + seed)
    gt, det = random_case(rng, tied=seed % 2 == 0)
    capacity = [0, 3, 7][seed % 3]
    gt_table = BoxTable(table(gt), {("v0", 911)})
    rule = RULES[seed % 2]
    try:
        expected = frame_map(
            gt_table, table(det), CLASSES, EXCLUDED, capacity, keys_absent_from_groundtruth=rule
        )
    except ValueError:
        return
    monkeypatch.setattr(array_ops, "LUT_MAX", 1)
    monkeypatch.setattr(matching, "LUT_MAX", 1)
    res = frame_map(
        gt_table, table(det), CLASSES, EXCLUDED, capacity, keys_absent_from_groundtruth=rule
    )
    assert (
        res.mAP == expected.mAP
        and res.per_class == expected.per_class
        and res.counts == expected.counts
    )
