"""The readers for the AVA file formats (see ``datasets/README.md``), in one place.

All readers validate as they read: a malformed row raises :class:`AVAFormatError` whose
message names the file, the 1-based line and the field. Each lives in its own module and is
re-exported here, the import path the rest of the package and the tools use:

- box CSVs (ground truth, predicted person boxes, detections): :mod:`.box_csv` reads them,
  :mod:`.box_rows` checks and converts their rows into a :class:`BoxTable`;
- excluded-timestamps CSVs: :mod:`.exclusions`;
- PySlowFast frame lists: :mod:`.frame_list`; label maps: :mod:`.label_map`;
- the error and the video-id rules: :mod:`.errors`.

Box CSV rows (no header): ``video_id, timestamp, x1, y1, x2, y2, action_id, last``, where
``last`` is the person id (ground truth) or the score (predictions). A row with only
``video_id, timestamp`` marks a keyframe without boxes.

What every reader accepts (:mod:`.file_text`): UTF-8 or UTF-16-with-BOM text, ``.gz`` by
name; a NUL byte, other encodings and a misnamed gzip file are errors naming the line.
Video ids are kept exactly as written, spaces included, as the official script keys them
(``'vid '`` and ``'vid'`` are two videos): the readers warn about ids with leading or
trailing spaces instead of stripping them.
"""

from .box_csv import iter_box_csv, read_box_csv
from .box_rows import BOX_COLUMNS, BoxTable
from .errors import AVAFormatError, check_video_id
from .exclusions import read_exclusions
from .frame_list import FRAME_LIST_HEADER, frame_list_has_header, read_frame_list
from .label_map import read_label_map

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
