"""tools/eval_ava.py: the drop-in command line."""
import json
import os
import subprocess
import sys

import pytest
from ava_eval_cases import A, B, FAR, det_row, gt_row, write_csv, write_labelmap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import eval_ava  # noqa: E402


@pytest.fixture
def case(tmp_path):
    lm = write_labelmap(tmp_path / "lm.pbtxt", [1, 2, 3], {1: "bend/bow (at the waist)", 2: "crawl", 3: "dance"})
    # class 1: TP (0.9), FP duplicate (0.8), FP (0.7), B missed -> AP 1/2; class 2: FP (0.5)
    # then TP (0.4) -> AP 1/2; class 3: no ground truth (left out of the mean).
    gt = write_csv(tmp_path / "gt.csv", [gt_row("v", "0902", A, 1, 0), gt_row("v", "0902", B, 1, 1), gt_row("v", "0903", A, 2)])
    det = write_csv(
        tmp_path / "det.csv",
        [det_row("v", 902, A, 1, 0.9), det_row("v", 902, A, 1, 0.8), det_row("v", 902, FAR, 1, 0.7),
         det_row("v", 903, FAR, 2, 0.5), det_row("v", 903, A, 2, 0.4)],
    )
    x = write_csv(tmp_path / "x.csv", [("v", "0904")])
    return tmp_path, lm, gt, det, x


def test_cli_prints_and_writes_json_and_plots(case, capsys):
    tmp, lm, gt, det, x = case
    out = tmp / "res" / "eval.json"
    assert eval_ava.main(["-l", lm, "-g", gt, "-d", det, "-x", x, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "frame-mAP@0.5IOU: 0.500000" in text  # (1/2 + 1/2) / 2 ; class 3: no ground truth
    assert "capacity: 50" in text and "bend/bow (at the waist)" in text
    res = json.loads(out.read_text())
    assert res["mAP"] == pytest.approx(0.5) and res["capacity"] == 50
    assert res["per_class"] == {"1": pytest.approx(0.5), "2": pytest.approx(0.5), "3": None}
    for suffix in ("_ap_per_class.png", "_pr_curves.png"):
        with open(tmp / "res" / f"eval{suffix}", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_capacity_flag_and_official_exclusions_alias(case, capsys):
    tmp, lm, gt, det, x = case
    # capacity 1: class 1 keeps only its 0.9 TP -> AP 1/2 still; class 2 keeps only the
    # 0.5 FP at 903 -> AP 0 -> mAP 1/4.
    argv = ["-l", lm, "-g", gt, "-d", det, "-e", x, "--capacity", "1", "--json", str(tmp / "c1.json"), "--no-plots"]
    assert eval_ava.main(argv) == 0
    text = capsys.readouterr().out
    assert "frame-mAP@0.5IOU: 0.250000" in text and "capacity: 1" in text
    assert not os.path.exists(tmp / "c1_pr_curves.png")
    assert eval_ava.main(["-l", lm, "-g", gt, "-d", det, "--capacity", "0", "--plots", str(tmp / "p")]) == 0
    text = capsys.readouterr().out
    assert "capacity: 0 (keep all detections per keyframe, as PySlowFast)" in text
    assert os.path.exists(tmp / "p" / "ava_ap_per_class.png")


def test_cli_bad_input_exits_1_naming_file_and_line(case, capsys):
    tmp, lm, gt, det, x = case
    bad = tmp / "bad.csv"
    bad.write_text("v,902,0.0,0.0,0.5,0.5,1,0.9\nv,902,0.0,0.0,0.5,zz,1,0.9\n")
    assert eval_ava.main(["-l", lm, "-g", gt, "-d", str(bad)]) == 1
    assert "bad.csv:2: field 'y2' not a number: 'zz'" in capsys.readouterr().err
    assert eval_ava.main(["-l", lm, "-g", gt, "-d", det, "--capacity", "-1"]) == 2


def test_cli_as_a_script(case):
    tmp, lm, gt, det, x = case
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "eval_ava.py"), "-l", lm, "-g", gt, "-d", det, "-x", x],
        capture_output=True, text=True, check=True,
    )
    assert "frame-mAP@0.5IOU: 0.500000" in out.stdout
