"""Readers for the AVA file formats (see ``datasets/README.md``).

All readers validate as they read: a malformed row raises :class:`AVAFormatError` whose
message names the file, the 1-based line and the field. They are vectorised with pandas
so that an AVA-val-scale detections file (millions of rows) reads in seconds.

Box CSV rows (no header): ``video_id, timestamp, x1, y1, x2, y2, action_id, last``, where
``last`` is the person id (ground truth) or the score (predictions). A row with only
``video_id, timestamp`` marks a keyframe without boxes.
"""
import csv
import logging
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import AVAFormatError, check_video_id
from .label_map import read_label_map
from .timestamps import normalize_array, parse_timestamp

__all__ = [
    "AVAFormatError",
    "BOX_COLUMNS",
    "BoxTable",
    "read_label_map",
    "read_box_csv",
    "iter_box_csv",
    "read_exclusions",
    "read_frame_list",
    "frame_list_has_header",
    "FRAME_LIST_HEADER",
    "check_video_id",
]

logger = logging.getLogger(__name__)

BOX_COLUMNS = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "last"]
_COORDS = ["x1", "y1", "x2", "y2"]


@dataclass
class BoxTable:
    """The content of a box CSV.

    Attributes:
        rows: DataFrame with columns ``BOX_COLUMNS`` plus ``line`` (1-based line in the file):
            video_id str, timestamp int64 seconds (float64 rounded to the microsecond when
            the file has sub-second keyframes, :mod:`.timestamps`), x1..y2 float64 (normalised), action_id int64
            (-1 for "no label"), last float64 (person id or score; NaN if absent).
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
            raise AVAFormatError(path, line_of(i), name, f"not a finite number: {str(raw.iloc[i])!r}")
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


def read_box_csv(path, kind="groundtruth", official_scores=False):
    """Read an AVA box CSV (ground truth, predicted person boxes, or detections).

    Args:
        path: the CSV file.
        kind: "groundtruth" (action_id required, last = person id), "proposals" (predicted
            person boxes: action_id may be empty or -1, last = detector score), or
            "detections" (action_id and score required).
        official_scores: for "detections", read scores as the official evaluator does: a
            row without a score (7 fields, or an empty 8th) gets NaN, for the caller to
            score 1.0 and count; ``inf`` / ``1e400`` / ``-inf`` are kept (they only order).
            "nan" is still an error.

    Returns:
        BoxTable. Coordinates are returned as written; callers decide about clipping
        (data loading clips and counts, the evaluator keeps the official behaviour).

    Raises:
        AVAFormatError for a wrong column count, a non-numeric, non-finite or non-integer
        field, an unsafe video id, or a missing required field.
    """
    import pandas as pd  # not at the top: eval_ava's pyarrow path uses this module without pandas

    chunks = list(iter_box_csv(path, kind, official_scores=official_scores))
    keys_without = set().union(*(c.keys_without_boxes for c in chunks))
    nonempty = [c.rows for c in chunks if len(c.rows)] or [chunks[0].rows]
    rows = nonempty[0] if len(nonempty) == 1 else pd.concat(nonempty, ignore_index=True)
    return BoxTable(rows, keys_without)


def iter_box_csv(path, kind="groundtruth", chunksize=1_000_000, official_scores=False):
    """Read an AVA box CSV in chunks of ``chunksize`` lines, validating each as it comes.

    Same arguments and checks as :func:`read_box_csv`; yields one :class:`BoxTable` per
    chunk (rows in file order, ``line`` = line in the whole file). Lets a caller reduce a
    large detections file (e.g. to the per-keyframe top-k) without holding all of it.
    """
    import pandas as pd  # not at the top: eval_ava's pyarrow path uses this module without pandas

    if kind not in ("groundtruth", "proposals", "detections"):
        raise ValueError(f"unknown box CSV kind {kind!r}")
    try:
        reader = pd.read_csv(
            path,
            header=None,
            names=BOX_COLUMNS,
            index_col=False,
            dtype={"video_id": str},
            skip_blank_lines=False,
            keep_default_na=False,
            na_values=[""],
            engine="c",
            # Python's float(): exact, like the official evaluator (the default converter
            # can be off by thousands of ulps on 15-17 digit numbers).
            float_precision="round_trip",
            chunksize=chunksize,
        )
    except pd.errors.EmptyDataError:
        yield _validate_box_rows(pd.DataFrame(columns=BOX_COLUMNS), 1, path, kind, official_scores)
        return
    first_line = 1
    with reader:
        while True:
            try:
                with warnings.catch_warnings():
                    # more fields than columns on the first line: pandas would drop them
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    df = next(reader)
            except StopIteration:
                break
            except pd.errors.ParserWarning as e:
                raise AVAFormatError(path, first_line, None, f"expected 2 or 8 comma-separated fields ({e})") from None
            except pd.errors.ParserError as e:
                m = re.search(r"line (\d+), saw (\d+)", str(e))
                line = int(m.group(1)) if m else None
                raise AVAFormatError(path, line, None, f"expected 2 or 8 comma-separated fields ({e})") from None
            n = len(df)
            yield _validate_box_rows(df, first_line, path, kind, official_scores)
            first_line += n


def _validate_box_rows(df, first_line, path, kind, official_scores=False):
    """Check and convert one chunk of a box CSV whose first row is line ``first_line``
    (``official_scores``: see :func:`read_box_csv`)."""
    import pandas as pd  # not at the top: eval_ava's pyarrow path uses this module without pandas

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

    ts = _numeric(df, "timestamp", path, line_of, allow_empty=False)
    i = _first_bad(~np.isfinite(ts))
    if i is not None:
        raise AVAFormatError(path, line_of(i), "timestamp", f"not a finite number: {str(df['timestamp'].iloc[i])!r}")
    ts = normalize_array(ts)  # int64 seconds, or float64 rounded to the microsecond (sub-second keyframes)

    coords = {c: _numeric(df, c, path, line_of, allow_empty=True) for c in _COORDS}
    present = np.stack([~np.isnan(coords[c]) for c in _COORDS], axis=1)
    n_present = present.sum(axis=1)
    i = _first_bad((n_present > 0) & (n_present < 4))
    if i is not None:
        missing = [c for c, p in zip(_COORDS, present[i]) if not p][0]
        raise AVAFormatError(path, line_of(i), missing, "missing or empty (a box row needs x1, y1, x2, y2)")
    has_box = n_present == 4
    del present, n_present

    action = _numeric(df, "action_id", path, line_of, allow_empty=True)
    lenient = official_scores and kind == "detections"
    last = _numeric(df, "last", path, line_of, allow_empty=True, name="person_id" if kind == "groundtruth" else "score",
                    allow_inf=lenient)
    action_missing = np.isnan(action)
    # 2-column rows must not carry an action or score.
    i = _first_bad(~has_box & (~action_missing | ~np.isnan(last)))
    if i is not None:
        raise AVAFormatError(path, line_of(i), "x1", "missing: a row with an action or score needs a box")
    if kind in ("groundtruth", "detections"):
        i = _first_bad(has_box & action_missing)
        if i is not None:
            raise AVAFormatError(path, line_of(i), "action_id", "missing or empty")
    i = _first_bad(~action_missing & (action != np.round(action)))
    if i is not None:
        raise AVAFormatError(path, line_of(i), "action_id", f"not an integer: {str(df['action_id'].iloc[i])!r}")
    if kind == "detections" and not lenient:
        i = _first_bad(has_box & np.isnan(last))
        if i is not None:
            raise AVAFormatError(path, line_of(i), "score", "missing or empty")
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
        {"video_id": vid, "timestamp": ts, **coords, "action_id": action, "last": last, "line": lines},
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


def read_exclusions(path):
    """Read an excluded-timestamps CSV (``video_id,timestamp`` rows) into a set of keys."""
    if path is None or not os.path.exists(path):
        raise FileNotFoundError(f"excluded-timestamps file not found: {path}")
    keys = set()
    with open(path, newline="", encoding="utf-8-sig") as f:  # a small file: the csv module
        for i, row in enumerate(csv.reader(f), 1):
            vals = [v for v in row if v != ""]
            if not vals:
                continue
            if len(vals) != 2:
                raise AVAFormatError(path, i, None, f"expected 2 fields (video_id,timestamp), got {len(vals)}")
            video_id, t = vals[0].strip(), vals[1].strip()
            check_video_id(video_id, path, i)
            try:
                float(t)
            except ValueError:
                raise AVAFormatError(path, i, "timestamp", f"not a number: {t!r}")
            try:
                keys.add((video_id, parse_timestamp(t)))  # 0902 = 902.0; 902.5 its own key
            except ValueError:
                raise AVAFormatError(path, i, "timestamp", f"not a finite number: {t!r}")
    return keys


FRAME_LIST_COLUMNS = ["original_video_id", "video_idx", "frame_id", "path", "labels"]
#: The header line of PySlowFast frame lists (its spelling of "video").
FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"
_SEPARATOR_HINT = (
    f"frame lists are space-separated: the header {FRAME_LIST_HEADER!r}, then rows like 'vid 0 0 vid/vid_000001.jpg \"\"'"
)


def _first_line(path):
    if hasattr(path, "readline"):  # a text buffer (the checker re-reads repaired files)
        pos = path.tell()
        line = path.readline()
        path.seek(pos)
    else:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            line = f.readline()
    return line.lstrip("\ufeff").strip()


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
            raise AVAFormatError(path, 1, None, f"fields separated by {sep!r}: {_SEPARATOR_HINT}", whole_file=True)
    return True


def read_frame_list(path):
    """Read a PySlowFast frame list (header line, then space-separated rows).

    A file without the header (line 1 is already a frame, see
    :func:`frame_list_has_header`) is read from line 1, with a warning. Rows separated by
    commas or semicolons are an error that says so.

    Returns a DataFrame with columns ``video_id`` (the original video id, str),
    ``frame_id`` (int), ``path`` (relative to the frames folder) and ``line``.
    Rows keep the file order; frame order within a video is by ``frame_id``.
    """
    import pandas as pd  # not at the top: eval_ava's pyarrow path uses this module without pandas

    header = frame_list_has_header(path)
    if not header:
        logger.warning(
            "%s: line 1 is a frame, not the header %r: read as a frame (PySlowFast would skip it as the header)",
            path, FRAME_LIST_HEADER,
        )
    try:
        # C parser (the python one takes minutes on AVA's 6M-row lists); blank lines are kept
        # as empty rows so that row i is line i + first, then dropped.
        df = pd.read_csv(
            path, sep=r"\s+", header=None, names=range(5), skiprows=int(header), dtype=str, keep_default_na=False,
            skip_blank_lines=False, engine="c",
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame({"video_id": [], "frame_id": [], "path": [], "line": []})
    except pd.errors.ParserError as e:
        m = re.search(r"line (\d+)", str(e))
        line = int(m.group(1)) if m else None
        raise AVAFormatError(path, line, None, f"expected 4 or 5 space-separated fields ({e})") from None
    lines = np.arange(1 + header, len(df) + 1 + header)
    blank = (df[0] == "").to_numpy() & (df[3] == "").to_numpy()
    if blank.any():
        df = df[~blank].reset_index(drop=True)
        lines = lines[~blank]
    one_field = np.flatnonzero(((df[1] == "") & df[0].str.contains("[,;]")).to_numpy())
    if len(one_field):
        i = one_field[0]
        sep = "," if "," in df[0].iloc[i] else ";"
        raise AVAFormatError(path, int(lines[i]), None, f"fields separated by {sep!r}: {_SEPARATOR_HINT}", whole_file=True)
    frame_id = pd.to_numeric(df[2], errors="coerce").to_numpy(dtype="float64")
    i = _first_bad(np.isnan(frame_id) | (frame_id != np.round(frame_id)))
    if i is not None:
        raise AVAFormatError(path, int(lines[i]), "frame_id", f"not an integer: {df[2].iloc[i]!r}")
    paths = df[3]
    i = _first_bad((paths == "").to_numpy())
    if i is not None:
        raise AVAFormatError(path, int(lines[i]), "path", "missing")
    vids = df[0].to_numpy()
    first = pd.Series(vids).drop_duplicates()  # first row of each video
    for j, v in first.items():
        check_video_id(v, path, int(lines[j]))
    suspicious = np.flatnonzero((paths.str.startswith("/") | paths.str.contains("..", regex=False)).to_numpy())
    bad_path = [j for j in suspicious if os.path.isabs(paths.iloc[j]) or ".." in paths.iloc[j].replace("\\", "/").split("/")]
    if bad_path:
        i = bad_path[0]
        raise AVAFormatError(path, int(lines[i]), "path", f"path escapes the frames folder: {paths.iloc[i]!r}")
    return pd.DataFrame(
        {"video_id": vids, "frame_id": frame_id.astype("int64"), "path": paths.to_numpy(), "line": lines}
    )
