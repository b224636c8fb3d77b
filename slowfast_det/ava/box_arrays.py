"""AVA box CSVs as plain numpy columns, read fast, for the evaluator.

:func:`read_box_arrays` reads a box CSV (``video_id, timestamp, x1, y1, x2, y2, action_id,
last``) into a :class:`BoxArrays`: video ids as int codes into a small list of distinct ids
(no Python string per row), the other fields as int64 / float64 arrays in file order.

Two readers, one result:

- the fast one, pyarrow's multithreaded CSV reader, taken when pyarrow is installed and the
  file is the plain case: 8 fields on every line, integer timestamps and action ids, finite
  numbers, safe video ids. Arrow parses decimal numbers with correct rounding, i.e. to the
  same float64 as Python's ``float()`` (what the official script uses);
- otherwise (pyarrow missing, or anything the fast reader does not take: 2-column rows, a
  timestamp written ``902.0``, an empty or malformed field, a bad video id, inf / nan ...)
  the validating pandas reader :func:`slowfast_det.ava.io.iter_box_csv`, which either
  reads the file or raises :class:`~slowfast_det.ava.io.AVAFormatError` naming file,
  line and field. The fast reader never reports an error itself, so every message comes
  from one place. It leaves to the pandas reader every file that is not plain UTF-8 (UTF-16,
  gzip bytes under a name without ``.gz``) and every value that is not a plain number
  (a NUL byte in a field fails Arrow's number parser, and an id with one is not safe), so
  both readers give the same result or the same error.
"""

import os
from dataclasses import dataclass, field
from typing import List

import numpy as np

from slowfast_det.ava.io import BOX_COLUMNS, AVAFormatError, iter_box_csv
from slowfast_det.ava.timestamps import normalize_array

try:  # optional: the pandas reader is used without it
    import pyarrow as pa
    import pyarrow.csv as pa_csv
except ImportError:  # pragma: no cover - depends on the environment
    pa = pa_csv = None

__all__ = [
    "BoxArrays",
    "read_box_arrays",
    "box_arrays_from_frame",
    "concatenate",
    "detection_arrays",
    "HAVE_PYARROW",
    "as_box_arrays",
    "check_finite",
]

HAVE_PYARROW = pa is not None
_FLOATS = ["x1", "y1", "x2", "y2", "last"]
_INTS = ["timestamp", "action_id", "line"]


@dataclass
class BoxArrays:
    """The rows of a box CSV as columns.

    Attributes:
        videos: the distinct video ids; ``video`` indexes into it.
        video: int64 code per row.
        timestamp, action_id, line: int64 per row (``line`` orders rows as in the file).
        x1, y1, x2, y2, last: float64 per row (``last``: person id or score, NaN if absent).
        keys_without_boxes: (video_id, timestamp) keys given by 2-column rows.
        reader: "pyarrow" or "pandas" (which reader read the file), "memory" (no file:
            :func:`detection_arrays`).
    """

    videos: List[str]
    video: np.ndarray
    timestamp: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    x2: np.ndarray
    y2: np.ndarray
    action_id: np.ndarray
    last: np.ndarray
    line: np.ndarray
    keys_without_boxes: set = field(default_factory=set)
    reader: str = "pandas"

    def __len__(self):
        return len(self.video)

    def columns(self):
        """``{column: array}`` in the box CSV's column names (``video_id`` as codes, equal
        where the ids are equal), for :mod:`slowfast_det.ava.checks`."""
        cols = {c: getattr(self, c) for c in [*_INTS, *_FLOATS]}
        cols["video_id"] = self.video
        return cols

    def take(self, index):
        """A BoxArrays of the rows ``index`` (bool mask or int positions), same ``videos``."""
        cols = {c: getattr(self, c)[index] for c in ["video", *_INTS, *_FLOATS]}
        return BoxArrays(
            self.videos, keys_without_boxes=self.keys_without_boxes, reader=self.reader, **cols
        )


def _empty(reader="pandas"):
    cols = {c: np.zeros(0, dtype=np.float64) for c in _FLOATS}
    cols.update({c: np.zeros(0, dtype=np.int64) for c in ["video", *_INTS]})
    return BoxArrays([], reader=reader, **cols)


def box_arrays_from_frame(rows, keys_without_boxes=(), reader="pandas"):
    """BoxArrays of a DataFrame with the columns of ``BoxTable.rows`` (``line`` optional)."""
    rows = rows.rows if hasattr(rows, "rows") else rows
    n = len(rows)
    if n == 0:
        out = _empty(reader)
    else:
        import pandas as pd  # not at the top: eval_ava's pyarrow path uses this module, no pandas

        codes, uniq = pd.factorize(rows["video_id"].to_numpy(), sort=False)
        line = rows["line"].to_numpy(dtype=np.int64) if "line" in rows else np.arange(1, n + 1)
        out = BoxArrays(
            [str(v) for v in uniq],
            codes.astype(np.int64),
            rows["timestamp"].to_numpy(),  # int64 seconds, or float64 for sub-second keyframes
            *(rows[c].to_numpy(dtype=np.float64) for c in ["x1", "y1", "x2", "y2"]),
            rows["action_id"].to_numpy(dtype=np.int64),
            rows["last"].to_numpy(dtype=np.float64),
            line,
            reader=reader,
        )
    out.keys_without_boxes = set(keys_without_boxes)
    return out


def concatenate(parts, reader="pandas"):
    """One BoxArrays of several (chunks of one file, in order), with merged ``videos``."""
    parts = [p for p in parts]
    if not parts:
        return _empty(reader)
    if len(parts) == 1:
        return parts[0]
    index, videos, codes = {}, [], []
    for p in parts:
        lut = np.empty(len(p.videos), dtype=np.int64)
        for i, v in enumerate(p.videos):
            lut[i] = index.setdefault(v, len(index))
            if lut[i] == len(videos):
                videos.append(v)
        codes.append(lut[p.video])
    cols = {c: np.concatenate([getattr(p, c) for p in parts]) for c in [*_INTS, *_FLOATS]}
    keys = set().union(*(p.keys_without_boxes for p in parts))
    return BoxArrays(videos, np.concatenate(codes), keys_without_boxes=keys, reader=reader, **cols)


def detection_arrays(keyframes, class_ids):
    """BoxArrays of per-keyframe detections held in memory: the rows that
    :func:`~slowfast_det.ava.files.write_detections_csv` writes for them, in its order and
    with the values read back from its file, so scoring these and re-scoring the file agree
    exactly.

    Args:
        keyframes: list of ``(video_id, timestamp, boxes (R, 4) normalised x1y1x2y2,
            scores (R, len(class_ids)))``.
        class_ids: the action id of each score column.

    Returns:
        BoxArrays, one row per (keyframe, box, class): keyframes by (video_id, timestamp),
        boxes in the given order, classes as given; ``line`` 1..n in that order (it orders
        tied scores as the file's lines do); coordinates rounded to the 9 significant
        digits the file holds; ``last`` the scores as float64 (float32 scores keep their
        order, all the metric uses, in the file's 9 digits).
    """
    class_ids = np.asarray(class_ids, dtype=np.int64)
    n_cls = len(class_ids)
    index, video, stamps, boxes, scores = {}, [], [], [], []
    for video_id, ts, b, sc in sorted(keyframes, key=lambda k: (k[0], float(k[1]))):
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        video.append(np.full(len(b), index.setdefault(str(video_id), len(index)), dtype=np.int64))
        stamps.append(np.full(len(b), float(ts)))
        boxes.append(b)
        scores.append(np.asarray(sc, dtype=np.float64).reshape(len(b), n_cls))
    if not sum(len(b) for b in boxes):
        return _empty("memory")
    boxes = np.concatenate(boxes)
    written = np.array([float(f"{v:.9g}") for v in boxes.reshape(-1).tolist()]).reshape(-1, 4)
    rows = len(boxes) * n_cls
    per_row = {c: np.repeat(written[:, i], n_cls) for i, c in enumerate(["x1", "y1", "x2", "y2"])}
    return BoxArrays(
        list(index),
        np.repeat(np.concatenate(video), n_cls),
        normalize_array(np.repeat(np.concatenate(stamps), n_cls)),
        action_id=np.tile(class_ids, len(boxes)),
        last=np.concatenate(scores).reshape(-1),
        line=np.arange(1, rows + 1, dtype=np.int64),
        reader="memory",
        **per_row,
    )


def _safe_video_id(v):
    return (
        bool(v) and v.strip() == v and v not in (".", "..") and not any(ch in v for ch in "/\\\x00")
    )


def _column(chunks, dtype):
    """One numpy array of the chunks of a primitive Arrow column without nulls, read from
    the data buffers (``to_numpy`` would import pandas: 0.3 s)."""
    parts = []
    for chunk in chunks:
        if chunk.null_count:
            return None
        data = np.frombuffer(chunk.buffers()[1], dtype=dtype)
        parts.append(data[chunk.offset : chunk.offset + len(chunk)])
    return np.concatenate(parts) if len(parts) != 1 else parts[0].copy()


def _use_threads():
    """Parse with Arrow's thread pool only when a core is idle: on a busy machine the threads
    cost CPU time (0.29-0.64 s against 0.23 s single-threaded for 1.9 M rows, measured at
    load 8 on 2 cores) and gain no wall time. The values are the same either way."""
    ncpu = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return ncpu > 1
    return ncpu > 1 and load < ncpu - 0.5


def _read_pyarrow(path, kind):
    """The fast reader; None where the file is not the plain case (the caller falls back)."""
    with open(path, "rb") as f:
        head = f.read(2)
    misnamed_gzip = head == b"\x1f\x8b" and not str(path).lower().endswith(".gz")
    if head in (b"\xff\xfe", b"\xfe\xff") or misnamed_gzip:
        return None  # UTF-16 (decoded by the pandas reader) or gzip under another name (its error)
    types = {c: pa.float64() for c in _FLOATS}
    types.update(
        video_id=pa.dictionary(pa.int32(), pa.string()), timestamp=pa.int64(), action_id=pa.int64()
    )
    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(
                column_names=BOX_COLUMNS, use_threads=_use_threads(), block_size=1 << 22
            ),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    n = table.num_rows
    if n == 0:
        return None
    # video ids: per chunk a small dictionary; one code space for the file
    index, videos, codes = {}, [], []
    for chunk in table.column("video_id").chunks:
        words = chunk.dictionary.to_pylist()
        lut = np.empty(len(words), dtype=np.int64)
        for i, v in enumerate(words):
            if v not in index:
                if not _safe_video_id(v):
                    return None
                index[v] = len(videos)
                videos.append(v)
            lut[i] = index[v]
        indices = _column([chunk.indices], np.int32)
        if indices is None:
            return None
        codes.append(lut[indices])
    video = np.concatenate(codes) if len(codes) != 1 else codes[0]
    del codes
    table = table.drop_columns(["video_id"])
    cols = {}
    for c in ["timestamp", "action_id", *_FLOATS]:
        arr = _column(table.column(c).chunks, np.float64 if c in _FLOATS else np.int64)
        table = table.drop_columns([c])  # frees the Arrow buffers of that column
        if arr is None:
            return None
        if c in _FLOATS:
            # scores of detections may be +-inf (they only order); anything else non-finite
            # goes to the pandas reader, which names the line
            bad = np.isnan(arr) if (c == "last" and kind == "detections") else ~np.isfinite(arr)
            if bad.any():
                return None
        cols[c] = arr
    del table
    return BoxArrays(videos, video, line=np.arange(1, n + 1), reader="pyarrow", **cols)


def read_box_arrays(path, kind="detections", chunksize=1_000_000, use_pyarrow=True):
    """Read an AVA box CSV as :class:`BoxArrays` (see the module docstring).

    Detection scores are read as the official evaluator reads them: a row without a score
    (7 fields) has NaN there (:func:`~slowfast_det.ava.metric.frame_map` scores it
    1.0 and counts it), ``inf`` / ``1e400`` are kept; "nan" is an error.

    Args:
        path: the CSV file.
        kind: "groundtruth" or "detections" (as :func:`~slowfast_det.ava.io.read_box_csv`).
        chunksize: lines per chunk of the pandas reader.
        use_pyarrow: try the fast reader first (when pyarrow is installed).

    Raises:
        AVAFormatError: malformed input (file, line and field in the message).
    """
    if use_pyarrow and HAVE_PYARROW:
        out = _read_pyarrow(path, kind)
        if out is not None:
            return out
    parts = [
        box_arrays_from_frame(t.rows, t.keys_without_boxes)
        for t in iter_box_csv(path, kind, chunksize, official_scores=kind == "detections")
    ]
    return concatenate(parts)


def as_box_arrays(x):
    """BoxArrays of a BoxArrays, a BoxTable, a DataFrame, or an iterable of those (chunks of
    one file in file order)."""
    if isinstance(x, BoxArrays):
        return x
    if hasattr(x, "rows"):
        return box_arrays_from_frame(x.rows, x.keys_without_boxes)
    if hasattr(x, "columns"):
        return box_arrays_from_frame(x)
    return concatenate([as_box_arrays(c) for c in x])


def check_finite(arr, columns, path, what):
    """Raise AVAFormatError (``path``, the first bad row's line, its field) when a value of
    ``columns`` of the BoxArrays ``arr`` is not finite; ``what``: "groundtruth" or
    "detections" (the last column is then named score)."""
    for col in columns:
        vals = getattr(arr, col)
        bad = ~np.isfinite(vals)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            name = "score" if (col == "last" and what == "detections") else col
            raise AVAFormatError(
                path, int(arr.line[i]), name, f"not a finite number: {float(vals[i])!r}"
            )
