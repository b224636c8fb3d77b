"""tools/eval_ava.py: the drop-in command line."""

import json
import os
import subprocess
import sys

import pytest
from ava_eval_cases import FAR, ROOT, A, B, det_row, gt_row, write_csv, write_labelmap
from script_modules import load_tool

from slowfast_det.ava.box_arrays import HAVE_PYARROW

eval_ava = load_tool("eval_ava")


@pytest.fixture
def case(tmp_path):
    lm = write_labelmap(
        tmp_path / "lm.pbtxt", [1, 2, 3], {1: "bend/bow (at the waist)", 2: "crawl", 3: "dance"}
    )
    # class 1: TP (0.9), FP duplicate (0.8), FP (0.7), B missed -> AP 1/2; class 2: FP (0.5)
    # then TP (0.4) -> AP 1/2; class 3: no ground truth (left out of the mean).
    gt = write_csv(
        tmp_path / "gt.csv",
        [gt_row("v", "0902", A, 1, 0), gt_row("v", "0902", B, 1, 1), gt_row("v", "0903", A, 2)],
    )
    det = write_csv(
        tmp_path / "det.csv",
        [
            det_row("v", 902, A, 1, 0.9),
            det_row("v", 902, A, 1, 0.8),
            det_row("v", 902, FAR, 1, 0.7),
            det_row("v", 903, FAR, 2, 0.5),
            det_row("v", 903, A, 2, 0.4),
        ],
    )
    x = write_csv(tmp_path / "x.csv", [("v", "0904")])
    return tmp_path, lm, gt, det, x


def test_cli_prints_and_writes_json_and_plots(case, capsys):
    tmp, lm, gt, det, x = case
    out = tmp / "res" / "eval.json"
    assert (
        eval_ava.main(
            [
                "-l",
                lm,
                "-g",
                gt,
                "-d",
                det,
                "-x",
                x,
                "--json",
                str(out),
                "--plots",
                str(tmp / "res"),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "frame-mAP@0.5IOU: 0.500000" in text  # (1/2 + 1/2) / 2 ; class 3: no ground truth
    assert "capacity: 50" in text and "bend/bow (at the waist)" in text
    # ids 1-3 are poses: the pose group is the mAP, the other groups have no class
    assert "group mAP pose (ids 1-14): 0.500000 over 2 classes" in text
    assert (
        "group mAP person interaction (ids 64-80): (no class with ground truth) over 0 classes"
        in text
    )
    assert (
        "rule 'false-positive'" in text
        and "0 detection rows at 0 keys scored as false positives" in text
    )
    res = json.loads(out.read_text())
    assert res["mAP"] == pytest.approx(0.5) and res["capacity"] == 50
    assert {c: v["AP"] for c, v in res["per_class"].items()} == {
        "1": pytest.approx(0.5),
        "2": pytest.approx(0.5),
        "3": None,
    }
    assert res["per_class"]["1"] == {
        "name": "bend/bow (at the waist)",
        "AP": pytest.approx(0.5),
        "num_groundtruth": 2,
        "num_detections": 3,
    }
    assert res["grouped_mAP"] == {
        "pose": pytest.approx(0.5),
        "object manipulation": None,
        "person interaction": None,
    }
    assert res["keys_absent_from_groundtruth"]["rule"] == "false-positive"
    for suffix in ("_ap_per_class.png", "_pr_curves.png"):
        with open(tmp / "res" / f"eval{suffix}", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_json_without_plots_writes_no_png(case):
    tmp, lm, gt, det, x = case
    assert eval_ava.main(["-l", lm, "-g", gt, "-d", det, "--json", str(tmp / "only.json")]) == 0
    assert (tmp / "only.json").exists() and not list(tmp.glob("*.png"))


def test_cli_same_name_twice_is_two_classes(tmp_path, capsys):
    # two label-map entries named alike: two rows of the report, two JSON entries
    lm = write_labelmap(tmp_path / "lm.pbtxt", [1, 20], {1: "same", 20: "same"})
    gt = write_csv(tmp_path / "gt.csv", [gt_row("v", 902, A, 1), gt_row("v", 902, B, 20)])
    det = write_csv(
        tmp_path / "det.csv", [det_row("v", 902, A, 1, 0.9), det_row("v", 902, A, 20, 0.8)]
    )
    assert eval_ava.main(["-l", lm, "-g", gt, "-d", det, "--json", str(tmp_path / "r.json")]) == 0
    text = capsys.readouterr().out
    assert any(
        line.split()[:2] == ["1", "1.000000"] and line.endswith("same")
        for line in text.splitlines()
    )
    assert any(
        line.split()[:2] == ["20", "0.000000"] and line.endswith("same")
        for line in text.splitlines()
    )
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["per_class"]["1"]["AP"] == 1.0 and res["per_class"]["20"]["AP"] == 0.0
    assert res["per_class"]["1"]["name"] == res["per_class"]["20"]["name"] == "same"
    assert res["grouped_mAP"] == {
        "pose": 1.0,
        "object manipulation": 0.0,
        "person interaction": None,
    }


def test_cli_capacity_flag_and_official_exclusions_alias(case, capsys):
    tmp, lm, gt, det, x = case
    # capacity 1: class 1 keeps only its 0.9 TP -> AP 1/2 still; class 2 keeps only the
    # 0.5 FP at 903 -> AP 0 -> mAP 1/4.
    argv = [
        "-l",
        lm,
        "-g",
        gt,
        "-d",
        det,
        "-e",
        x,
        "--capacity",
        "1",
        "--json",
        str(tmp / "c1.json"),
        "--no-plots",
    ]
    assert eval_ava.main(argv) == 0
    text = capsys.readouterr().out
    assert "frame-mAP@0.5IOU: 0.250000" in text and "capacity: 1" in text
    assert not os.path.exists(tmp / "c1_pr_curves.png")
    assert (
        eval_ava.main(["-l", lm, "-g", gt, "-d", det, "--capacity", "0", "--plots", str(tmp / "p")])
        == 0
    )
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


def test_cli_as_a_script_imports_neither_torch_nor_detectron2(case):
    tmp, lm, gt, det, x = case
    # run the script's main in a fresh interpreter, then list what it imported
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['eval_ava.py', '-l', {lm!r}, '-g', {gt!r}, '-d', {det!r}, '-x', {x!r}, "
        f"'--json', {str(tmp / 'j.json')!r}]\n"
        "try:\n"
        f"    runpy.run_path({os.path.join(ROOT, 'tools', 'eval_ava.py')!r}, run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print('IMPORTED', sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "frame-mAP@0.5IOU: 0.500000" in out.stdout
    imported = out.stdout.split("IMPORTED", 1)[1]
    for heavy in ("torch", "detectron2", "matplotlib", "fvcore"):
        assert f"'{heavy}'" not in imported, heavy
    if HAVE_PYARROW:  # plain files take the pyarrow reader: no pandas either
        assert "'pandas'" not in imported and "'pyarrow'" in imported


def test_cli_plots_import_matplotlib_but_neither_torch_nor_detectron2(case):
    tmp, lm, gt, det, x = case
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['eval_ava.py', '-l', {lm!r}, '-g', {gt!r}, '-d', {det!r}, "
        f"'--plots', {str(tmp / 'p')!r}]\n"
        "try:\n"
        f"    runpy.run_path({os.path.join(ROOT, 'tools', 'eval_ava.py')!r}, run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print('IMPORTED', sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert os.path.exists(tmp / "p" / "ava_ap_per_class.png")
    imported = out.stdout.split("IMPORTED", 1)[1]
    assert "'matplotlib'" in imported
    for heavy in ("torch", "detectron2", "fvcore"):
        assert f"'{heavy}'" not in imported, heavy
