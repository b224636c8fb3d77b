"""Reading an AVA box CSV (ground truth, predicted person boxes, detections) with pandas.

Rows (no header): ``video_id, timestamp, x1, y1, x2, y2, action_id, last``, where ``last``
is the person id (ground truth) or the score (predictions). A row with only ``video_id,
timestamp`` marks a keyframe without boxes. The file is parsed in chunks by pandas' C parser
(an AVA-val-scale detections file, millions of rows, reads in seconds); each chunk is checked
and converted by :func:`slowfast_det.ava.box_rows.validate_box_rows`.
"""

import re
import warnings

from .box_rows import BOX_COLUMNS, BoxTable, validate_box_rows
from .errors import AVAFormatError
from .file_text import not_text_error, text_source

__all__ = ["read_box_csv", "iter_box_csv"]


def _last_name(kind):
    return "person_id" if kind == "groundtruth" else "score"


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
        yield validate_box_rows(empty, 1, path, kind, official_scores, state)
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
            yield validate_box_rows(df, first_line, path, kind, official_scores, state)
            first_line += n
