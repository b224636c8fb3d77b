"""Bad input: an error naming file, line and field, or an official-like, counted recovery."""

import logging

import pytest
from ava_eval_cases import A, gt_row, write_csv, write_labelmap

from slowfast_det.ava.evaluate import evaluate_files
from slowfast_det.ava.io import AVAFormatError


@pytest.fixture
def files(tmp_path):
    lm = write_labelmap(tmp_path / "lm.pbtxt", [1, 2])
    gt = write_csv(tmp_path / "gt.csv", [gt_row("v", "0902", A, 1), gt_row("v", "0903", A, 2)])

    def run(det_text, gt_path=gt, capacity=50):
        d = tmp_path / "det.csv"
        d.write_text(det_text)
        return evaluate_files(lm, gt_path, str(d), None, capacity)[0]

    return tmp_path, run


@pytest.mark.parametrize(
    "text,match",
    [
        (
            "v,902,0.0,0.0,0.5,0.5,1,0.9\nv,902,0.0,0.0,0.5,0.5,1,nan\n",
            r"det.csv:2: field 'score' not a finite number: 'nan'",
        ),
        (
            "v,902,0.0,0.0,0.5,0.5,1,0.9\nv,902,0.0,0.0,inf,0.5,1,0.9\n",
            r"det.csv:2: field 'x2' not a finite number: 'inf'",
        ),
        (
            "v,902,0.0,0.0,0.5,0.5,1,0.9\n\nv,902,0.0,abc,0.5,0.5,1,0.9\n",
            r"det.csv:3: field 'y1' not a number: 'abc'",
        ),
        ("v,902,0.0,0.0,0.5,0.5,1,0.9,3\n", r"det.csv:1: expected 2 or 8"),
        ("v,902,0.0,0.0,0.5,0.5,x,0.9\n", r"det.csv:1: field 'action_id' not a number"),
    ],
)
def test_malformed_detection_rows_name_file_line_field(files, text, match):
    _, run = files
    with pytest.raises(AVAFormatError, match=match):
        run(text)


@pytest.mark.parametrize("use_pyarrow", [True, False])
def test_seven_column_detections_score_one_and_are_counted(files, caplog, use_pyarrow, tmp_path):
    tmp, _ = files
    # As the official reader: a row without a score is scored 1.0. Class 1 (GT at 902): the
    # 7-column FP at 903 (score 1.0) now ranks above the 0.9 TP -> precision 1/2 at recall 1:
    # AP 1/2; class 2 (GT at 903): its 7-column TP -> AP 1.
    d = tmp / "det7.csv"
    d.write_text("v,902,0.0,0.0,0.5,0.5,1,0.9\nv,903,0.0,0.0,0.5,0.5,1\nv,903,0.0,0.0,0.5,0.5,2\n")
    with caplog.at_level(logging.WARNING):
        res = evaluate_files(
            str(tmp / "lm.pbtxt"), str(tmp / "gt.csv"), str(d), use_pyarrow=use_pyarrow
        )[0]
    assert res.per_class == {1: pytest.approx(0.5), 2: pytest.approx(1.0)}
    assert res.counts["det_rows_without_score"] == 2
    assert "2 detection rows had no score (7 fields): scored 1.0" in caplog.text


@pytest.mark.parametrize("use_pyarrow", [True, False])
@pytest.mark.parametrize("big", ["inf", "1e400", "INF"])
def test_infinite_scores_only_order(files, use_pyarrow, big, tmp_path):
    tmp, _ = files
    # The official reader takes float("inf"); only the order counts. Class 1: inf FP at 903,
    # then the 0.9 TP -> AP 1/2; class 2: -inf TP (the only detection) -> AP 1.
    d = tmp / "det_inf.csv"
    d.write_text(
        f"v,902,0.0,0.0,0.5,0.5,1,0.9\nv,903,0.0,0.0,0.5,0.5,1,{big}\nv,903,0.0,0.0,0.5,0.5,2,-inf\n"
    )
    res = evaluate_files(
        str(tmp / "lm.pbtxt"), str(tmp / "gt.csv"), str(d), use_pyarrow=use_pyarrow
    )[0]
    assert res.per_class == {1: pytest.approx(0.5), 2: pytest.approx(1.0)}
    assert res.counts["det_scores_outside_0_1"] == 2


def test_inverted_groundtruth_box_is_an_error(files):
    tmp, run = files
    gt = write_csv(
        tmp / "gt_bad.csv", [gt_row("v", 902, A, 1), gt_row("v", 903, (0.5, 0.0, 0.1, 0.5), 1)]
    )
    with pytest.raises(AVAFormatError, match=r"gt_bad.csv:2: field 'x2' x2 < x1"):
        run("v,902,0.0,0.0,0.5,0.5,1,0.9\n", gt_path=gt)


def test_inverted_detection_box_is_dropped_and_counted(files):
    _, run = files
    res = run("v,902,0.5,0.0,0.0,0.5,1,0.9\nv,902,0.0,0.0,0.5,0.5,1,0.8\n")
    assert res.counts["det_rows_invalid_box"] == 1 and res.per_class[1] == pytest.approx(1.0)


def test_scores_outside_0_1_are_kept_and_counted(files, caplog):
    _, run = files
    with caplog.at_level(logging.WARNING):
        res = run("v,902,0.0,0.0,0.5,0.5,1,7.5\nv,903,0.0,0.0,0.5,0.5,2,-3\n")
    assert res.counts["det_scores_outside_0_1"] == 2 and res.mAP == pytest.approx(1.0)
    assert "outside [0, 1]" in caplog.text


def test_unknown_video_ids_and_absent_keys_are_false_positives_and_reported(files, caplog):
    _, run = files
    with caplog.at_level(logging.WARNING):
        res = run(
            "w,902,0.0,0.0,0.5,0.5,1,0.95\nv,950,0.0,0.0,0.5,0.5,1,0.94\nv,902,0.0,0.0,0.5,0.5,1,0.9\n"
        )
    # class 1: FP, FP, TP -> precision 1/3 at recall 1 -> AP 1/3; class 2: no detection -> 0
    assert res.per_class == {1: pytest.approx(1 / 3), 2: 0.0}
    assert res.counts["det_rows_at_keys_without_groundtruth"] == 2
    assert res.counts["det_rows_unknown_video"] == 1 and res.counts["det_unknown_videos"] == 1
    assert (
        "scored as false positives" in caplog.text and "absent from the ground truth" in caplog.text
    )
    assert res.counts["gt_keys_without_detections"] == 1  # (v, 903)


def test_two_column_keyframe_rows_and_padded_timestamps(files):
    tmp, run = files
    gt = tmp / "gt2.csv"
    gt.write_text("v,0902,0.0,0.0,0.5,0.5,1,0\nv,0904\n")
    # detections at "902" match "0902"; the one at the box-less key 904 is a false positive
    res = run("v,904,0.0,0.0,0.5,0.5,1,0.9\nv,902,0.0,0.0,0.5,0.5,1,0.8\n", gt_path=str(gt))
    assert res.per_class[1] == pytest.approx(0.5) and res.per_class[2] is None


def test_empty_detections_file(files):
    _, run = files
    res = run("")
    assert res.mAP == 0.0 and res.counts["det_rows"] == 0


def test_missing_file(files):
    tmp, _ = files
    with pytest.raises(FileNotFoundError):
        evaluate_files(str(tmp / "lm.pbtxt"), str(tmp / "gt.csv"), str(tmp / "nope.csv"))
