"""Resumable inference on AVA-format keyframes (``tools/infer_ava.py``).

:class:`ResumableResultsWriter` makes the results CSV survive interruptions: the rows of
finished keyframes are appended to ``<out>.partial`` in chunks, each chunk flushed and
fsync'ed before a commit record (the byte length of ``.partial`` and the chunk's keys)
is appended, and fsync'ed, to ``<out>.progress``. A new run with the same inputs reads
the commit log, cuts ``.partial`` back to the last commit (dropping the rows of a chunk
that was being written when the run stopped, so no keyframe is written twice) and skips
the committed keyframes. When every keyframe is committed, ``.partial`` is renamed to
``<out>`` (atomic) and the log is removed: the CSV is complete or absent.

:class:`ResumableDetectionsWriter` (``tools/infer_ava.py``) keeps the same commit log over a
journal of the keyframes' results (``.partial``: one JSON line per keyframe, exact values)
and writes the detections CSV once, at the end, with the evaluator's writer
(:func:`~slowfast_det.ava.files.write_detections_csv`); the CSV is never read back.
"""

import hashlib
import json
import logging
import os

import numpy as np
import torch
from tqdm import tqdm

from slowfast_det.ava.files import write_detections_csv
from slowfast_det.ava.timestamps import normalize
from slowfast_det.evaluation.evaluator import keyframe_result

__all__ = [
    "ResumableResultsWriter",
    "ResumableDetectionsWriter",
    "run_fingerprint",
    "run_inference",
]

logger = logging.getLogger(__name__)


def run_fingerprint(cfg_dump, files, extra=()):
    """A short hash of what determines the results: the config text, the input files
    (path, size, modification time) and any extra strings."""
    h = hashlib.sha256(cfg_dump.encode())
    for p in files:
        if p and os.path.exists(p):
            st = os.stat(p)
            h.update(f"{os.path.abspath(p)}|{st.st_size}|{st.st_mtime_ns}".encode())
        else:
            h.update(f"{p}|absent".encode())
    for e in extra:
        h.update(str(e).encode())
    return h.hexdigest()[:16]


class ResumableResultsWriter:
    """Append-only results CSV with a commit log.

    Args:
        path: the final CSV.
        fingerprint: identifies the run's inputs (see :func:`run_fingerprint`); a commit
            log written by a run with another fingerprint is refused unless ``restart``.
        format_chunk: callable ``items -> str`` giving the CSV text of a chunk's results.
        restart: discard an earlier partial run instead of continuing it.

    Attributes:
        done: set of keys already committed (skip them).
    """

    def __init__(self, path, fingerprint, format_chunk, restart=False):
        self.path = path
        self.partial = path + ".partial"
        self.log = path + ".progress"
        self.fingerprint = fingerprint
        self.format_chunk = format_chunk
        self.done = set()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if restart:
            for p in (self.partial, self.log):
                if os.path.exists(p):
                    os.remove(p)
        if not (os.path.exists(self.log) and self._resume()):
            if os.path.exists(self.partial):
                os.remove(self.partial)  # rows without a commit log cannot be trusted
            with open(self.partial, "wb") as f:
                os.fsync(f.fileno())
            self._append_log({"fingerprint": fingerprint})

    def _append_log(self, record):
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _resume(self):
        """Continue the run the commit log describes; False if it has no complete record."""
        with open(self.log, "rb") as f:
            raw = f.read()
        # A record is a complete line; the last line may be torn by an interruption (no
        # newline yet): it is cut off so that new records start on a fresh line.
        complete = raw[: raw.rfind(b"\n") + 1]
        if len(complete) < len(raw):
            logger.info(
                "%s: dropping a torn last record (%d bytes)", self.log, len(raw) - len(complete)
            )
            with open(self.log, "r+b") as f:
                f.truncate(len(complete))
                f.flush()
                os.fsync(f.fileno())
        records = []
        for lineno, line in enumerate(complete.splitlines(), 1):
            try:
                records.append(json.loads(line))
            except ValueError:
                raise ValueError(
                    f"{self.log}:{lineno}: corrupt progress record; pass --restart to start over"
                ) from None
        if not records:
            return False  # interrupted before the first record: nothing was committed
        if records[0].get("fingerprint") is None:
            raise ValueError(
                f"{self.log}:1: field 'fingerprint' missing; delete the file or pass --restart"
            )
        if records[0]["fingerprint"] != self.fingerprint:
            raise ValueError(
                f"{self.log}: written by a run with other inputs or config "
                f"(fingerprint {records[0]['fingerprint']} != {self.fingerprint}); "
                "pass --restart to start over"
            )
        offset = 0
        for i, rec in enumerate(records[1:], 2):
            keys = rec.get("keys")
            if not isinstance(keys, list) or not isinstance(rec.get("offset"), int):
                raise ValueError(f"{self.log}:{i}: field 'keys'/'offset' missing; pass --restart")
            dup = self.done.intersection(keys)
            if dup:
                raise ValueError(f"{self.log}:{i}: keys committed twice: {sorted(dup)[:5]}")
            self.done.update(keys)
            offset = rec["offset"]
        size = os.path.getsize(self.partial) if os.path.exists(self.partial) else -1
        if size < offset:
            raise ValueError(
                f"{self.partial}: {size} bytes but {offset} were committed; the partial results "
                "are lost, pass --restart"
            )
        if size > offset:
            logger.info(
                "%s: dropping %d bytes of an uncommitted chunk", self.partial, size - offset
            )
        with open(self.partial, "r+b") as f:
            f.truncate(offset)
            f.flush()
            os.fsync(f.fileno())
        logger.info("resuming %s: %d keyframes already done", self.path, len(self.done))
        return True

    def commit(self, keys, items):
        """Append ``items`` (the results of keyframes ``keys``) durably, then record the commit."""
        keys = list(keys)
        dup = self.done.intersection(keys)
        if dup:
            raise ValueError(f"keyframes committed twice: {sorted(dup)[:5]}")
        with open(self.partial, "ab") as f:
            f.write(self.format_chunk(items).encode())
            f.flush()
            os.fsync(f.fileno())
            offset = f.tell()
        self._append_log({"offset": offset, "keys": keys})
        self.done.update(keys)

    def finish(self, expected_keys):
        """Make the final file (:meth:`write_output`) once every expected key is committed,
        then remove the commit log."""
        missing = set(expected_keys) - self.done
        if missing:
            raise RuntimeError(
                f"{self.path}: {len(missing)} keyframes not done yet, e.g. {sorted(missing)[:5]}"
            )
        self.write_output()
        os.remove(self.log)

    def write_output(self):
        """The final file from the committed chunks: ``.partial`` renamed to ``path``."""
        os.replace(self.partial, self.path)


class ResumableDetectionsWriter(ResumableResultsWriter):
    """Keyframe results committed to a journal; the detections CSV written once at the end.

    The items are :func:`~slowfast_det.evaluation.evaluator.keyframe_result` tuples
    ``(video_id, timestamp, boxes float64 (R, 4) normalised, scores float32 (R, len(class_ids)))``.
    ``.partial`` holds one JSON line per keyframe with these values (exact: JSON numbers
    round-trip float64, so float32 too); a resumed run reads the committed lines back into
    :attr:`results`. :meth:`finish` writes ``path`` with
    :func:`~slowfast_det.ava.files.write_detections_csv` (atomic; rows
    ``video_id,timestamp,x1,y1,x2,y2,action_id,score``, keyframes by (video, time)) and
    removes the journal and the log.

    Args:
        path, fingerprint, restart: as :class:`ResumableResultsWriter`.
        class_ids: the action id of each score column.
    """

    def __init__(self, path, fingerprint, class_ids, restart=False):
        self.class_ids = [int(c) for c in class_ids]
        self.results = []
        super().__init__(path, fingerprint, _journal_lines, restart=restart)
        if self.done:
            self.results = self._read_journal()

    def _read_journal(self):
        n = len(self.class_ids)
        results = []
        with open(self.partial, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                try:
                    rec = json.loads(line)
                    boxes = np.asarray(rec["boxes"], dtype=np.float64).reshape(-1, 4)
                    scores = np.asarray(rec["scores"], dtype=np.float32).reshape(len(boxes), n)
                    key = (str(rec["video_id"]), normalize(rec["timestamp"]))
                except (ValueError, KeyError, TypeError) as e:
                    raise ValueError(
                        f"{self.partial}:{lineno}: corrupt result record ({e}); pass --restart"
                    ) from None
                results.append((*key, boxes, scores))
        return results

    def commit(self, keys, items):
        super().commit(keys, items)
        self.results.extend(items)

    def write_output(self):
        write_detections_csv(self.results, self.class_ids, self.path)
        os.remove(self.partial)


def _journal_lines(items):
    """One JSON line per keyframe result (see :class:`ResumableDetectionsWriter`)."""
    lines = []
    for v, t, b, s in items:
        record = {
            "video_id": v,
            "timestamp": t,
            "boxes": np.asarray(b).tolist(),
            "scores": np.asarray(s).tolist(),
        }
        lines.append(json.dumps(record, allow_nan=False) + "\n")
    return "".join(lines)


class PendingCommit:
    """Keyframe results waiting to be committed together to a :class:`ResumableResultsWriter`,
    with the run's counts (``stats["keyframes"]``, ``stats["boxes"]``), its progress bar and an
    optional ``after_commit(keyframes done)`` callback. ``keys`` may hold keyframes without an
    item (done, nothing to write)."""

    def __init__(self, writer, stats, bar, after_commit=None):
        self.writer, self.stats, self.bar, self.after_commit = writer, stats, bar, after_commit
        self.keys, self.items = [], []

    def commit(self):
        self.writer.commit(self.keys, self.items)
        self.stats["keyframes"] += len(self.keys)
        self.stats["boxes"] += sum(len(item[2]) for item in self.items)
        self.bar.update(len(self.keys))
        self.keys.clear()
        self.items.clear()
        if self.after_commit is not None:
            self.after_commit(self.stats["keyframes"])


def run_inference(
    model, loader, keys, writer, class_ids, commit_every=64, progress=True, after_commit=None
):
    """Run ``model`` over ``loader`` and commit the results to ``writer`` in chunks.

    Args:
        model: in eval mode; called on each batch (list of mapper outputs).
        loader: yields batches in the order of ``keys`` (Detectron2's inference loader does);
            keyframes it leaves out (unreadable clips) are committed with no rows.
        keys: image ids of the keyframes to do, in loader order.
        writer: :class:`ResumableDetectionsWriter` (its chunks: lists of
            :func:`~slowfast_det.evaluation.evaluator.keyframe_result`).
        class_ids: the action ids written (sorted).
        commit_every: keyframes per commit.
        progress: show a tqdm progress bar over all keyframes (done ones included).
        after_commit: optional callable(number of keyframes committed in this run), called
            after each commit (tests use it to interrupt a run).
    Returns:
        dict: ``keyframes`` done in this run, ``skipped`` (left out by the loader),
            ``boxes`` scored.
    """
    position = {k: i for i, k in enumerate(keys)}
    next_index = 0  # keys[:next_index] are done or pending
    stats = {"keyframes": 0, "skipped": 0, "boxes": 0}
    bar = tqdm(
        total=len(writer.done) + len(keys),
        initial=len(writer.done),
        unit="keyframe",
        disable=not progress,
    )
    pending = PendingCommit(writer, stats, bar, after_commit)

    def left_out(upto):
        nonlocal next_index
        for k in keys[next_index:upto]:
            logger.warning(
                "keyframe %s: left out by the data loader (no readable frame); no results written",
                k,
            )
            stats["skipped"] += 1
            pending.keys.append(k)
        next_index = max(next_index, upto)

    with torch.no_grad():
        for batch in loader:
            outputs = model(batch)
            for sample, out in zip(batch, outputs):
                i = position.get(sample["image_id"])
                if i is None or i < next_index:
                    raise RuntimeError(
                        f"data loader returned keyframe {sample['image_id']} out of order or twice"
                    )
                left_out(i)
                pending.keys.append(sample["image_id"])
                pending.items.append(keyframe_result(sample, out["instances"], class_ids))
                next_index = i + 1
            if len(pending.keys) >= commit_every:
                pending.commit()
    left_out(len(keys))
    if pending.keys:
        pending.commit()
    bar.close()
    return stats
