"""Files the project writes: complete or absent (temporary file, then ``os.replace``), and the
one writer of AVA box CSVs.

Every AVA-format box CSV the project writes (the evaluator's and the demo's detections, the
resumable ``infer_ava`` and ``detect_persons`` chunks, the demo's persons CSV, the synthetic
dataset's annotations, the benchmarks' files) goes through :func:`box_csv_text` /
:func:`write_box_csv`, so they share one text form:

* rows ``video_id,timestamp,x1,y1,x2,y2,action_id,last`` (the reader's
  :data:`~slowfast_det.ava.io.BOX_COLUMNS`); a key without a box is the 2-column row
  ``video_id,timestamp``;
* timestamps as :func:`~slowfast_det.ava.timestamps.format_timestamp` (``0902``, ``0902.5``);
* numbers (coordinates, scores) as :data:`NUMBER_FORMAT`, integers (action ids, person ids)
  as integers, an absent value (NaN, or a negative action id) as an empty field.
"""

import json

import numpy as np

from slowfast_det.ava.timestamps import format_timestamp
from slowfast_det.utils.file_io import atomic_path

__all__ = [
    "NUMBER_FORMAT",
    "format_numbers",
    "box_csv_text",
    "write_box_csv",
    "detection_tables",
    "write_detections_csv",
    "write_json",
]

#: The number format of every AVA CSV the project writes: 9 significant digits, ``%g`` style.
#: The values are float32 model outputs (scores, boxes) and box coordinates in [0, 1]; 9
#: significant digits is the shortest ``printf`` precision that round-trips every float32
#: (``FLT_DECIMAL_DIG``): reading the text back and casting to float32 gives the same
#: float32. ``%g`` drops trailing zeros, so a value given with fewer digits is written with
#: them (0.125 -> ``0.125``, 1.0 -> ``1``); a float64 value keeps its 9 leading digits.
NUMBER_FORMAT = "%.9g"

_COORDS = ("x1", "y1", "x2", "y2")
#: rows formatted at a time: the text of one chunk is held in memory, not the whole file's
_CHUNK_ROWS = 200_000


def write_json(obj, path):
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, allow_nan=False)
            f.write("\n")


def format_numbers(values):
    """Text of each value as the AVA CSVs write it: integers (an integer dtype) as integers,
    other numbers as :data:`NUMBER_FORMAT` (-0.0 as ``0``), NaN as the empty string.

    Args:
        values: array-like (N,) of numbers.
    Returns:
        object ndarray (N,) of str. Each distinct value is formatted once.
    """
    a = np.asarray(values)
    if a.dtype.kind in "iub":
        uniq, inv = np.unique(a.astype(np.int64), return_inverse=True)
        texts = [str(v) for v in uniq.tolist()]
    else:
        a = a.astype(np.float64) + 0.0  # -0.0 + 0.0 = 0.0
        uniq, inv = np.unique(a, return_inverse=True)  # NaNs collapse to one (last)
        texts = ["" if v != v else NUMBER_FORMAT % v for v in uniq.tolist()]
    return np.array(texts, dtype=object)[inv.reshape(-1)] if len(a) else np.zeros(0, dtype=object)


def _timestamp_texts(values):
    a = np.asarray(values)
    if a.dtype.kind in "iuf" and len(a):
        uniq, inv = np.unique(a, return_inverse=True)
        return np.array([format_timestamp(t) for t in uniq.tolist()], dtype=object)[inv.reshape(-1)]
    cache = {}
    return np.array(
        [cache[t] if t in cache else cache.setdefault(t, format_timestamp(t)) for t in a.tolist()],
        dtype=object,
    )


def _video_id_texts(values):
    ids = np.asarray(values, dtype=object)
    for v in set(ids.tolist()):
        if not isinstance(v, str) or not v or any(c in v for c in ',"\n\r'):
            raise ValueError(
                f"video id {v!r}: cannot be written to an AVA CSV (empty, not text, or with a "
                "comma, quote or line break)"
            )
    return ids


def _action_texts(values):
    """Action ids as integers; NaN or a negative id (the readers' -1, "no action") as empty."""
    a = np.asarray(values)
    if a.dtype.kind not in "iub":
        a = np.asarray(a, dtype=np.float64)
        nonint = ~np.isnan(a) & (a != np.round(a))
        if nonint.any():
            raise ValueError(f"action id {float(a[nonint][0])!r} is not an integer")
        a = np.where(np.isnan(a), -1, a).astype(np.int64)
    texts = format_numbers(a)
    texts[a < 0] = ""
    return texts


def _columns(rows):
    """The table's columns as arrays of equal length: ``video_id``, ``timestamp`` and, when
    present, the coordinates, ``action_id`` and ``last``."""
    cols = {c: np.asarray(rows[c]) for c in ("video_id", "timestamp")}
    present = [c for c in _COORDS if c in rows]
    if present and len(present) != 4:
        raise ValueError(
            f"box table: coordinates {present} given without the others of {list(_COORDS)}"
        )
    for c in present + [c for c in ("action_id", "last") if c in rows]:
        cols[c] = np.asarray(rows[c])
    lengths = {c: len(v) for c, v in cols.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"box table: columns of different lengths {lengths}")
    return cols


def _lines(cols, start, stop):
    """CSV lines (without line breaks) of rows ``start:stop`` of :func:`_columns`."""
    key = [
        _video_id_texts(cols["video_id"][start:stop]),
        _timestamp_texts(cols["timestamp"][start:stop]),
    ]
    if "x1" not in cols:
        return list(map(",".join, zip(*(k.tolist() for k in key))))
    coords = [cols[c][start:stop] for c in _COORDS]
    n = stop - start
    empty = np.full(n, "", dtype=object)
    fields = key + [format_numbers(c) for c in coords]
    fields.append(_action_texts(cols["action_id"][start:stop]) if "action_id" in cols else empty)
    fields.append(format_numbers(cols["last"][start:stop]) if "last" in cols else empty)
    lines = list(map(",".join, zip(*(f.tolist() for f in fields))))
    no_box = np.flatnonzero(np.isnan(np.asarray(coords[0], dtype=np.float64)))
    for i in no_box.tolist():
        lines[i] = f"{key[0][i]},{key[1][i]}"
    return lines


def _is_table(rows):
    """A mapping of columns (dict, DataFrame), as opposed to an iterable of them."""
    return callable(getattr(rows, "keys", None))


def box_csv_text(rows):
    """The AVA CSV text of a box table (see the module doc for the format).

    Args:
        rows: a mapping of columns (a dict of arrays, or a pandas DataFrame such as
            :func:`~slowfast_det.ava.io.read_box_csv`'s ``rows``), N values each:
            ``video_id`` (str), ``timestamp`` (seconds), and optionally ``x1, y1, x2, y2``
            (float, normalised; NaN in ``x1``: the row is the 2-column key row), ``action_id``
            (int; negative or NaN: empty) and ``last`` (person id or score; NaN: empty). Rows
            are written in the given order.
    Returns:
        str: N lines, each ending with ``\\n`` ("" for no rows).
    Raises:
        ValueError for a video id that cannot be written (empty, or with a comma, quote or
        line break), a non-integer action id, or columns of different lengths.
    """
    cols = _columns(rows)
    n = len(cols["video_id"])
    return "".join(
        line + "\n"
        for start in range(0, n, _CHUNK_ROWS)
        for line in _lines(cols, start, min(n, start + _CHUNK_ROWS))
    )


def write_box_csv(rows, path):
    """Write box rows as an AVA CSV, atomically (complete or absent).

    Args:
        rows: one table (as :func:`box_csv_text`) or an iterable of tables, written one after
            the other (e.g. :func:`detection_tables`); large tables are formatted in chunks.
        path: the CSV.
    Returns:
        number of rows written.
    """
    tables = [rows] if _is_table(rows) else rows
    count = 0
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for table in tables:
                cols = _columns(table)
                n = len(cols["video_id"])
                for start in range(0, n, _CHUNK_ROWS):
                    lines = _lines(cols, start, min(n, start + _CHUNK_ROWS))
                    f.write("".join(line + "\n" for line in lines))
                count += n
    return count


def detection_tables(keyframes, class_ids, rows_per_table=_CHUNK_ROWS):
    """Per-box, per-class detection rows of keyframe results, as box tables for
    :func:`write_box_csv` / :func:`box_csv_text`.

    Keyframes are sorted by (video_id, timestamp), boxes kept in the given order, classes
    ascending, so the file (and the tie order it defines) does not depend on the number of
    workers.

    Args:
        keyframes: iterable of ``(video_id, timestamp, boxes (R, 4) normalised x1y1x2y2,
            scores (R, len(class_ids)))``.
        class_ids: the action id of each score column.
        rows_per_table: about how many rows each yielded table holds (whole keyframes).
    Yields:
        dicts of columns ``video_id, timestamp, x1, y1, x2, y2, action_id, last`` (the score).
    """
    class_ids = np.asarray(class_ids, dtype=np.int64)
    n_cls = len(class_ids)
    parts = []
    size = 0

    def table():
        boxes = np.concatenate([p[2] for p in parts])
        n_rows = len(boxes) * n_cls
        counts = [len(p[2]) * n_cls for p in parts]
        rep = np.repeat(boxes, n_cls, axis=0)
        return {
            "video_id": np.repeat(np.array([p[0] for p in parts], dtype=object), counts),
            "timestamp": np.repeat(np.array([float(p[1]) for p in parts]), counts),
            **{c: rep[:, i] for i, c in enumerate(_COORDS)},
            "action_id": np.tile(class_ids, len(boxes)),
            "last": np.concatenate([p[3] for p in parts]).reshape(n_rows),
        }

    for video_id, ts, boxes, scores in sorted(keyframes, key=lambda k: (k[0], float(k[1]))):
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if not len(boxes):
            continue
        parts.append(
            (
                str(video_id),
                ts,
                boxes,
                np.asarray(scores, dtype=np.float64).reshape(len(boxes), n_cls),
            )
        )
        size += len(boxes) * n_cls
        if size >= rows_per_table:
            yield table()
            parts, size = [], 0
    if parts:
        yield table()


def write_detections_csv(keyframes, class_ids, path):
    """Write per-box, per-class detections in the official format, atomically: rows
    ``video_id,timestamp,x1,y1,x2,y2,action_id,score`` of :func:`detection_tables`, written
    by :func:`write_box_csv` (numbers as :data:`NUMBER_FORMAT`).

    Args:
        keyframes: list of ``(video_id, timestamp, boxes (R, 4) normalised x1y1x2y2,
            scores (R, len(class_ids)))``.
        class_ids: the action id of each score column.
        path: output CSV.

    Returns:
        number of rows written.
    """
    return write_box_csv(detection_tables(keyframes, class_ids), path)
