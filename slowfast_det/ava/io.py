"""Readers for the AVA file formats (see ``datasets/README.md``).

All readers validate as they read: a malformed row raises :class:`AVAFormatError` whose
message names the file, the 1-based line and the field. They are vectorised with pandas
so that an AVA-val-scale detections file (millions of rows) reads in seconds.

Box CSV rows (no header): ``video_id, timestamp, x1, y1, x2, y2, action_id, last``, where
``last`` is the person id (ground truth) or the score (predictions). A row with only
``video_id, timestamp`` marks a keyframe without boxes.

What every reader accepts (:mod:`.file_text`): UTF-8 or UTF-16-with-BOM text, ``.gz`` by
name; a NUL byte, other encodings and a misnamed gzip file are errors naming the line.
Video ids are kept exactly as written, spaces included, as the official script keys them
(``'vid '`` and ``'vid'`` are two videos): the readers warn about ids with leading or
trailing spaces instead of stripping them.
"""

import csv
import io
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import AVAFormatError, check_video_id
from .file_text import (
    check_nul,
    not_text_error,
    open_binary,
    other_separator,
    read_text,
    text_source,
)
from .frame_list import FRAME_LIST_HEADER, frame_list_has_header, read_frame_list
from .label_map import read_label_map
from .timestamps import normalize_array, parse_timestamp

if TYPE_CHECKING:  # pandas is imported where it is used (eval_ava's pyarrow path needs none)
    import pandas as pd

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
_BOX_HINT = (
    "box CSVs are comma-separated: video_id,timestamp,x1,y1,x2,y2,action_id,score (or person_id)"
)


def _last_name(kind):
    return "person_id" if kind == "groundtruth" else "score"


def _warn_spaced_id(path, line, video_id):
    logger.warning(
        "%s:%s: video id %r has leading or trailing spaces: kept as written, as the official "
        "script keys it (%r is another video); more such ids are not reported",
        path,
        line,
        video_id,
        video_id.strip(),
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
        field, an unsafe video id, a missing required field, an empty 8th detection field,
        fields split by another separator, a NUL byte, or bytes that are not UTF-8 /
        UTF-16 text (:mod:`.file_text`).
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
    names = BOX_COLUMNS[:-1] + [_last_name(kind)]
    source = text_source(path, lambda prefix: names[min(prefix.count(","), 7)])
    state = {"path": path, "source": source, "spaced_id": False, "blank_last": None}
    try:
        reader = pd.read_csv(
            source,
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
        empty = pd.DataFrame(columns=BOX_COLUMNS)
        yield _validate_box_rows(empty, 1, path, kind, official_scores, state)
        return
    except UnicodeDecodeError:
        raise not_text_error(path) from None
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
            except UnicodeDecodeError:
                raise not_text_error(path) from None
            except pd.errors.ParserWarning as e:
                raise AVAFormatError(
                    path, first_line, None, f"expected 2 or 8 comma-separated fields ({e})"
                ) from None
            except pd.errors.ParserError as e:
                m = re.search(r"line (\d+), saw (\d+)", str(e))
                line = int(m.group(1)) if m else None
                raise AVAFormatError(
                    path, line, None, f"expected 2 or 8 comma-separated fields ({e})"
                ) from None
            n = len(df)
            yield _validate_box_rows(df, first_line, path, kind, official_scores, state)
            first_line += n


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


def _validate_box_rows(df, first_line, path, kind, official_scores=False, state=None):
    """Check and convert one chunk of a box CSV whose first row is line ``first_line``
    (``official_scores``: see :func:`read_box_csv`; ``state``: per-file facts of
    :func:`iter_box_csv`)."""
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
            _warn_spaced_id(path, line_of(_first_bad(vid == v)), v)

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


def read_exclusions(path):
    """Read an excluded-timestamps CSV (``video_id,timestamp`` rows) into a set of keys.

    Video ids are kept as written (a warning for ids with leading or trailing spaces), as the
    box readers keep them; spaces around the timestamp do not matter (it is a number)."""
    if hasattr(path, "read"):  # a text buffer (the checker re-reads repaired files)
        text = path.getvalue()
    elif path is None or not os.path.exists(path):
        raise FileNotFoundError(f"excluded-timestamps file not found: {path}")
    else:
        text = read_text(path)
    check_nul(text, path, lambda prefix: "timestamp" if "," in prefix else "video_id")
    keys, spaced = set(), False
    # a small file: the csv module
    for i, row in enumerate(csv.reader(io.StringIO(text, newline="")), 1):
        vals = [v for v in row if v != ""]
        if not vals:
            continue
        if len(vals) != 2:
            sep = other_separator(vals[0], (2,)) if len(vals) == 1 else None
            if sep is not None:
                raise AVAFormatError(
                    path,
                    i,
                    None,
                    f"fields separated by {sep}: an excluded-timestamps file is "
                    "comma-separated (video_id,timestamp)",
                    whole_file=True,
                )
            message = f"expected 2 fields (video_id,timestamp), got {len(vals)}"
            raise AVAFormatError(path, i, None, message)
        video_id, t = vals[0], vals[1].strip()
        check_video_id(video_id, path, i)
        if video_id != video_id.strip() and not spaced:
            spaced = True
            _warn_spaced_id(path, i, video_id)
        try:
            float(t)
        except ValueError:
            raise AVAFormatError(path, i, "timestamp", f"not a number: {t!r}")
        try:
            keys.add((video_id, parse_timestamp(t)))  # 0902 = 902.0; 902.5 its own key
        except ValueError:
            raise AVAFormatError(path, i, "timestamp", f"not a finite number: {t!r}")
    return keys
