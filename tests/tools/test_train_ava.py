"""tools/train_ava.py: what it checks before building a model (issue 26, own movies)."""

import os
import subprocess
import sys

import pytest
from own_movies import make_own_frames_root
from script_modules import REPO, load_tool

from slowfast_det.data.datasets import unregister_ava_dataset

CONFIG = os.path.join(REPO, "configs", "synthetic", "SLOWFAST_synthetic.yaml")


@pytest.fixture
def own_root(tmp_path):
    """Frames of two short own movies from second 0, label map ids 11, 12, 91."""
    yield make_own_frames_root(tmp_path / "own")
    for split in ("train", "val"):
        for name in (f"_tt_{split}", f"_tt_{split}_video"):
            unregister_ava_dataset(name)


def argv(root, num_classes, register="_tt"):
    return [
        "--config-file",
        CONFIG,
        "--register-ava",
        f"{register}={root}",
        "DATASETS.TRAIN",
        "('_tt_train',)",
        "DATASETS.TEST",
        "('_tt_val',)",
        "MODEL.ROI_HEADS.NUM_CLASSES",
        str(num_classes),
    ]


def test_num_classes_below_the_label_map_stops_before_the_model_with_the_message_alone(own_root):
    """NUM_CLASSES 3 with a label map whose largest id is 91: exit status 2, one line saying what
    to set, no traceback, no model built (Detectron2 logs "Model:" when it builds one)."""
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "train_ava.py"), *argv(own_root, 3)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=REPO),
        timeout=300,
    )
    label_map = os.path.join(own_root, "annotations", "my_actions.pbtxt")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"train_ava: {label_map}: the label map of dataset '_tt_train' has action id 91, but "
        "MODEL.ROI_HEADS.NUM_CLASSES is 3 (the head predicts ids 1..NUM_CLASSES): set "
        "MODEL.ROI_HEADS.NUM_CLASSES 91"
    )
    log = proc.stdout + proc.stderr
    assert "Traceback" not in log and "Model:" not in log


def test_checks_in_process(own_root, capsys):
    tool = load_tool("train_ava")
    parser = tool.get_parser()
    tool.check_before_building(parser.parse_args(argv(own_root, 91)))  # passes: no exit
    # a malformed origin file: its file and field, the same way
    with open(os.path.join(own_root, "frame_lists", "frames.json"), "w") as f:
        f.write('{"start_second": 0, "fps": 0}')
    with pytest.raises(SystemExit) as e:
        tool.check_before_building(parser.parse_args(argv(own_root, 91)))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("train_ava: ") and "frames.json: field 'fps' expected an integer >= 1" in err
    )
