"""Readers for the AVA file formats (see ``datasets/README.md``).

All readers validate as they read: a malformed row raises :class:`AVAFormatError` whose
message names the file, the 1-based line and the field. They are vectorised with pandas
so that an AVA-val-scale detections file (millions of rows) reads in seconds.

Box CSV rows (no header): ``video_id, timestamp, x1, y1, x2, y2, action_id, last``, where
``last`` is the person id (ground truth) or the score (predictions). A row with only
``video_id, timestamp`` marks a keyframe without boxes.
"""
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "AVAFormatError",
    "BOX_COLUMNS",
    "BoxTable",
    "read_label_map",
    "read_box_csv",
    "read_exclusions",
    "read_frame_list",
    "check_video_id",
]

BOX_COLUMNS = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "last"]
_COORDS = ["x1", "y1", "x2", "y2"]


class AVAFormatError(ValueError):
    """A malformed AVA input file; the message names the file, line and field."""

    def __init__(self, path, line, field_name, message):
        self.path, self.line, self.field = path, line, field_name
        where = f"{path}:{line}" if line is not None else str(path)
        what = f" field '{field_name}'" if field_name else ""
        super().__init__(f"{where}:{what} {message}")


def check_video_id(video_id, path=None, line=None):
    """Reject video ids that could escape the frames folder (``..``, absolute, separators)."""
    if (
        not video_id
        or video_id in (".", "..")
        or os.path.isabs(video_id)
        or "/" in video_id
        or "\\" in video_id
        or "\x00" in video_id
    ):
        raise AVAFormatError(path, line, "video_id", f"unsafe or empty video id {video_id!r}")
    return video_id


def read_label_map(path):
    """Read an AVA ``.pbtxt`` label map.

    Accepts ``id:`` and ``label_id:`` keys. Returns ``(names, ids)``: a dict id -> name and
    the sorted list of ids (the evaluated classes).
    """
    names = {}
    name, item_line = None, None
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("item"):
                name, item_line = None, lineno
                continue
            if line == "}":
                continue
            m = re.match(r'^name:\s*"(.*)"\s*$', line)
            if m:
                name = m.group(1)
                continue
            m = re.match(r"^(label_id|id):\s*(\S+)\s*$", line)
            if m:
                try:
                    cid = int(m.group(2))
                except ValueError:
                    raise AVAFormatError(path, lineno, m.group(1), f"not an integer: {m.group(2)!r}")
                if name is None:
                    raise AVAFormatError(path, lineno, "name", f"item starting at line {item_line} has an id but no name before it")
                if cid in names:
                    raise AVAFormatError(path, lineno, m.group(1), f"duplicate class id {cid}")
                names[cid] = name
                continue
            if re.match(r"^\w+:", line):  # other keys of an item (e.g. label_type) are ignored
                continue
            raise AVAFormatError(path, lineno, None, f"cannot parse {line!r}")
    if not names:
        raise AVAFormatError(path, None, None, "no classes found in the label map")
    return names, sorted(names)


@dataclass
class BoxTable:
    """The content of a box CSV.

    Attributes:
        rows: DataFrame with columns ``BOX_COLUMNS`` plus ``line`` (1-based line in the file):
            video_id str, timestamp int64, x1..y2 float64 (normalised), action_id int64
            (-1 for "no label"), last float64 (person id or score; NaN if absent).
        keys_without_boxes: set of (video_id, timestamp) given by 2-column rows.
    """

    rows: pd.DataFrame
    keys_without_boxes: set = field(default_factory=set)

    @property
    def keys(self):
        """All (video_id, timestamp) keys mentioned by the file."""
        return set(zip(self.rows["video_id"], self.rows["timestamp"])) | self.keys_without_boxes


def _first_bad(mask):
    idx = np.flatnonzero(np.asarray(mask))
    return int(idx[0]) if len(idx) else None


def _numeric(df, col, path, line_of, allow_empty):
    """Convert column ``col`` to float64, raising on the first non-numeric value."""
    raw = df[col]
    vals = pd.to_numeric(raw, errors="coerce")
    bad = vals.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    i = _first_bad(bad)
    if i is not None:
        raise AVAFormatError(path, line_of(i), col, f"not a number: {str(raw.iloc[i])!r}")
    if not allow_empty:
        i = _first_bad(vals.isna())
        if i is not None:
            raise AVAFormatError(path, line_of(i), col, "missing or empty")
    return vals.astype("float64")


def read_box_csv(path, kind="groundtruth"):
    """Read an AVA box CSV (ground truth, predicted person boxes, or detections).

    Args:
        path: the CSV file.
        kind: "groundtruth" (action_id required, last = person id), "proposals" (predicted
            person boxes: action_id may be empty or -1, last = detector score), or
            "detections" (action_id and score required).

    Returns:
        BoxTable. Coordinates are returned as written; callers decide about clipping
        (data loading clips and counts, the evaluator keeps the official behaviour).

    Raises:
        AVAFormatError for a wrong column count, a non-numeric or non-integer field, an
        unsafe video id, or a missing required field.
    """
    if kind not in ("groundtruth", "proposals", "detections"):
        raise ValueError(f"unknown box CSV kind {kind!r}")
    try:
        df = pd.read_csv(
            path,
            header=None,
            names=BOX_COLUMNS,
            index_col=False,
            dtype={"video_id": str},
            skip_blank_lines=False,
            keep_default_na=False,
            na_values=[""],
            engine="c",
        )
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=BOX_COLUMNS)
    except pd.errors.ParserError as e:
        m = re.search(r"line (\d+), saw (\d+)", str(e))
        line = int(m.group(1)) if m else None
        raise AVAFormatError(path, line, None, f"expected 2 or 8 comma-separated fields ({e})") from None

    lines = np.arange(1, len(df) + 1)
    blank = df.isna().all(axis=1).to_numpy()
    df = df[~blank].reset_index(drop=True)
    lines = lines[~blank]

    def line_of(i):
        return int(lines[i])

    if len(df) == 0:
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})
        return BoxTable(empty, set())

    vid = df["video_id"]
    i = _first_bad(vid.isna())
    if i is not None:
        raise AVAFormatError(path, line_of(i), "video_id", "missing")
    unique_ids = vid.unique()
    for v in unique_ids:
        if v in (".", "..") or "/" in v or "\\" in v or "\x00" in v or not v.strip():
            check_video_id(v, path, line_of(_first_bad(vid == v)))

    ts = _numeric(df, "timestamp", path, line_of, allow_empty=False)
    i = _first_bad(ts != np.round(ts))
    if i is not None:
        raise AVAFormatError(path, line_of(i), "timestamp", f"not a whole second: {str(df['timestamp'].iloc[i])!r}")

    coords = {c: _numeric(df, c, path, line_of, allow_empty=True) for c in _COORDS}
    present = pd.concat([coords[c].notna() for c in _COORDS], axis=1)
    n_present = present.sum(axis=1)
    i = _first_bad((n_present > 0) & (n_present < 4))
    if i is not None:
        missing = [c for c in _COORDS if not present.iloc[i][c]][0]
        raise AVAFormatError(path, line_of(i), missing, "missing or empty (a box row needs x1, y1, x2, y2)")
    has_box = (n_present == 4).to_numpy()

    action = _numeric(df, "action_id", path, line_of, allow_empty=True)
    last = _numeric(df, "last", path, line_of, allow_empty=True)
    # 2-column rows must not carry an action or score.
    i = _first_bad(~has_box & (action.notna() | last.notna()).to_numpy())
    if i is not None:
        raise AVAFormatError(path, line_of(i), "x1", "missing: a row with an action or score needs a box")
    if kind in ("groundtruth", "detections"):
        i = _first_bad(has_box & action.isna().to_numpy())
        if i is not None:
            raise AVAFormatError(path, line_of(i), "action_id", "missing or empty")
    i = _first_bad(action.notna() & (action != np.round(action)))
    if i is not None:
        raise AVAFormatError(path, line_of(i), "action_id", f"not an integer: {str(df['action_id'].iloc[i])!r}")
    if kind == "detections":
        i = _first_bad(has_box & last.isna().to_numpy())
        if i is not None:
            raise AVAFormatError(path, line_of(i), "score", "missing or empty")

    keys_without = set(zip(vid[~has_box], ts[~has_box].astype("int64")))
    out = pd.DataFrame(
        {
            "video_id": vid[has_box].to_numpy(),
            "timestamp": ts[has_box].astype("int64").to_numpy(),
            **{c: coords[c][has_box].to_numpy() for c in _COORDS},
            "action_id": action[has_box].fillna(-1).astype("int64").to_numpy(),
            "last": last[has_box].to_numpy(),
            "line": lines[has_box],
        }
    )
    return BoxTable(out, keys_without)


_DTYPES = {
    "video_id": object,
    "timestamp": "int64",
    "x1": "float64",
    "y1": "float64",
    "x2": "float64",
    "y2": "float64",
    "action_id": "int64",
    "last": "float64",
    "line": "int64",
}


def read_exclusions(path):
    """Read an excluded-timestamps CSV (``video_id,timestamp`` rows) into a set of keys."""
    if path is None or not os.path.exists(path):
        raise FileNotFoundError(f"excluded-timestamps file not found: {path}")
    try:
        df = pd.read_csv(path, header=None, dtype=str, skip_blank_lines=False, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return set()
    except pd.errors.ParserError as e:
        raise AVAFormatError(path, None, None, f"expected 2 comma-separated fields ({e})") from None
    keys = set()
    for i, row in enumerate(df.itertuples(index=False), 1):
        vals = [v for v in row if v != ""]
        if not vals:
            continue
        if len(vals) != 2:
            raise AVAFormatError(path, i, None, f"expected 2 fields (video_id,timestamp), got {len(vals)}")
        video_id, t = vals[0].strip(), vals[1].strip()
        check_video_id(video_id, path, i)
        try:
            tf = float(t)
        except ValueError:
            raise AVAFormatError(path, i, "timestamp", f"not a number: {t!r}")
        if tf != int(tf):
            raise AVAFormatError(path, i, "timestamp", f"not a whole second: {t!r}")
        keys.add((video_id, int(tf)))
    return keys


FRAME_LIST_COLUMNS = ["original_video_id", "video_idx", "frame_id", "path", "labels"]


def read_frame_list(path):
    """Read a PySlowFast frame list (header line, then space-separated rows).

    Returns a DataFrame with columns ``video_id`` (the original video id, str),
    ``frame_id`` (int), ``path`` (relative to the frames folder) and ``line``.
    Rows keep the file order; frame order within a video is by ``frame_id``.
    """
    try:
        df = pd.read_csv(
            path, sep=r"\s+", header=None, skiprows=1, dtype=str, keep_default_na=False, engine="python"
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame({"video_id": [], "frame_id": [], "path": [], "line": []})
    except pd.errors.ParserError as e:
        m = re.search(r"line (\d+)", str(e))
        line = int(m.group(1)) + 1 if m else None
        raise AVAFormatError(path, line, None, f"expected 4 or 5 space-separated fields ({e})") from None
    if df.shape[1] < 4:
        raise AVAFormatError(path, 2, None, f"expected 4 or 5 space-separated fields, got {df.shape[1]}")
    lines = np.arange(2, len(df) + 2)
    frame_id = pd.to_numeric(df[2], errors="coerce")
    i = _first_bad(frame_id.isna())
    if i is not None:
        raise AVAFormatError(path, int(lines[i]), "frame_id", f"not an integer: {df[2].iloc[i]!r}")
    paths = df[3]
    i = _first_bad(paths == "")
    if i is not None:
        raise AVAFormatError(path, int(lines[i]), "path", "missing")
    for v in df[0].unique():
        check_video_id(v, path, int(lines[_first_bad(df[0] == v)]))
    bad_path = paths.map(lambda p: os.path.isabs(p) or ".." in p.replace("\\", "/").split("/"))
    i = _first_bad(bad_path)
    if i is not None:
        raise AVAFormatError(path, int(lines[i]), "path", f"path escapes the frames folder: {paths.iloc[i]!r}")
    return pd.DataFrame(
        {"video_id": df[0].to_numpy(), "frame_id": frame_id.astype("int64").to_numpy(), "path": paths.to_numpy(), "line": lines}
    )
