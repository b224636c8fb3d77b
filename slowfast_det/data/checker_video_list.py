"""Check a classification video list before training (``tools/check_ava_dataset.py
--video-list FILE --format F``).

:func:`check_video_list` parses the list as the loader does (:mod:`.video_lists`) but lists
every bad line instead of stopping at the first, then looks at every listed video: a movie
must exist and give a frame (its header read and its middle frame decoded with
``verify_images="keyframes"``, the default; decoded to its end with ``"all"``, which finds
truncated files), a frame folder must hold its listed frames. It returns the
:class:`~.checker_report.AVACheckReport` of the AVA checker (same categories where they mean the
same, ``report.ok``, ``report.format()``).
"""

import os
from collections import Counter

from slowfast_det.ava.errors import AVAFormatError

from .checker_video import TRUNCATION_SLACK, decode_to_end
from .decode import read_frame
from .label_names import read_label_names
from .movie_frames import MOVIE_ERRORS
from .video_clips import VideoClipReader
from .video_lists import read_video_list

__all__ = ["VIDEO_LIST_PROBLEMS", "VIDEO_LIST_WARNINGS", "check_video_list"]

#: Problem categories of video lists (the others are the AVA checker's).
VIDEO_LIST_PROBLEMS = {
    "missing_listed_video": "listed video (movie or frame folder) not on disk",
    "unreadable_listed_video": (
        "listed video that gives no frame (cannot be opened, no video stream, no readable frame)"
    ),
    "missing_frame_files": "frame folder with fewer frame files than the list says",
    "unreadable_frame_files": "frame files that cannot be decoded (verify_images 'all')",
}
#: Warning categories of video lists.
VIDEO_LIST_WARNINGS = {
    "class_without_videos": "class with no video in the list",
}


def _where(list_file, d):
    return f"{list_file}:{d['line']}: {d['video_id']}" if d.get("line") else d["video_id"]


def _check_movie(d, where, reader, verify, report):
    path = d["file_name"]
    if not os.path.isfile(path):
        report.add("missing_listed_video", f"{where}: {path}")
        return
    if verify == "none":
        return
    info, why = reader.info(d)
    if info is None:
        report.add("unreadable_video", f"{where}: {why}")
        return
    if verify == "keyframes":
        (frame,), error = reader.read(d, [info.last_time / 2])
        if frame is None:
            report.add("unreadable_listed_video", f"{where}: no frame at its middle: {error}")
    else:  # "all": decoded to its end
        try:
            end, error = decode_to_end(path)
        except MOVIE_ERRORS as e:
            end, error = None, str(e)
        if error or (end or 0) < info.duration - TRUNCATION_SLACK:
            got = "no frame" if end is None else f"frames up to {float(end):.2f} s"
            why = f"; {error}" if error else ""
            report.add(
                "truncated_video",
                f"{where}: {got} of the {float(info.duration):.2f} s its header declares{why}",
            )


def _check_frames(d, where, reader, verify, report):
    if d.get("frames") is None and not os.path.isdir(d["frame_dir"]):
        report.add("missing_listed_video", f"{where}: {d['frame_dir']}")
        return
    paths = reader.frame_paths(d)
    missing = [k for k, p in enumerate(paths) if p is None or not os.path.isfile(p)]
    if missing:
        report.add(
            "missing_frame_files",
            f"{where}: {len(missing)} of its {len(paths)} frames missing (first: frame "
            f"{missing[0]}{'' if paths[missing[0]] is None else ', ' + paths[missing[0]]})",
        )
    if len(missing) == len(paths) or verify == "none":
        return
    info, why = reader.info(d)
    if info is None:
        report.add("unreadable_listed_video", f"{where}: {why}")
    elif verify == "all":
        bad = [p for k, p in enumerate(paths) if k not in set(missing) and read_frame(p) is None]
        if bad:
            report.add("unreadable_frame_files", f"{where}: {bad[0]}", len(bad))


def check_video_list(
    list_file,
    root=None,
    *,
    fmt,
    label_names=None,
    separator=" ",
    multi_label=None,
    with_offset=None,
    verify_images="keyframes",
    max_examples=5,
):
    """Check a video list and its videos (see the module doc).

    Args:
        list_file, root, fmt, separator, multi_label, with_offset: as
            :func:`~.classification.register_video_list`.
        label_names: a label-names file (:func:`~.label_names.read_label_names`) or None.
        verify_images: "none" (the files exist), "keyframes" (each video gives its middle
            frame) or "all" (movies decoded to their end, every frame file decoded).
    Returns:
        AVACheckReport; ``report.info["list"]`` has the videos, classes and label kind.
    """
    from .checker_report import AVACheckReport  # the report's module imports this one

    if verify_images not in ("none", "keyframes", "all"):
        raise ValueError(
            f"verify_images must be 'none', 'keyframes' or 'all', got {verify_images!r}"
        )
    report = AVACheckReport(
        root=list_file or root, max_examples=max_examples, title="Video list check"
    )
    names = None
    if label_names is not None:
        try:
            names = read_label_names(label_names)
        except FileNotFoundError:
            report.add("missing_file", f"{label_names} (the label names)")
        except AVAFormatError as e:
            report.add("bad_row", str(e))
    bad = []
    try:
        vl = read_video_list(
            list_file,
            root,
            fmt=fmt,
            class_names=names,
            separator=separator,
            multi_label=multi_label,
            with_offset=with_offset,
            bad_lines=bad,
        )
    except FileNotFoundError as e:
        report.add("missing_file", str(e))
        return report
    except AVAFormatError as e:  # the file as a whole (encoding, NUL byte, header)
        report.add("bad_row", str(e))
        return report
    for e in bad:
        report.add("bad_row", str(e))
    counts = Counter(a for d in vl.dicts for a in d.get("labels", [d.get("label")]))
    for k, name in enumerate(vl.class_names):
        if not counts[k]:
            report.add("class_without_videos", f"{k} {name}")
    frames = sum("file_name" not in d for d in vl.dicts)
    report.info["list"] = {
        "videos": len(vl.dicts),
        "classes": len(vl.class_names),
        "labels": "multi-label" if vl.multi_label else "single-label",
        "frame folders" if frames else "movies": frames or len(vl.dicts),
        "train with": f"MODEL.VIDEO_HEAD.NUM_CLASSES {len(vl.class_names)}",
    }
    reader = VideoClipReader(cache_size=1)
    try:
        for d in vl.dicts:
            check = _check_movie if "file_name" in d else _check_frames
            check(d, _where(list_file, d), reader, verify_images, report)
    finally:
        reader.close()
    return report
