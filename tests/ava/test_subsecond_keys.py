"""Sub-second keyframes in the evaluator: keys at microsecond precision as the 2020 official
script (``0902``, ``902.0`` and ``902.000000`` are one key, ``902.5`` is its own), in the
fast metric and the official-structure reference, with exclusions and written detections."""

import pytest

from benchmarks.reference import reference_evaluate_files
from slowfast_det.ava.evaluate import evaluate_files
from slowfast_det.ava.files import write_detections_csv

LABEL_MAP = 'item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b"\n  id: 2\n}\n'
# Person P at 902 and at 902.5 (moved), class 1 at both, class 2 at 902.5 only; 903.25 excluded.
GT = """\
v,0902,0.1,0.1,0.4,0.8,1,0
v,902.5,0.5,0.1,0.9,0.8,1,0
v,902.5,0.5,0.1,0.9,0.8,2,0
v,903.25,0.1,0.1,0.4,0.8,2,1
"""
# 902.000000 and 0902 are the key 902; 902.500000 is 902.5. At 902 the box of 902.5 is a FP
# for class 1 (IoU 0 with 902's box), at 902.5 the right box is a TP for both classes.
DET = """\
v,902.000000,0.1,0.1,0.4,0.8,1,0.9
v,0902,0.5,0.1,0.9,0.8,1,0.95
v,902.500000,0.5,0.1,0.9,0.8,1,0.8
v,902.5,0.5,0.1,0.9,0.8,2,0.7
v,903.25,0.1,0.1,0.4,0.8,2,0.99
"""


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, text in (
        ("lm.pbtxt", LABEL_MAP),
        ("gt.csv", GT),
        ("det.csv", DET),
        ("ex.csv", "v,903.250000\n"),
    ):
        (tmp_path / name).write_text(text)
        paths[name] = str(tmp_path / name)
    return paths


def test_sub_second_keys_hand_computed(files):
    result, _ = evaluate_files(
        files["lm.pbtxt"], files["gt.csv"], files["det.csv"], files["ex.csv"]
    )
    # class 1: scores 0.95 FP (902, wrong box), 0.9 TP (902), 0.8 TP (902.5) over 2 GT:
    # precision 0, 1/2, 2/3 at recall 0, 1/2, 1 -> envelope 2/3 -> AP 2/3.
    # class 2: 903.25 excluded (GT and detection); 0.7 TP at 902.5 over 1 GT -> AP 1.
    assert result.per_class[1] == pytest.approx(2 / 3)
    assert result.per_class[2] == pytest.approx(1.0)
    assert result.mAP == pytest.approx((2 / 3 + 1) / 2)
    ref_map = reference_evaluate_files(
        files["lm.pbtxt"], files["gt.csv"], files["det.csv"], files["ex.csv"]
    )
    assert ref_map[0] == pytest.approx(result.mAP, abs=1e-12)


def test_whole_seconds_stay_whole_in_written_detections(tmp_path):
    path = tmp_path / "d.csv"
    write_detections_csv(
        [
            ("v", 902.5, [[0.1, 0.1, 0.4, 0.8]], [[0.5]]),
            ("v", 902, [[0.1, 0.1, 0.4, 0.8]], [[0.25]]),
        ],
        [1],
        str(path),
    )
    assert path.read_text().splitlines() == [
        "v,0902,0.1,0.1,0.4,0.8,1,0.25",
        "v,0902.5,0.1,0.1,0.4,0.8,1,0.5",
    ]
