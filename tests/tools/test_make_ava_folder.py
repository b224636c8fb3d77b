"""tools/make_ava_folder.py: its printed next steps run offline as printed (issue 26)."""

import os
import shlex

from script_modules import load_tool

from slowfast_det.ava.io import read_box_csv
from slowfast_det.data.datasets import unregister_ava_dataset

LABEL_MAP = (
    'item { name: "sit" id: 11 }\nitem { name: "stand" id: 12 }\nitem { name: "wave" id: 91 }\n'
)
CSV = """\
a,0002,0.1,0.1,0.5,0.9,11,0
a,0002,0.1,0.1,0.5,0.9,91,0
a,0003,0.2,0.1,0.6,0.9,12,0
b,0002,0.1,0.2,0.4,0.8,11,0
b,0004
c,0001.5,0.3,0.1,0.7,0.9,12,1
"""


def test_next_steps_are_runnable_offline(tmp_path, capsys):
    movies = tmp_path / "movies"
    movies.mkdir()
    for vid in "abc":
        (movies / f"{vid}.mp4").write_bytes(b"not decoded by these steps")
    (tmp_path / "gt.csv").write_text(CSV)
    (tmp_path / "labels.pbtxt").write_text(LABEL_MAP)
    root = tmp_path / "my_ava"
    tool = load_tool("make_ava_folder")
    args = ["--videos", movies, "--annotations", tmp_path / "gt.csv", "--label-map"]
    args += [tmp_path / "labels.pbtxt", "--output", root, "--val-videos", "b"]
    assert tool.main(list(map(str, args))) == 0
    out = capsys.readouterr().out
    steps = out[out.index("next (each command runs offline as printed):") :].splitlines()[1:]
    commands = [shlex.split(line) for line in steps if not line.lstrip().startswith("#")]
    comments = " ".join(line for line in steps if line.lstrip().startswith("#"))
    assert [c[1] for c in commands] == [
        "tools/check_ava_dataset.py",
        "tools/detect_persons.py",
        "tools/train_ava.py",
    ]
    assert all(c[0] == ".venv/bin/python" and "<" not in " ".join(c) for c in commands)
    # the detector alternative and the Kinetics weights are named, not required
    assert "--detector-config CONFIG.yaml --weights MODEL.pth" in comments
    assert "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml" in comments
    assert "MODEL.WEIGHTS converted.pth" in comments and "datasets/prepare_ava.py" in comments

    # the proposals step, as printed: oracle proposals, no detector, nothing downloaded
    proposals = commands[1]
    assert "--boxes-from-groundtruth" in proposals
    stats = load_tool("detect_persons").main(proposals[2:])
    boxes = read_box_csv(str(root / "annotations" / "ava_val_predicted_boxes.csv"), "proposals")
    assert stats["oracle"] and boxes.keys == {("b", 2), ("b", 4)}
    assert boxes.rows["last"].tolist() == [1.0]
    # the training step, as printed: its arguments parse and its checks pass (NUM_CLASSES 91)
    train = load_tool("train_ava")
    try:
        train.check_before_building(train.get_parser().parse_args(commands[2][2:]))
    finally:
        for split in ("train", "val"):
            for name in (f"my_{split}", f"my_{split}_video"):
                unregister_ava_dataset(name)
    assert "MODEL.ROI_HEADS.NUM_CLASSES 91" in " ".join(commands[2])
    assert os.path.islink(root / "videos" / "a.mp4")
