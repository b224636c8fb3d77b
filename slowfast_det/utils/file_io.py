"""Files that are complete or absent: checkpoints, ``last_checkpoint``, evaluation results
and plots, ``final_metrics.json`` and the frame lists / CSVs the tools write all go through
:func:`atomic_path`. (Outputs built up over a long run, the resumable ``infer_ava`` CSV and
the demo video, and whole folders, the synthetic dataset and extracted frames, have their own
``partial``-then-rename steps.)

The data goes to a temporary file next to the target (``.<name>.<random>.tmp``, same folder,
so the rename cannot cross file systems), is fsynced, and replaces the target with
``os.replace``; the folder is fsynced too so that the rename survives a power cut. On an
exception the temporary file is removed. A process killed with SIGKILL mid-write cannot
clean up: :func:`remove_stale_temporaries` removes such leftovers later.
"""

import contextlib
import glob
import logging
import os
import tempfile
import time

__all__ = ["atomic_path", "remove_stale_temporaries", "TEMP_SUFFIX"]

logger = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def _fsync_path(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; write the file there. On success it is
    fsynced and replaces ``path`` (with the usual umask mode); on error it is removed, so
    ``path`` is either the complete new file or left as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX, dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
        _fsync_path(tmp)
        os.replace(tmp, path)
        _fsync_path(folder)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def remove_stale_temporaries(folder, older_than_s=600.0):
    """Remove temporary files that :func:`atomic_path` left in ``folder`` when its process
    was killed mid-write (``.<name>.<random>.tmp``), if unmodified for ``older_than_s``
    seconds: a file still being written by a live process is modified continuously and is
    left alone. Returns the removed paths (logged)."""
    now = time.time()
    removed = []
    for tmp in glob.glob(os.path.join(glob.escape(folder), f".*{TEMP_SUFFIX}")):
        try:
            if now - os.path.getmtime(tmp) >= older_than_s:
                os.remove(tmp)
                removed.append(tmp)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    if removed:
        logger.info(
            "Removed %d temporary file(s) left by interrupted writes in %s: %s",
            len(removed),
            folder,
            ", ".join(os.path.basename(p) for p in removed),
        )
    return removed
