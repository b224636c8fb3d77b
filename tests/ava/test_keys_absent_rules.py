"""The two official rules for detections at keys absent from the ground-truth file, worked
out by hand: "false-positive" (2019 script, ActivityNet commit 3fee089) and "ignore" (2020
script, commit c070fdb and later). Each case has a key absent from the file, a key present
only as a 2-column row, a key present only by a box of a class outside the label map, and
an unknown video id."""

import json

import pytest
from ava_eval_cases import A, B, det_row, gt_row, table, with_lines, write_csv, write_labelmap
from script_modules import load_tool

from benchmarks.reference import reference_evaluate_files, reference_frame_map
from slowfast_det.ava.evaluate import evaluate_files
from slowfast_det.ava.io import BoxTable
from slowfast_det.ava.metric import frame_map

eval_ava = load_tool("eval_ava")

# Ground-truth file: (v, 902) one class-1 box; (v, 903) a 2-column row; (v, 904) only a box
# of class 7, which is not in the label map {1}.
GT = [gt_row("v", 902, A, 1), gt_row("v", 904, B, 7)]
GT_TWO_COLUMN = {("v", 903)}
# Class-1 detections, all on box A:
DET = [
    det_row("v", 902, A, 1, 0.6),  # TP
    det_row("v", 903, A, 1, 0.9),  # 2-column key: present, no box -> FP under both rules
    det_row("v", 904, A, 1, 0.8),  # present by a class-7 row only -> FP under both rules
    det_row("v", 905, A, 1, 0.95),  # absent from the file -> FP (2019) / ignored (2020)
    det_row("w", 902, A, 1, 0.7),  # unknown video -> FP (2019) / ignored (2020)
]
# false-positive: ranking 0.95 FP, 0.9 FP, 0.8 FP, 0.7 FP, 0.6 TP -> precision 1/5 at recall 1:
# AP 1/5
# ignore: ranking 0.9 FP, 0.8 FP, 0.6 TP -> precision 1/3 at recall 1: AP 1/3
EXPECTED = {"false-positive": 1 / 5, "ignore": 1 / 3}


@pytest.mark.parametrize("rule", ["false-positive", "ignore"])
def test_rule_by_hand_fast_and_reference(rule):
    res = frame_map(
        BoxTable(table(GT), GT_TWO_COLUMN), table(DET), [1], keys_absent_from_groundtruth=rule
    )
    ref_map, ref_ap = reference_frame_map(
        with_lines(GT),
        with_lines(DET),
        [1],
        keys_absent_from_groundtruth=rule,
        groundtruth_keys=GT_TWO_COLUMN,
    )
    assert res.mAP == pytest.approx(EXPECTED[rule], abs=1e-15)
    assert ref_map == pytest.approx(EXPECTED[rule], abs=1e-15) and ref_ap == {
        1: pytest.approx(EXPECTED[rule])
    }
    c = res.counts
    # the same two rows at two keys under both rules: scored as false positives, or ignored
    assert (
        c["det_rows_at_keys_absent_from_groundtruth"] == 2
        and c["det_keys_absent_from_groundtruth"] == 2
    )
    assert c["det_rows_unknown_video"] == 1 and c["det_unknown_videos"] == 1
    assert c["det_rows_evaluated"] == {"false-positive": 5, "ignore": 3}[rule]
    assert c["det_rows_at_keys_without_groundtruth"] == {"false-positive": 4, "ignore": 2}[rule]
    assert res.keys_absent_from_groundtruth == rule
    summary = res.absent_keys_summary()
    assert summary["rule"] == rule and summary["detection_rows"] == 2 and summary["keys"] == 2
    assert (
        summary["effect"]
        == {"false-positive": "scored as false positives", "ignore": "ignored"}[rule]
    )


def test_without_the_two_column_row_key_903_is_absent_too():
    # Not giving the 2-column key: under "ignore" the 0.9 FP at 903 goes as well -> 0.8 FP,
    # 0.6 TP: AP 1/2. Under "false-positive" nothing changes (1/5).
    assert frame_map(
        table(GT), table(DET), [1], keys_absent_from_groundtruth="ignore"
    ).mAP == pytest.approx(0.5)
    assert frame_map(table(GT), table(DET), [1]).mAP == pytest.approx(0.2)


def test_excluded_keys_are_dropped_before_either_rule():
    res = frame_map(
        BoxTable(table(GT), GT_TWO_COLUMN),
        table(DET),
        [1],
        excluded={("v", 905)},
        keys_absent_from_groundtruth="false-positive",
    )
    # 0.9 FP, 0.8 FP, 0.7 FP, 0.6 TP -> AP 1/4; the excluded key is not counted as absent
    assert (
        res.mAP == pytest.approx(0.25)
        and res.counts["det_rows_at_keys_absent_from_groundtruth"] == 1
    )


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError, match="keys_absent_from_groundtruth must be one of"):
        frame_map(table(GT), table(DET), [1], keys_absent_from_groundtruth="drop")


@pytest.fixture
def files(tmp_path):
    lm = write_labelmap(tmp_path / "lm.pbtxt", [1])
    gt = tmp_path / "gt.csv"
    gt.write_text("v,0902,0.0,0.0,0.5,0.5,1,0\nv,0903\nv,0904,0.5,0.5,1.0,1.0,7,0\n")
    det = write_csv(tmp_path / "det.csv", DET)
    return tmp_path, lm, str(gt), det


@pytest.mark.parametrize("rule", ["false-positive", "ignore"])
def test_rule_from_files_and_the_cli(files, rule, capsys):
    tmp, lm, gt, det = files
    res, _ = evaluate_files(lm, gt, det, keys_absent_from_groundtruth=rule)
    ref_map, _, _ = reference_evaluate_files(lm, gt, det, keys_absent_from_groundtruth=rule)
    assert res.mAP == pytest.approx(EXPECTED[rule]) and ref_map == pytest.approx(EXPECTED[rule])
    out = tmp / f"{rule}.json"
    argv = ["-l", lm, "-g", gt, "-d", det, "--json", str(out)]
    assert (
        eval_ava.main(argv + (["--keys-absent-from-groundtruth", rule] if rule == "ignore" else []))
        == 0
    )
    text = capsys.readouterr().out
    effect = {"false-positive": "scored as false positives", "ignore": "ignored"}[rule]
    assert f"rule '{rule}'" in text and f"2 detection rows at 2 keys {effect}" in text
    assert ("3fee089" in text) == (rule == "false-positive") and ("c070fdb" in text) == (
        rule == "ignore"
    )
    saved = json.loads(out.read_text())
    assert saved["mAP"] == pytest.approx(EXPECTED[rule])
    assert {
        k: saved["keys_absent_from_groundtruth"][k] for k in ("rule", "detection_rows", "keys")
    } == {"rule": rule, "detection_rows": 2, "keys": 2}
