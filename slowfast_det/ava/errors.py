"""The error every AVA reader raises, and the video-id rules they share.

Kept apart from the readers so that the label-map parser, the readers and the shared
checks (:mod:`.ava_checks`) can all import it without importing each other.
"""

import logging
import os

__all__ = ["AVAFormatError", "check_video_id", "warn_spaced_id"]

logger = logging.getLogger(__name__)


class AVAFormatError(ValueError):
    """A malformed AVA input file; the message names the file, line and field.

    ``whole_file`` marks an error about the file as a whole (e.g. the wrong separator), so
    that a caller collecting every bad row (the dataset checker) reports it once.
    """

    def __init__(self, path, line, field_name, message, *, whole_file=False):
        self.path, self.line, self.field, self.message = path, line, field_name, message
        self.whole_file = whole_file
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


def warn_spaced_id(path, line, video_id):
    """Warn that ``video_id`` (at ``path:line``) has leading or trailing spaces; the readers
    keep it as written, as the official script does, and call this for the first one of a file."""
    logger.warning(
        "%s:%s: video id %r has leading or trailing spaces: kept as written, as the official "
        "script keys it (%r is another video); more such ids are not reported",
        path,
        line,
        video_id,
        video_id.strip(),
    )
