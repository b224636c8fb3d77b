"""Issue 26: messy evaluation files give the official frame-mAP or an error naming file,
line and field, the same through the pyarrow fast reader and the validating pandas reader.
Each fixture is written by the test; expected values are worked out by hand from the
official script's rules (heap per key, stable sort by score, ``argsort(scores)[::-1]``)."""

import logging

import numpy as np
import pytest
from ava_eval_cases import FAR, A, B, table, with_lines

from benchmarks.reference import reference_frame_map
from slowfast_det.ava.box_arrays import HAVE_PYARROW
from slowfast_det.ava.evaluate import evaluate_files
from slowfast_det.ava.io import AVAFormatError, BoxTable
from slowfast_det.ava.metric import frame_map

READERS = [pytest.param(True, id="pyarrow"), pytest.param(False, id="pandas")]


def _box(box):
    return ",".join(str(v) for v in box)


@pytest.fixture
def evaluate(tmp_path):
    def run(gt, det, use_pyarrow, classes=(1,), **kw):
        if use_pyarrow and not HAVE_PYARROW:
            pytest.skip("pyarrow is not installed")
        lm = tmp_path / "lm.pbtxt"
        lm.write_text("".join(f'item {{\n  name: "a{c}"\n  id: {c}\n}}\n' for c in classes))
        (tmp_path / "gt.csv").write_bytes(gt.encode())
        (tmp_path / "det.csv").write_bytes(det.encode())
        return evaluate_files(
            str(lm),
            str(tmp_path / "gt.csv"),
            str(tmp_path / "det.csv"),
            use_pyarrow=use_pyarrow,
            **kw,
        )[0]

    return run


GT = f"v,902,{_box(A)},1,0\nv,903,{_box(B)},1,0\n"


@pytest.mark.parametrize("use_pyarrow", READERS)
@pytest.mark.parametrize("score", ["0.\x00999909388622", "0.4\x00999"])
def test_nul_byte_in_a_score_is_an_error_not_a_number(evaluate, use_pyarrow, score):
    det = f"v,902,{_box(A)},1,0.9\nv,903,{_box(B)},1,{score}\n"
    with pytest.raises(AVAFormatError, match=r"det.csv:2: field 'score' contains a NUL byte"):
        evaluate(GT, det, use_pyarrow)


@pytest.mark.parametrize("use_pyarrow", READERS)
@pytest.mark.parametrize(
    "gt_ts,det_ts,expected",
    [
        ("902.000001", "902.0000005", 1.0),
        ("902", "902.0000005", 0.0),
        ("902.123457", "902.1234575", 1.0),
        ("902.123458", "902.1234575", 0.0),
    ],
)
def test_half_microsecond_keys_as_the_2020_script(evaluate, use_pyarrow, gt_ts, det_ts, expected):
    result = evaluate(f"v,{gt_ts},{_box(A)},1,0\n", f"v,{det_ts},{_box(A)},1,0.9\n", use_pyarrow)
    assert result.mAP == expected


@pytest.mark.parametrize("use_pyarrow", READERS)
def test_seven_column_detections_rank_later_keys_first(evaluate, use_pyarrow):
    # All scores 1.0. Concatenated by key: [902: FP, 903: TP]; the stable argsort reversed
    # ranks TP first: AP 1 (the earlier line first gave FP, TP: AP 1/2).
    det = f"v,902,{_box(FAR)},1\nv,903,{_box(B)},1\n"
    result = evaluate(f"v,903,{_box(B)},1,0\n", det, use_pyarrow)
    assert result.mAP == 1.0 and result.counts["det_rows_without_score"] == 2


@pytest.mark.parametrize("use_pyarrow", READERS)
def test_repeated_detection_row_ranks_its_false_positive_copy_first(evaluate, use_pyarrow, caplog):
    # The first copy takes the box (TP), the second is a FP; equal scores in one key: the
    # ranking reverses the key's order, FP then TP: precision 0, 1/2 -> AP 1/2.
    det = f"v,902,{_box(A)},1,0.9\nv,902,{_box(A)},1,0.9\n"
    with caplog.at_level(logging.WARNING):
        result = evaluate(f"v,902,{_box(A)},1,0\n", det, use_pyarrow)
    assert result.mAP == pytest.approx(0.5) and result.counts["det_rows_repeated"] == 1
    assert (
        "det.csv: 1 evaluated detection rows repeat an earlier row exactly "
        "(first: line 2 repeats line 1)" in caplog.text
    )


@pytest.mark.parametrize("use_pyarrow", READERS)
def test_capacity_cut_inside_equal_scores_follows_the_heap(evaluate, use_pyarrow):
    # Capacity 2: rows (0.5, class 3), (0.5, class 7) fill the heap; (0.9, class 7) pushes
    # out the smallest tuple, (0.5, 3, ...), not the later line. Class 3: no detection, AP 0;
    # class 7: FP 0.9 then TP 0.5, AP 1/2.
    gt = f"v,902,{_box(A)},3,0\nv,902,{_box(B)},7,1\n"
    det = f"v,902,{_box(A)},3,0.5\nv,902,{_box(B)},7,0.5\nv,902,{_box(FAR)},7,0.9\n"
    result = evaluate(gt, det, use_pyarrow, classes=(3, 7), capacity=2)
    assert result.per_class == {3: 0.0, 7: pytest.approx(0.5)}


@pytest.mark.parametrize("use_pyarrow", READERS)
def test_empty_eighth_field_is_refused(evaluate, use_pyarrow):
    det = f"v,902,{_box(A)},1,0.9\nv,903,{_box(B)},1,\n"
    with pytest.raises(
        AVAFormatError, match=r"det.csv:2: field 'score' empty \(the row has 8 fields\)"
    ):
        evaluate(GT, det, use_pyarrow)


@pytest.mark.parametrize("use_pyarrow", READERS)
def test_one_pixel_box_of_108_is_counted_not_called_an_mAP_near_0(evaluate, use_pyarrow, caplog):
    gt = "".join(f"v,{902 + i},{_box(A)},1,0\n" for i in range(108))
    det = (
        "".join(f"v,{902 + i},{_box(A)},1,0.9\n" for i in range(107))
        + "v,1009,10,10,300,200,1,0.1\n"
    )
    with caplog.at_level(logging.WARNING):
        result = evaluate(gt, det, use_pyarrow)
    assert result.mAP == pytest.approx(107 / 108)
    assert (
        "det.csv: 1 of 108 detection rows look like pixels while no ground-truth box of "
        in caplog.text
    )
    assert "near 0" not in caplog.text


GRID = [0.0, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0]  # dyadic: exact IoUs, many equal


def _tied_case(rng):
    """Ground truth and detections on a coarse grid: equal scores, equal person ids, equal
    IoUs and repeated detection rows everywhere."""

    def box():
        x, y = (
            np.sort(rng.choice(GRID, 2, replace=False)),
            np.sort(rng.choice(GRID, 2, replace=False)),
        )
        return x[0], y[0], x[1], y[1]

    def key():
        return f"v{rng.integers(0, 2)}", int(rng.integers(900, 903))

    gt = [
        (*key(), *box(), int(rng.integers(1, 3)), float(rng.integers(0, 2)))
        for _ in range(rng.integers(3, 12))
    ]
    det = []
    for _ in range(rng.integers(5, 40)):
        if det and rng.random() < 0.3:
            det.append(det[int(rng.integers(0, len(det)))])
        else:
            det.append((*key(), *box(), int(rng.integers(1, 3)), float(rng.integers(0, 3)) / 2))
    return gt, det


@pytest.mark.parametrize("seed", range(60))
def test_equal_scores_match_the_official_structure(seed):
    rng = np.random.default_rng(1000 + seed)
    gt, det = _tied_case(rng)
    capacity = [0, 1, 2, 3, 5][seed % 5]
    try:
        expected, _ = reference_frame_map(with_lines(gt), with_lines(det), [1, 2], (), capacity)
    except ValueError:
        pytest.skip("no ground truth of an evaluated class in this draw")
    result = frame_map(BoxTable(table(gt), set()), table(det), [1, 2], (), capacity)
    assert abs(result.mAP - expected) <= 1e-12
    if capacity == 0:  # every row evaluated: every exact copy is counted
        assert result.counts["det_rows_repeated"] == len(det) - len(set(det))
