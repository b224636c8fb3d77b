"""Checking and converting the rows of an AVA box CSV, one chunk at a time.

:func:`validate_box_rows` turns one chunk of parsed rows (a pandas DataFrame from
:func:`slowfast_det.ava.box_csv.iter_box_csv`) into a :class:`BoxTable`: typed columns,
2-column rows (keyframes without boxes) set apart, and the first malformed value raised as
:class:`AVAFormatError` naming the file, the 1-based line and the field.
"""

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import AVAFormatError, check_video_id, warn_spaced_id
from .file_text import open_binary, other_separator
from .timestamps import normalize_array

if TYPE_CHECKING:  # pandas is imported where it is used (eval_ava's pyarrow path needs none)
    import pandas as pd

__all__ = ["BOX_COLUMNS", "BoxTable", "validate_box_rows"]

BOX_COLUMNS = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "last"]
_COORDS = ["x1", "y1", "x2", "y2"]
_BOX_HINT = (
    "box CSVs are comma-separated: video_id,timestamp,x1,y1,x2,y2,action_id,score (or person_id)"
)


@dataclass
class BoxTable:
    """The content of a box CSV.

    Attributes:
        rows: DataFrame with columns ``BOX_COLUMNS`` plus ``line`` (1-based line in the file):
            video_id str, timestamp int64 seconds (float64 rounded to the microsecond when
            the file has sub-second keyframes, :mod:`.timestamps`), x1..y2 float64
            (normalised), action_id int64 (-1 for "no label"), last float64 (person id or
            score; NaN if absent).
        keys_without_boxes: set of (video_id, timestamp) given by 2-column rows.
    """

    rows: "pd.DataFrame"
    keys_without_boxes: set = field(default_factory=set)

    @property
    def keys(self):
        """All (video_id, timestamp) keys mentioned by the file."""
        return set(zip(self.rows["video_id"], self.rows["timestamp"])) | self.keys_without_boxes


def _first_bad(mask):
    idx = np.flatnonzero(np.asarray(mask))
    return int(idx[0]) if len(idx) else None


def _numeric(df, col, path, line_of, allow_empty, name=None, allow_inf=False):
    """Convert column ``col`` to a float64 array, raising on the first bad value.

    The C parser already gives a numeric column when every value is a number (or empty);
    only an object column (some value is not a plain number) needs the per-value checks.
    Non-finite values ("inf", "1e400", "nan") are rejected; with ``allow_inf`` only "nan".
    """
    import pandas as pd  # not at the top: eval_ava's pyarrow path uses this module without pandas

    raw = df[col]
    name = name or col
    if raw.dtype.kind in "fiub":
        vals = raw.to_numpy(dtype="float64")
        i = None if allow_inf else _first_bad(np.isinf(vals))
        if i is not None:
            raise AVAFormatError(
                path, line_of(i), name, f"not a finite number: {str(raw.iloc[i])!r}"
            )
    else:
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64")
        text = raw.astype(str).str.strip()
        bad = np.isnan(num) & raw.notna().to_numpy() & (text != "").to_numpy()
        if not allow_inf:
            bad |= np.isinf(num)
        else:  # "1e400": pandas gives no number, Python's float() (the official reader) inf
            for j in np.flatnonzero(bad):
                try:
                    v = float(text.iloc[j])
                except ValueError:
                    break
                if np.isinf(v):
                    num[j], bad[j] = v, False
        i = _first_bad(bad)
        if i is not None:
            try:
                finite = np.isfinite(float(text.iloc[i]))
            except ValueError:
                finite = True  # not a number at all
            what = "not a number" if finite else "not a finite number"
            raise AVAFormatError(path, line_of(i), name, f"{what}: {str(raw.iloc[i])!r}")
        vals = num
    if not allow_empty:
        i = _first_bad(np.isnan(vals))
        if i is not None:
            raise AVAFormatError(path, line_of(i), name, "missing or empty")
    return vals


def _lines_with_blank_last_field(source):
    """1-based numbers of the lines whose last comma-separated field is blank (the line ends
    with a comma, maybe spaces or ``""`` after it); read once, only when a row has no score."""
    if hasattr(source, "getvalue"):
        data = source.getvalue().encode("utf-8")
    else:
        with open_binary(source) as f:
            data = f.read()
    lines, count, pos = set(), 1, 0
    for m in re.finditer(rb',[ \t]*(?:""[ \t]*)?\r?$', data, re.M):
        count += data.count(b"\n", pos, m.start())
        pos = m.start()
        lines.add(count)
    return lines


def _box_separator_error(path, line, text):
    sep = other_separator(str(text))
    if sep is not None:
        message = f"fields separated by {sep}: {_BOX_HINT}"
        return AVAFormatError(path, line, None, message, whole_file=True)
    return None


def validate_box_rows(df, first_line, path, kind, official_scores=False, state=None):
    """Check and convert one chunk of a box CSV whose first row is line ``first_line``
    (``official_scores``: see :func:`~.box_csv.read_box_csv`; ``state``: per-file facts of
    :func:`~.box_csv.iter_box_csv`)."""
    import pandas as pd  # not at the top: eval_ava's pyarrow path uses this module without pandas

    if state is None:
        state = {"path": path, "source": path, "spaced_id": False, "blank_last": None}
    lines = np.arange(first_line, first_line + len(df))
    # A blank line is a row of empty fields; only rows without a video id can be blank.
    no_vid = np.flatnonzero(df["video_id"].isna().to_numpy())
    if len(no_vid):
        blank_rows = no_vid[df.iloc[no_vid].isna().all(axis=1).to_numpy()]
        if len(blank_rows):
            keep = np.ones(len(df), dtype=bool)
            keep[blank_rows] = False
            df = df[keep].reset_index(drop=True)
            lines = lines[keep]

    def line_of(i):
        return int(lines[i])

    if len(df) == 0:
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})
        return BoxTable(empty, set())

    vid = df["video_id"]
    i = _first_bad(vid.isna().to_numpy())
    if i is not None:
        raise AVAFormatError(path, line_of(i), "video_id", "missing")
    vid = vid.to_numpy()
    for v in pd.unique(vid):
        if v in (".", "..") or "/" in v or "\\" in v or "\x00" in v or not v.strip():
            check_video_id(v, path, line_of(_first_bad(vid == v)))
        if v != v.strip() and not state["spaced_id"]:
            state["spaced_id"] = True
            warn_spaced_id(path, line_of(_first_bad(vid == v)), v)

    ts_text = df["timestamp"]
    if ts_text.dtype.kind not in "fiub":  # a line split by another separator: say so
        bad = np.flatnonzero(pd.to_numeric(ts_text, errors="coerce").isna().to_numpy())
    else:
        bad = np.flatnonzero(ts_text.isna().to_numpy())
    if len(bad):
        err = _box_separator_error(path, line_of(bad[0]), vid[bad[0]])
        if err is not None:
            raise err
    ts = _numeric(df, "timestamp", path, line_of, allow_empty=False)
    i = _first_bad(~np.isfinite(ts))
    if i is not None:
        raise AVAFormatError(
            path, line_of(i), "timestamp", f"not a finite number: {str(df['timestamp'].iloc[i])!r}"
        )
    ts = normalize_array(
        ts
    )  # int64 seconds, or float64 rounded to the microsecond (sub-second keyframes)

    coords = {c: _numeric(df, c, path, line_of, allow_empty=True) for c in _COORDS}
    present = np.stack([~np.isnan(coords[c]) for c in _COORDS], axis=1)
    n_present = present.sum(axis=1)
    i = _first_bad((n_present > 0) & (n_present < 4))
    if i is not None:
        missing = [c for c, p in zip(_COORDS, present[i]) if not p][0]
        raise AVAFormatError(
            path, line_of(i), missing, "missing or empty (a box row needs x1, y1, x2, y2)"
        )
    has_box = n_present == 4
    del present, n_present

    action = _numeric(df, "action_id", path, line_of, allow_empty=True)
    lenient = official_scores and kind == "detections"
    last = _numeric(
        df,
        "last",
        path,
        line_of,
        allow_empty=True,
        name="person_id" if kind == "groundtruth" else "score",
        allow_inf=lenient,
    )
    action_missing = np.isnan(action)
    # 2-column rows must not carry an action or score.
    i = _first_bad(~has_box & (~action_missing | ~np.isnan(last)))
    if i is not None:
        raise AVAFormatError(
            path, line_of(i), "x1", "missing: a row with an action or score needs a box"
        )
    if kind in ("groundtruth", "detections"):
        i = _first_bad(has_box & action_missing)
        if i is not None:
            raise AVAFormatError(path, line_of(i), "action_id", "missing or empty")
    i = _first_bad(~action_missing & (action != np.round(action)))
    if i is not None:
        raise AVAFormatError(
            path, line_of(i), "action_id", f"not an integer: {str(df['action_id'].iloc[i])!r}"
        )
    if kind == "detections":
        no_score = np.flatnonzero(has_box & np.isnan(last))
        if len(no_score) and not lenient:
            raise AVAFormatError(path, line_of(no_score[0]), "score", "missing or empty")
        # 7 fields: score 1.0 (by the caller); an empty 8th field: the official script stops
        if len(no_score):
            if state["blank_last"] is None:
                state["blank_last"] = _lines_with_blank_last_field(state["source"])
            blank = lines[no_score]
            blank = blank[np.isin(blank, np.fromiter(state["blank_last"], np.int64))]
            if len(blank):
                raise AVAFormatError(
                    path,
                    int(blank[0]),
                    "score",
                    "empty (the row has 8 fields): the official script stops at such a row; "
                    "write the score, or leave the field out (7 fields: scored 1.0, as the "
                    "official script)",
                )
    del df

    action[action_missing] = -1
    action = action.astype("int64")
    if has_box.all():  # the usual case: no copies
        keys_without = set()
    else:
        keys_without = set(zip(vid[~has_box], ts[~has_box]))
        vid, ts, action, last, lines = (a[has_box] for a in (vid, ts, action, last, lines))
        coords = {c: a[has_box] for c, a in coords.items()}
    out = pd.DataFrame(
        {
            "video_id": vid,
            "timestamp": ts,
            **coords,
            "action_id": action,
            "last": last,
            "line": lines,
        },
        copy=False,
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
