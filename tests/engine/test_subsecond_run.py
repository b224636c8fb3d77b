"""Sub-second keyframes end to end: a tiny AVA-format set annotated every 0.5 s trains with
tools/train_ava.py, is evaluated at the end of training, run through tools/infer_ava.py and
scored by tools/eval_ava.py, with the half-second keys kept apart from the whole ones."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tiny_ava_run import (
    ROOT,
    child_env,
    make_tiny_ava,
    run_train,
    tiny_cfg,
    write_annotation,
    write_cfg,
)

from slowfast_det.ava.io import read_box_csv

# every 0.5 s from 900.5 to 902.5 (frames 15..75 of the 100-frame videos)
STAMPS = ["0900.5", "0901", "0901.5", "0902", "0902.5"]


def _gt():
    rows = []
    for v, vid in enumerate(("vidA", "vidB")):
        for i, ts in enumerate(STAMPS):
            x = 0.1 + 0.08 * i
            rows.append(f"{vid},{ts},{x:.2f},0.2,{x + 0.35:.2f},0.9,{1 + (i + v) % 5},0")
    return "".join(r + "\n" for r in rows)


def _pred(gt):
    out = []
    for line in gt.splitlines():
        vid, ts, x1, y1, x2, y2, _, _ = line.split(",")
        out.append(f"{vid},{ts},{x1},{y1},{x2},{y2},,0.9")
    return "".join(r + "\n" for r in out)


def test_half_second_keyframes_train_infer_and_evaluate(tmp_path):
    datasets = tmp_path / "datasets"
    root = Path(make_tiny_ava(datasets / "ava"))
    gt = _gt()
    for name, text in (
        ("ava_train_v2.2.csv", gt),
        ("ava_val_v2.2.csv", gt),
        ("ava_val_predicted_boxes.csv", _pred(gt)),
        ("ava_val_excluded_timestamps_v2.2.csv", "vidB,0902.500000\n"),
    ):
        write_annotation(root, name, text)
    cfg = tiny_cfg(tmp_path / "run", **{"SOLVER.MAX_ITER": 3, "SOLVER.CHECKPOINT_PERIOD": 3})
    cfg_file = write_cfg(cfg, tmp_path / "cfg.yaml")
    out = run_train(cfg_file, datasets)
    assert "train data summary" in out.stdout
    metrics = json.loads((tmp_path / "run" / "final_metrics.json").read_text())
    det_csv = tmp_path / "run" / "inference" / "ava_v2.2_val" / "ava_detections.csv"
    keys = read_box_csv(str(det_csv), kind="detections").keys
    # 10 keyframes, one excluded; half seconds are their own keys, written as AVA writes them
    assert sorted(keys) == sorted(
        {(v, float(t)) for v in ("vidA", "vidB") for t in STAMPS} - {("vidB", 902.5)}
    )
    text = det_csv.read_text()
    assert "vidA,0900.5," in text and "vidA,0901," in text and "vidA,0901.0" not in text

    # infer_ava on the same keyframes with the trained weights, then the official-metric CLI
    results = tmp_path / "infer.csv"
    infer = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "tools", "infer_ava.py"),
            "--config-file",
            cfg_file,
            "--frames-dir",
            str(root / "frames"),
            "--frame-list",
            str(root / "frame_lists" / "val.csv"),
            "--boxes",
            str(root / "annotations" / "ava_val_predicted_boxes.csv"),
            "--exclusions",
            str(root / "annotations" / "ava_val_excluded_timestamps_v2.2.csv"),
            "--output",
            str(results),
            "--no-progress",
            "MODEL.WEIGHTS",
            str(tmp_path / "run" / "model_final.pth"),
        ],
        env=child_env(datasets),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert infer.returncode == 0, infer.stdout[-3000:] + infer.stderr[-3000:]
    assert sorted(results.read_text().splitlines()) == sorted(
        text.splitlines()
    )  # the evaluator's own CSV
    ann = root / "annotations"
    cli = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "tools", "eval_ava.py"),
            "-l",
            str(ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"),
            "-g",
            str(ann / "ava_val_v2.2.csv"),
            "-x",
            str(ann / "ava_val_excluded_timestamps_v2.2.csv"),
            "-d",
            str(results),
            "--json",
            str(tmp_path / "eval.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stdout[-3000:] + cli.stderr[-3000:]
    assert json.loads((tmp_path / "eval.json").read_text())["mAP"] == metrics["frame-mAP@0.5IOU"]
