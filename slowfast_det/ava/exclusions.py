"""Reading an AVA excluded-timestamps CSV (``video_id,timestamp`` rows) into a set of keys."""

import csv
import io
import os

from .errors import AVAFormatError, check_video_id, warn_spaced_id
from .file_text import check_nul, other_separator, read_text
from .timestamps import parse_timestamp

__all__ = ["read_exclusions"]


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
            warn_spaced_id(path, i, video_id)
        try:
            float(t)
        except ValueError:
            raise AVAFormatError(path, i, "timestamp", f"not a number: {t!r}")
        try:
            keys.add((video_id, parse_timestamp(t)))  # 0902 = 902.0; 902.5 its own key
        except ValueError:
            raise AVAFormatError(path, i, "timestamp", f"not a finite number: {t!r}")
    return keys
