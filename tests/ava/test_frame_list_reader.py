"""read_frame_list (C parser): line numbers, 4- and 5-field rows, blank lines, bad values."""

import pytest

from slowfast_det.ava.io import AVAFormatError, read_frame_list

HEADER = "original_vido_id video_id frame_id path labels\n"


def _write(tmp_path, text):
    p = tmp_path / "fl.csv"
    p.write_text(HEADER + text)
    return str(p)


def test_rows_lines_and_blank_lines(tmp_path):
    p = _write(
        tmp_path, 'v 0 0 v/v_000001.jpg ""\n\nv 0 1 v/v_000002.jpg\nw 1 0 w/w_000001.jpg -1\n'
    )
    df = read_frame_list(p)
    assert df["video_id"].tolist() == ["v", "v", "w"]
    assert df["frame_id"].tolist() == [0, 1, 0] and str(df["frame_id"].dtype) == "int64"
    assert df["path"].tolist() == ["v/v_000001.jpg", "v/v_000002.jpg", "w/w_000001.jpg"]
    assert df["line"].tolist() == [2, 4, 5]


@pytest.mark.parametrize(
    "text,match",
    [
        ('v 0 0 v/a.jpg ""\nv 0 1 v/b.jpg "" extra\n', r"fl.csv:3: expected 4 or 5"),
        (
            'v 0 0 v/a.jpg ""\n\nv 0 x v/b.jpg ""\n',
            r"fl.csv:4: field 'frame_id' not an integer: 'x'",
        ),
        ('v 0 1.5 v/a.jpg ""\n', r"fl.csv:2: field 'frame_id' not an integer: '1.5'"),
        ("v 0 3\n", r"fl.csv:2: field 'path' missing"),
        ('v 0 0 v/a.jpg ""\nv 0 1 /etc/passwd ""\n', r"fl.csv:3: field 'path' path escapes"),
        ('v 0 0 v/../../x.jpg ""\n', r"fl.csv:2: field 'path' path escapes"),
        ('v 0 0 v/a.jpg ""\n.. 0 1 v/b.jpg ""\n', r"fl.csv:3: field 'video_id' unsafe"),
    ],
)
def test_errors_name_line_and_field(tmp_path, text, match):
    with pytest.raises(AVAFormatError, match=match):
        read_frame_list(_write(tmp_path, text))


def test_dots_inside_names_are_fine(tmp_path):
    df = read_frame_list(_write(tmp_path, 'v.1 0 0 v.1/v..1_000001.jpg ""\n'))
    assert df["path"].tolist() == ["v.1/v..1_000001.jpg"]
