"""Video lists of classification datasets (Kinetics, Charades, your own) -> dataset dicts.

One config-free dict per video (``docs/DATAFLOW.md``)::

    {"video_id": str (unique), "file_name": movie path  |  "frame_dir": str, "num_frames": int,
     "label": int (single-label, 0..K-1)  |  "labels": sorted list[int] (multi-label),
     "line": int (line of the list file; 0 for folders)}

Frame folders may also carry ``"frames"`` (a :class:`~.frames.FrameTable` of the frame paths,
Charades) and ``"first_frame"`` (MMAction2's offset: the folder's frame files from that
position on).

Formats (``fmt``):

- ``"pyslowfast"``: ``path label`` split by ``separator`` (PySlowFast's
  ``DATA.PATH_LABEL_SEPARATOR``, a space); ``path fn label`` and ``path`` alone also parse as
  PySlowFast parses them (a list whose lines have no label gives every video label 0, with a
  warning; a list mixing both is an error).
- ``"mmaction_video"``: MMAction2's ``VideoDataset``: ``path l1 [l2 ...]`` (``separator`` its
  ``delimiter``; a space means runs of white space); multi-label when any line has several.
- ``"mmaction_rawframes"``: ``RawframeDataset``: ``frame_dir total_frames label [label ...]``
  or, with offsets, ``frame_dir start total_frames label`` (``with_offset``; None: the offset
  form when every line has exactly 4 fields and the list is not declared multi-label).
- ``"charades"``: PySlowFast's Charades frame lists (header ``original_vido_id video_id
  frame_id path labels``), read by :func:`slowfast_det.ava.frame_list.read_frame_list`; each
  video's labels are the union of its frames' comma-separated labels.
- ``"folders"``: ``<root>/<class>/<video file>``; the classes are the sorted folder names.

Paths are relative to ``root`` (absolute ones are kept). Class names come from a label-names
file (:func:`~.label_names.read_label_names`) or else are ``"0" .. "K-1"``, K the largest
label + 1.

Bad input: a line that cannot be parsed (wrong separator, non-integer label, label outside the
label names, duplicate video) raises :class:`~slowfast_det.ava.errors.AVAFormatError` naming
the file, line and field; the file's bytes are read as every AVA reader reads them
(:mod:`slowfast_det.ava.file_text`: UTF-8 / UTF-16, ``.gz``, NUL bytes).
"""

import io
import logging
import os
from dataclasses import dataclass

from slowfast_det.ava.errors import AVAFormatError
from slowfast_det.ava.file_text import check_nul, other_separator, read_text
from slowfast_det.ava.frame_list import read_frame_list

from .frames import FrameTable
from .label_names import INTEGER as _INT

__all__ = [
    "VIDEO_FILE_EXTENSIONS",
    "VIDEO_LIST_FORMATS",
    "VideoList",
    "read_video_list",
]

logger = logging.getLogger(__name__)

VIDEO_LIST_FORMATS = ("pyslowfast", "mmaction_video", "mmaction_rawframes", "charades", "folders")
#: Files taken as videos in class folders (``fmt="folders"``).
VIDEO_FILE_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg")


@dataclass
class VideoList:
    """A parsed list: the dataset dicts, the class names (index = label) and whether the
    dicts carry ``"labels"`` (multi-label) or ``"label"``."""

    dicts: list
    class_names: list
    multi_label: bool


# --------------------------------------------------------------------------- list lines


def _lines(path):
    """(line number, stripped text) of the non-blank lines, as the AVA readers read bytes."""
    text = read_text(path)
    check_nul(text, path, lambda prefix: None)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [(n, s.strip()) for n, s in enumerate(text.split("\n"), 1) if s.strip()]


def _label(path, line, text, num_classes, field="label"):
    if not _INT.match(text):
        raise AVAFormatError(path, line, field, f"not an integer label: {text!r}")
    label = int(text)
    if label < 0:
        raise AVAFormatError(path, line, field, f"negative label {label}")
    if num_classes is not None and label >= num_classes:
        raise AVAFormatError(
            path,
            line,
            field,
            f"label {label} outside the {num_classes} label names (0..{num_classes - 1})",
        )
    return label


def _separator_hint(text, sep):
    other = other_separator(text, expected=sep)
    return (
        f": the line is separated by {other}, not {sep!r} (the separator argument)" if other else ""
    )


def _split(fmt, text, sep):
    if fmt == "mmaction_rawframes" or (sep == " " and fmt == "mmaction_video"):
        return text.split()
    return [f.strip() for f in text.split(sep)]


def _parse_line(fmt, path, n, text, sep, num_classes, with_offset):
    """One line -> (path or frame dir, labels list or None (no label), extra dict)."""
    f = _split(fmt, text, sep)
    extra = {}
    if fmt == "pyslowfast":
        if len(f) == 1:
            hint = _separator_hint(text, sep)
            if hint:
                raise AVAFormatError(path, n, "label", "missing" + hint)
            return f[0], None, extra
        if len(f) > 3:
            raise AVAFormatError(
                path,
                n,
                "path",
                f"{len(f)} fields separated by {sep!r}; expected 'path label' ('path fn label' "
                "and 'path' alone also parse; a path with the separator in it needs another one)",
            )
        labels = [_label(path, n, f[-1], num_classes)]
    elif fmt == "mmaction_video":
        if len(f) < 2:
            raise AVAFormatError(path, n, "label", "missing" + _separator_hint(text, sep))
        labels = [_label(path, n, x, num_classes) for x in f[1:]]
    else:  # mmaction_rawframes
        need = 4 if with_offset else 3
        if len(f) < need:
            form = (
                "frame_dir start total_frames label"
                if with_offset
                else "frame_dir total_frames label"
            )
            raise AVAFormatError(
                path,
                n,
                "label",
                f"missing: {len(f)} fields, expected '{form}'" + _separator_hint(text, " "),
            )
        if with_offset:
            start = f[1]
            if not _INT.match(start) or int(start) < 0:
                raise AVAFormatError(path, n, "start", f"not a frame offset >= 0: {start!r}")
            extra["first_frame"] = int(start)
        total = f[2 if with_offset else 1]
        if not _INT.match(total) or int(total) < 1:
            raise AVAFormatError(path, n, "total_frames", f"not a frame count >= 1: {total!r}")
        extra["num_frames"] = int(total)
        labels = [_label(path, n, x, num_classes) for x in f[need - 1 :]]
    if not f[0]:
        raise AVAFormatError(
            path, n, f"{'frame_dir' if fmt == 'mmaction_rawframes' else 'path'}", "empty"
        )
    return f[0], labels, extra


def _fail(error, bad_lines):
    """Raise ``error``, or record it in ``bad_lines`` (a list: the checker lists every one)."""
    if bad_lines is None:
        raise error
    bad_lines.append(error)


def _line_entries(fmt, path, sep, num_classes, multi_label, with_offset, bad_lines):
    """(line, video id, location keys, labels or None) of the lines of a line-per-video list."""
    lines = _lines(path)
    if fmt == "mmaction_rawframes" and with_offset is None:
        with_offset = multi_label is not True and bool(lines)
        with_offset = with_offset and all(len(t.split()) == 4 for _, t in lines)
        if with_offset:
            logger.info(
                "%s: every line has 4 fields: read as MMAction2's offset form 'frame_dir start "
                "total_frames label' (with_offset=False or multi_label=True: 'frame_dir "
                "total_frames label label')",
                path,
            )
    out = []
    for n, text in lines:
        try:
            where, labels, extra = _parse_line(fmt, path, n, text, sep, num_classes, with_offset)
        except AVAFormatError as e:
            _fail(e, bad_lines)
            continue
        out.append((n, where, extra, labels))
    return out


def _read_frame_rows(path, bad_lines, max_bad=200):
    """:func:`read_frame_list` with the labels; with ``bad_lines`` every bad row is recorded
    and left out (the file is re-read with the row neutralised), None when the file as a whole
    is unreadable."""
    if bad_lines is None:
        return read_frame_list(path, labels=True)
    source, lines, bad = path, None, set()
    while True:
        try:
            rows = read_frame_list(source, labels=True)
            return rows[~rows["line"].isin(bad)]
        except AVAFormatError as e:
            bad_lines.append(AVAFormatError(path, e.line, e.field, e.message))
            if e.whole_file or e.line is None or e.line in bad or len(bad) >= max_bad:
                return None
            if lines is None:
                lines = read_text(path).replace("\r\n", "\n").replace("\r", "\n").split("\n")
            bad.add(e.line)
            lines[e.line - 1] = '__bad_row__ 0 0 __bad_row__/x.jpg ""'
            source = io.StringIO("\n".join(lines))


def _charades_entries(path, num_classes, bad_lines):
    """Entries of a Charades frame list: one per video, its frames in frame-id order and the
    union of their labels."""
    rows = _read_frame_rows(path, bad_lines)
    if rows is None or len(rows) == 0:
        return []
    label_sets = {}
    for text, n in rows.drop_duplicates("labels")[["labels", "line"]].itertuples(index=False):
        try:
            label_sets[text] = [
                _label(path, int(n), x.strip(), num_classes, "labels")
                for x in text.split(",")
                if text
            ]
        except AVAFormatError as e:
            _fail(e, bad_lines)
            label_sets[text] = []
    rows = rows.sort_values("frame_id", kind="stable")
    out = []
    for vid, group in rows.groupby("video_id", sort=False):
        labels = sorted({a for t in group["labels"].unique() for a in label_sets[t]})
        out.append((int(group["line"].min()), vid, {"frames": group["path"].tolist()}, labels))
    return sorted(out, key=lambda e: e[0])


def _read_folders(root, class_names):
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"video folders root not found: {root}")
    classes = sorted(
        d
        for d in os.listdir(root)
        if not d.startswith(".") and os.path.isdir(os.path.join(root, d))
    )
    if not classes:
        raise ValueError(f"{root}: no class folders (expected <root>/<class>/<video file>)")
    names = classes if class_names is None else list(class_names)
    index = {c: i for i, c in enumerate(names)}
    dicts = []
    for c in classes:
        if c not in index:
            raise ValueError(
                f"{os.path.join(root, c)}: class folder not among the {len(names)} label names"
            )
        folder = os.path.join(root, c)
        for f in sorted(os.listdir(folder)):
            p = os.path.join(folder, f)
            if os.path.splitext(f)[1].lower() in VIDEO_FILE_EXTENSIONS and os.path.isfile(p):
                dicts.append({"video_id": f"{c}/{f}", "file_name": p, "label": index[c], "line": 0})
    return VideoList(dicts, names, False)


def read_video_list(
    list_file,
    root=None,
    *,
    fmt,
    class_names=None,
    separator=" ",
    multi_label=None,
    with_offset=None,
    bad_lines=None,
):
    """Parse a video list into dataset dicts (see the module doc for the formats).

    Args:
        list_file: the list (None for ``fmt="folders"``).
        root: folder the list's paths are relative to (default: the list's folder); the class
            folders for ``"folders"``.
        class_names: the label names (index = label), e.g. ``read_label_names(file)``; labels
            must be below their number. None: ``"0" .. "K-1"``, K the largest label + 1.
        separator: field separator of ``"pyslowfast"`` / ``"mmaction_video"`` lines.
        multi_label: None: multi-label when a line has several labels (always for Charades).
        with_offset: ``"mmaction_rawframes"``' offset form (None: see the module doc).
        bad_lines: None: the first bad line raises; a list: every bad line's
            :class:`AVAFormatError` is appended to it and the line left out (the checker).

    Returns:
        :class:`VideoList`, dicts in list order.
    """
    if fmt not in VIDEO_LIST_FORMATS:
        raise ValueError(f"video list format {fmt!r} is not one of {VIDEO_LIST_FORMATS}")
    if fmt == "folders":
        return _read_folders(root, class_names)
    if list_file is None:
        raise ValueError(f"a {fmt!r} video list needs its list file")
    if fmt == "charades" and multi_label is False:
        raise ValueError("Charades frame lists are multi-label (multi_label=False given)")
    if not os.path.isfile(list_file):
        raise FileNotFoundError(f"video list not found: {list_file}")
    root = os.path.abspath(os.path.expanduser(root or os.path.dirname(list_file) or "."))
    k = None if class_names is None else len(class_names)
    if fmt == "charades":
        entries = _charades_entries(list_file, k, bad_lines)
    else:
        entries = _line_entries(fmt, list_file, separator, k, multi_label, with_offset, bad_lines)
    unlabeled = [e for e in entries if e[3] is None]
    if unlabeled and len(unlabeled) < len(entries):
        labeled = next(e[0] for e in entries if e[3] is not None)
        for e in unlabeled:
            _fail(
                AVAFormatError(
                    list_file,
                    e[0],
                    "label",
                    f"missing, while line {labeled} has one: a list labels every video or none",
                ),
                bad_lines,
            )
        entries = [e for e in entries if e[3] is not None]
    elif unlabeled:
        logger.warning(
            "%s: no line has a label: every video gets label 0 (as PySlowFast reads such lists)",
            list_file,
        )
        entries = [(n, w, x, [0]) for n, w, x, _ in entries]
    multi = fmt == "charades" if multi_label is None else bool(multi_label)
    multi = multi or (multi_label is None and any(len(e[3]) > 1 for e in entries))
    field = {"mmaction_rawframes": "frame_dir", "charades": "video_id"}.get(fmt, "path")
    dicts, seen = [], {}
    for n, where, extra, labels in entries:
        if not multi and len(labels) != 1:
            _fail(
                AVAFormatError(list_file, n, "label", "several labels (multi_label=False)"),
                bad_lines,
            )
            continue
        if where in seen:
            _fail(
                AVAFormatError(
                    list_file, n, field, f"video {where!r} repeated (line {seen[where]})"
                ),
                bad_lines,
            )
            continue
        seen[where] = n
        d = {"video_id": where}
        if fmt in ("pyslowfast", "mmaction_video"):
            d["file_name"] = os.path.join(root, where)
        elif fmt == "charades":
            frames = [os.path.join(root, p) for p in extra["frames"]]
            d.update(frame_dir=os.path.dirname(frames[0]), num_frames=len(frames))
            d["frames"] = FrameTable(frames)
        else:
            d.update(frame_dir=os.path.join(root, where), **extra)
        d.update({"labels": sorted(set(labels))} if multi else {"label": labels[0]})
        d["line"] = n
        dicts.append(d)
    if class_names is None:
        top = max((a for e in entries for a in (e[3] or [])), default=0)
        class_names = [str(i) for i in range(top + 1)]
    return VideoList(dicts, list(class_names), multi)
