"""The PySlowFast frame-list reader (``frame_lists/<split>.csv``).

A header line, then space-separated rows ``original_video_id video_idx frame_id path
labels``; the bytes are read as every AVA reader reads them (:mod:`.file_text`). Re-exported
by :mod:`slowfast_det.ava.io` with the other readers.
"""

import logging
import os
import re

import numpy as np

from .errors import AVAFormatError, check_video_id
from .file_text import not_text_error, open_binary, text_source

__all__ = ["FRAME_LIST_COLUMNS", "FRAME_LIST_HEADER", "frame_list_has_header", "read_frame_list"]

logger = logging.getLogger(__name__)


def _first_true(mask):
    idx = np.flatnonzero(np.asarray(mask))
    return int(idx[0]) if len(idx) else None


FRAME_LIST_COLUMNS = ["original_video_id", "video_idx", "frame_id", "path", "labels"]
#: The header line of PySlowFast frame lists (its spelling of "video").
FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"
_SEPARATOR_HINT = (
    f"frame lists are space-separated: the header {FRAME_LIST_HEADER!r}, "
    "then rows like 'vid 0 0 vid/vid_000001.jpg \"\"'"
)


def _first_line(path):
    if hasattr(path, "readline"):  # a text buffer (the checker re-reads repaired files)
        pos = path.tell()
        line = path.readline()
        path.seek(pos)
    else:
        with open_binary(path) as f:  # gzip by name, UTF-16 by its mark, as the reader
            head = f.read(1 << 16)
        line = head.decode(
            "utf-16" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8", "replace"
        )
        line = line.split("\n", 1)[0]
    return line.lstrip("\ufeff").strip()


def _frame_list_field(prefix):
    """The frame-list field in which text ``prefix`` of a line ends."""
    n = len(prefix.split())
    at = n if not prefix or prefix[-1].isspace() else n - 1
    return FRAME_LIST_COLUMNS[min(max(at, 0), 4)]


def _looks_like_frame_row(fields):
    return len(fields) in (4, 5) and re.fullmatch(r"[+-]?\d+", fields[2]) is not None


def frame_list_has_header(path):
    """Whether line 1 of a frame list is its header (not a frame row).

    Line 1 is a frame row when it has 4 or 5 space-separated fields whose third (frame_id)
    is an integer; anything else on line 1 is taken as the header, as PySlowFast does.

    Raises:
        AVAFormatError (``whole_file``) if line 1 is a frame row separated by commas or
        semicolons instead of spaces.
    """
    first = _first_line(path)
    if _looks_like_frame_row(first.split()):
        return False
    for sep in ",;":
        if len(first.split()) < 4 and _looks_like_frame_row([f.strip() for f in first.split(sep)]):
            raise AVAFormatError(
                path, 1, None, f"fields separated by {sep!r}: {_SEPARATOR_HINT}", whole_file=True
            )
    return True


def read_frame_list(path, labels=False):
    """Read a PySlowFast frame list (header line, then space-separated rows).

    A file without the header (line 1 is already a frame, see
    :func:`frame_list_has_header`) is read from line 1, with a warning. Rows separated by
    commas or semicolons are an error that says so.

    Returns a DataFrame with columns ``video_id`` (the original video id, str),
    ``frame_id`` (int), ``path`` (relative to the frames folder) and ``line``; with
    ``labels`` also ``labels``, the row's last field without its quotes (str: ``"3,17"``, or
    ``""`` for none; Charades' per-frame labels).
    Rows keep the file order; frame order within a video is by ``frame_id``.
    """
    import pandas as pd  # not at the top: eval_ava's pyarrow path uses this module without pandas

    header = frame_list_has_header(path)
    if not header:
        logger.warning(
            "%s: line 1 is a frame, not the header %r: read as a frame "
            "(PySlowFast would skip it as the header)",
            path,
            FRAME_LIST_HEADER,
        )
    source = text_source(path, _frame_list_field)
    try:
        # C parser (the python one takes minutes on AVA's 6M-row lists); blank lines are kept
        # as empty rows so that row i is line i + first, then dropped.
        df = pd.read_csv(
            source,
            sep=r"\s+",
            header=None,
            names=range(5),
            skiprows=int(header),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        empty = {"video_id": [], "frame_id": [], "path": [], "line": []}
        return pd.DataFrame(dict(empty, labels=[]) if labels else empty)
    except UnicodeDecodeError:
        raise not_text_error(path) from None
    except pd.errors.ParserError as e:
        m = re.search(r"line (\d+)", str(e))
        line = int(m.group(1)) if m else None
        raise AVAFormatError(
            path, line, None, f"expected 4 or 5 space-separated fields ({e})"
        ) from None
    lines = np.arange(1 + header, len(df) + 1 + header)
    blank = (df[0] == "").to_numpy() & (df[3] == "").to_numpy()
    if blank.any():
        df = df[~blank].reset_index(drop=True)
        lines = lines[~blank]
    one_field = np.flatnonzero(((df[1] == "") & df[0].str.contains("[,;]")).to_numpy())
    if len(one_field):
        i = one_field[0]
        sep = "," if "," in df[0].iloc[i] else ";"
        raise AVAFormatError(
            path,
            int(lines[i]),
            None,
            f"fields separated by {sep!r}: {_SEPARATOR_HINT}",
            whole_file=True,
        )
    frame_id = pd.to_numeric(df[2], errors="coerce").to_numpy(dtype="float64")
    i = _first_true(np.isnan(frame_id) | (frame_id != np.round(frame_id)))
    if i is not None:
        raise AVAFormatError(path, int(lines[i]), "frame_id", f"not an integer: {df[2].iloc[i]!r}")
    paths = df[3]
    i = _first_true((paths == "").to_numpy())
    if i is not None:
        raise AVAFormatError(path, int(lines[i]), "path", "missing")
    vids = df[0].to_numpy()
    first = pd.Series(vids).drop_duplicates()  # first row of each video
    for j, v in first.items():
        check_video_id(v, path, int(lines[j]))
    suspicious = np.flatnonzero(
        (paths.str.startswith("/") | paths.str.contains("..", regex=False)).to_numpy()
    )
    bad_path = [
        j
        for j in suspicious
        if os.path.isabs(paths.iloc[j]) or ".." in paths.iloc[j].replace("\\", "/").split("/")
    ]
    if bad_path:
        i = bad_path[0]
        raise AVAFormatError(
            path, int(lines[i]), "path", f"path escapes the frames folder: {paths.iloc[i]!r}"
        )
    out = pd.DataFrame(
        {
            "video_id": vids,
            "frame_id": frame_id.astype("int64"),
            "path": paths.to_numpy(),
            "line": lines,
        }
    )
    if labels:
        out["labels"] = df[4].str.replace('"', "", regex=False).to_numpy()
    return out
