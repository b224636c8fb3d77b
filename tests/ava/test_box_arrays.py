"""The evaluator's CSV readers: pyarrow and pandas give the same columns, numbers equal to
Python's float(), and anything unusual goes to the validating pandas reader."""

import numpy as np
import pytest

from slowfast_det.ava import box_arrays
from slowfast_det.ava.box_arrays import HAVE_PYARROW, read_box_arrays
from slowfast_det.ava.io import AVAFormatError

needs_pyarrow = pytest.mark.skipif(not HAVE_PYARROW, reason="pyarrow is not installed")

# 15-17 significant digits, exponents, leading zeros: pandas' default parser is off by an
# ulp on some of these, Python's float() (the official reader) is exact.
NUMBERS = [
    "0.1",
    "0.30000000000000004",
    "0.12345678901234567",
    "1e-3",
    "9.999999999999999e-1",
    "0.7071067811865476",
    "2.2250738585072014e-308",
    "0.5",
    ".25",
    "1",
]


def plain_rows():
    rows = []
    for i, a in enumerate(NUMBERS):
        b = NUMBERS[(i + 3) % len(NUMBERS)]
        rows.append(f"vid_{i % 3},{'0' if i % 2 else ''}{902 + i},{a},{b},{a},{b},{i + 1},{b}")
    rows.append('"quoted,id",903,0,0,1,1,5,0.25')
    return rows


def columns(arr):
    return {
        "video_id": [arr.videos[c] for c in arr.video],
        **{
            c: getattr(arr, c).tolist()
            for c in ("timestamp", "x1", "y1", "x2", "y2", "action_id", "last")
        },
    }


@needs_pyarrow
@pytest.mark.parametrize("threads", [True, False])
def test_pyarrow_and_pandas_readers_agree_exactly(tmp_path, threads, monkeypatch):
    monkeypatch.setattr(box_arrays, "_use_threads", lambda: threads)
    path = tmp_path / "det.csv"
    path.write_text("\n".join(plain_rows() * 8000) + "\n")  # 6.5 MB: two 4 MiB blocks
    fast = read_box_arrays(str(path), "detections")
    slow = read_box_arrays(str(path), "detections", use_pyarrow=False)
    assert fast.reader == "pyarrow" and slow.reader == "pandas"
    assert columns(fast) == columns(slow)
    assert fast.line.tolist() == slow.line.tolist() == list(range(1, 8000 * (len(NUMBERS) + 1) + 1))
    assert (
        fast.x1.tolist() == ([float(v) for v in NUMBERS] + [0.0]) * 8000
    )  # bit-identical to float()
    assert fast.timestamp.tolist()[:2] == [902, 903] and fast.videos[-1] == "quoted,id"


@pytest.mark.parametrize(
    "extra",
    [
        "v,0905",  # a 2-column row
        "v,905.0,0,0,1,1,5,0.5",  # a whole second written as a float
        "v,905,0,0,1,1,5.0,0.5",  # an integer action id written as a float
    ],
)
def test_unusual_but_valid_files_are_read_by_pandas(tmp_path, extra):
    path = tmp_path / "det.csv"
    path.write_text("\n".join(plain_rows()[:3] + [extra] + plain_rows()[3:5]) + "\n")
    arr = read_box_arrays(str(path), "detections")
    assert arr.reader == "pandas"
    if extra == "v,0905":
        assert arr.keys_without_boxes == {("v", 905)} and len(arr) == 5
        assert arr.x1.tolist() == [float(v) for v in NUMBERS[:5]] and arr.line.tolist() == [
            1,
            2,
            3,
            5,
            6,
        ]
    else:
        assert len(arr) == 6 and arr.timestamp[3] == 905 and arr.action_id[3] == 5


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "det.csv"
    path.write_text("\n".join(plain_rows()[:3] + [""] + plain_rows()[3:5]) + "\n\n")
    arr = read_box_arrays(str(path), "detections")
    assert len(arr) == 5 and arr.x1.tolist() == [float(v) for v in NUMBERS[:5]]
    assert (np.diff(arr.line) > 0).all()  # file order (the line only orders tied scores)


@pytest.mark.parametrize(
    "bad,match",
    [
        ("../v,902,0,0,1,1,1,0.5", r"det.csv:2: field 'video_id' unsafe"),
        ("v,902,0,0,1,1,1,nan", r"det.csv:2: field 'score' not a finite number"),
        ("v,902,0,0,1,zz,1,0.5", r"det.csv:2: field 'y2' not a number: 'zz'"),
        ("v,902,0,0,1,1,1,0.5,9", r"det.csv:2: expected 2 or 8"),
    ],
)
def test_errors_come_from_the_validating_reader(tmp_path, bad, match):
    path = tmp_path / "det.csv"
    path.write_text("v,902,0,0,1,1,1,0.5\n" + bad + "\n")
    with pytest.raises(AVAFormatError, match=match):
        read_box_arrays(str(path), "detections")


def test_empty_file(tmp_path):
    path = tmp_path / "det.csv"
    path.write_text("")
    arr = read_box_arrays(str(path), "detections")
    assert len(arr) == 0 and arr.videos == [] and arr.x1.dtype == np.float64
