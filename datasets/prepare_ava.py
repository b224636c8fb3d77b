#!/usr/bin/env python
"""Extract AVA frames from the downloaded movies (PySlowFast layout).

    .venv/bin/python datasets/prepare_ava.py --videos /data/ava/videos --root datasets/ava \\
        [--workers 8] [--split train=datasets/ava/annotations/ava_train_v2.2.csv ...] \\
        [--only=-5KQ66BBWC4 ...] [--backend ffmpeg]

For every movie ``<video_id>.<ext>`` in ``--videos`` it cuts 901 seconds from second 900
(``--start``, ``--duration``; as PySlowFast's DATASET.md: 27030 frames, so the last keyframe
1798's 64-frame clips are not clamped) and writes 30 fps JPEG frames
``frames/<video_id>/<video_id>_000001.jpg ...``, several movies in parallel, with a progress
bar.

The frames' origin: ``--start`` by default is AVA's second 900 when the splits' annotation
CSVs have no keyframe before second 900, else 0 (your own movies, annotated in movie seconds
from 0; ``--start`` sets it either way). ``--duration`` by default is AVA's 901 s from second
900, and each whole movie from any other start. The start and frame rate are recorded in
``frame_lists/frames.json`` (``{"start_second": S, "fps": F}``), which every tool reading these
frames uses (registration, ``check_ava_dataset``, ``detect_persons``, ``infer_ava``); a run
with another start or rate into the same ``--root`` stops (exit status 2) before extracting.
A movie shorter than the start fails with what to do (``--start 0`` for your own movies); a
source far from 30 fps gets the demo's frame-rate warning.

Decoding (``--backend pyav``, the default) uses PyAV, whose FFmpeg libraries are pinned by
requirements.txt, so no system ffmpeg is needed and the frames do not depend on the ffmpeg
on the machine (PySlowFast issue 112: the ffmpeg version alone moved AVA mAP by 3 points).
Frames are taken by time: frame ``k`` (file ``k + 1``) is the source frame whose presentation
interval contains ``t = start + k / 30`` seconds (see ``slowfast_det/data/movie_frames.py``;
25 fps movies repeat every fifth frame, 29.97 fps ones skip one frame in 1001). JPEGs are
written by FFmpeg's mjpeg encoder with the quantiser fixed at ``--quality``, the ffmpeg
``-q:v`` scale (1 best .. 31; ffmpeg clamps -q:v to its default qmin 2, so 1 and 2 give the
same JPEGs, and so does this path). ``--backend ffmpeg`` runs the ffmpeg binary instead
(``ffmpeg -ss 900 -t 901 -i MOVIE -r 30 -q:v 1 -start_number 1 <id>_%06d.jpg``; ffmpeg's own
frame-rate conversion).

Checks: a movie that cannot be opened fails. A movie that gives fewer frames than its
container declares (truncated download, decoding error part way) is "truncated": the frames
it gave are kept and listed, the shortfall is counted and printed, and the exit status is 1
unless ``--allow-truncated``. A movie that ends before ``start + duration`` by its own header
is listed with its frame count (not an error).

Resumable: each movie is extracted into ``frames/.tmp_<video_id>/`` and renamed to
``frames/<video_id>/`` when done, with a marker file ``.prepare_ava_done`` (frame count,
backend and decoder versions, truncation) inside; movies with a marker are skipped on the
next run, and leftovers of an interrupted run are redone.

Then it writes ``frame_lists/<split>.csv`` for each split: the split's video ids come from
``--split NAME=FILE`` (an AVA annotation CSV, or a text file with one id or file name per
line); by default from ``annotations/ava_{train,val}_v2.2.csv`` under ``--root``. When no
frame list can be written (no such files, or only AVA v2.1 names) it stops before extracting
anything, exit status 2, naming the files it looked for. Exit status 1 if any movie failed
or was truncated, or a split lists videos without frames.

Video ids that begin with '-' (``-5KQ66BBWC4``): ``--only=-5KQ66BBWC4`` always works, and so
does ``--only a -5KQ66BBWC4 b``.
"""

import argparse
import glob
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
from fractions import Fraction

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

import av
from tqdm import tqdm

from slowfast_det.ava.io import AVAFormatError, check_video_id, read_box_csv
from slowfast_det.ava.layout import (
    ANNOTATIONS_DIR,
    FRAME_LISTS_DIR,
    FRAMES_DIR,
    frame_file,
    frame_file_pattern,
    split_files,
)
from slowfast_det.data.frames import (
    AVA_START_SECOND,
    fps_warning,
    frame_origin_path,
    read_frame_origin,
    write_frame_origin,
)
from slowfast_det.data.movie_frames import (
    MOVIE_ERRORS,
    expected_frame_count,
    iter_frames_by_time,
    probe_movie,
)
from slowfast_det.utils.argv import attach_dash_values
from slowfast_det.utils.file_io import atomic_path

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")
MARKER = ".prepare_ava_done"
FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"
DEFAULT_SPLITS = ("train", "val")
#: seconds extracted from AVA's start (as PySlowFast)
AVA_DURATION = 901
#: a movie is "truncated" when it gives this many seconds less than its header declares
TRUNCATION_SLACK_SECONDS = 0.5


def find_videos(videos_dir):
    """video_id -> movie path for the movies in ``videos_dir`` (id = file name without
    extension)."""
    found = {}
    for name in sorted(os.listdir(videos_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in VIDEO_EXTENSIONS:
            continue
        check_video_id(stem, os.path.join(videos_dir, name))
        if stem in found:
            raise ValueError(
                f"two movies for video {stem!r}: {found[stem]} and {os.path.join(videos_dir, name)}"
            )
        found[stem] = os.path.join(videos_dir, name)
    return found


def ffmpeg_command(
    ffmpeg, video_path, out_dir, video_id, start=900, duration=901, fps=30, quality=1
):
    """The ffmpeg command extracting seconds [start, start + duration) of a movie as JPEG frames."""
    return [
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-ss",
        str(start),
        "-t",
        str(duration),
        "-i",
        video_path,
        "-r",
        str(fps),
        "-q:v",
        str(quality),
        "-start_number",
        "1",
        os.path.join(out_dir, frame_file_pattern(video_id)),
    ]


def frame_files(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".jpg"))


def jpeg_encoder(width, height, quality):
    """FFmpeg's mjpeg encoder with the quantiser fixed at ``quality`` (ffmpeg's -q:v, clamped
    to 2..31)."""
    q = min(31, max(2, int(quality)))
    enc = av.CodecContext.create("mjpeg", "w")
    enc.width, enc.height = width, height
    enc.pix_fmt = "yuvj420p"
    enc.time_base = Fraction(1, 30)
    enc.qmin = enc.qmax = q
    return enc


def extract_pyav(video_path, out_dir, video_id, start, duration, fps, quality):
    """Write the frames of one movie with PyAV; returns (frames written, decoder info dict)."""
    info, enc, last, data, n = {}, None, None, b"", 0
    for k, frame in iter_frames_by_time(video_path, start, duration, fps, info):
        if frame is not last:  # a repeated source frame is encoded once
            if enc is None:
                enc = jpeg_encoder(frame.width, frame.height, quality)
            img = frame.reformat(width=enc.width, height=enc.height, format="yuvj420p")
            img.pts, img.time_base = k, enc.time_base  # increasing in the encoder's time base
            data = b"".join(bytes(p) for p in enc.encode(img))
            if not data:
                raise RuntimeError(
                    f"{video_path}: the JPEG encoder returned no data for frame {k + 1}"
                )
            last = frame
        with open(os.path.join(out_dir, os.path.basename(frame_file(video_id, k + 1))), "wb") as f:
            f.write(data)
        n += 1
    return n, info


def extract_ffmpeg(video_path, out_dir, video_id, opts):
    cmd = ffmpeg_command(
        opts["ffmpeg"],
        video_path,
        out_dir,
        video_id,
        opts["start"],
        opts["duration"],
        opts["fps"],
        opts["quality"],
    )
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise RuntimeError(
            f"cannot run {cmd[0]!r}: {e}; the default --backend pyav needs no ffmpeg"
        ) from None
    n = len(frame_files(out_dir))
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-3:] if proc.stderr else []
        raise RuntimeError(f"ffmpeg exit {proc.returncode}, {n} frames: {' | '.join(err)}")
    return n, {"command": cmd}


def _decoder_versions():
    return {
        "av": av.__version__,
        "libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
    }


def extract_video(job):
    """Extract one movie. Returns (video_id, status, detail); status: done / truncated /
    skipped / failed."""
    video_id, video_path, frames_dir, opts = job
    final = os.path.join(frames_dir, video_id)
    marker = os.path.join(final, MARKER)
    start, duration, fps = opts["start"], opts["duration"], opts["fps"]
    if os.path.exists(marker):
        with open(marker) as f:
            done = json.load(f)
        if done.get("truncated"):
            return video_id, "truncated", f"already extracted, truncated: {done['truncated']}"
        return video_id, "skipped", "already extracted"
    tmp = os.path.join(frames_dir, f".tmp_{video_id}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        probe = probe_movie(video_path)
        length = probe["duration"]
        if length is not None and length <= start:
            raise ShortMovie(
                f"{video_path}: the movie is {float(length):.2f} s long, it ends before --start "
                f"{start}: nothing to extract (AVA's movies are cut from second 900; for your own "
                "movies, annotated in seconds from 0, use --start 0)"
            )
        if duration is None:  # the whole movie from start
            if length is None:
                raise ShortMovie(
                    f"{video_path}: its header gives no duration: pass --duration SECONDS"
                )
            duration = math.ceil(length - start) + 1
        if opts["backend"] == "ffmpeg":
            n, info = extract_ffmpeg(video_path, tmp, video_id, {**opts, "duration": duration})
        else:
            n, info = extract_pyav(video_path, tmp, video_id, start, duration, fps, opts["quality"])
    except ShortMovie as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return video_id, "failed", str(e)
    except (*MOVIE_ERRORS, RuntimeError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return video_id, "failed", f"{video_path}: cannot decode: {e}"
    wanted = expected_frame_count(start, duration, fps, None)
    declared = expected_frame_count(start, duration, fps, probe["duration"], probe["time_base"])
    if n == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        where = f"the movie declares {float(probe['duration'] or 0):.2f} s"
        hint = "; for your own movies, annotated in seconds from 0, use --start 0" if start else ""
        return (
            video_id,
            "failed",
            f"{video_path}: no frame in seconds [{start}, {start + duration}) ({where}); "
            f"{info.get('error', '')}{hint}",
        )
    truncated = None
    if info.get("error") or n < declared - TRUNCATION_SLACK_SECONDS * fps:
        truncated = (
            f"{n} of the {declared} frames the header declares were decoded "
            f"({declared - n} missing, frames {n + 1}..{declared})"
            + (f"; {info['error']}" if info.get("error") else "")
        )
    record = {
        "frames": n,
        "backend": opts["backend"],
        "start": start,
        "duration": duration,
        "fps": fps,
        "quality": opts["quality"],
        "source_fps": str(probe["fps"]),
        "truncated": truncated,
        **_decoder_versions(),
        **({"command": info["command"]} if "command" in info else {}),
    }
    with open(os.path.join(tmp, MARKER), "w") as f:
        json.dump(record, f)
    if os.path.exists(final):  # an earlier, unfinished or foreign extraction
        shutil.rmtree(final)
    os.replace(tmp, final)
    if truncated:
        return video_id, "truncated", truncated
    short = (
        f" (the movie ends before second {start + duration}: {wanted - n} frames fewer)"
        if n < wanted and opts["duration"] is not None
        else ""
    )
    rate = fps_warning(float(probe["fps"])) if probe["fps"] else None
    return video_id, "done", f"{n} frames{short}" + (f"; {rate}" if rate else "")


class ShortMovie(RuntimeError):
    """A movie with nothing to extract from the asked start (the message says what to do)."""


def read_split_ids(path):
    """Video ids of a split from an AVA annotation CSV or a text file of ids / file names."""
    if path.endswith(".csv"):
        table = read_box_csv(path, kind="proposals")
        return sorted({v for v, _ in table.keys})
    ids = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            name = line.strip()
            if not name:
                continue
            stem, ext = os.path.splitext(name)
            vid = stem if ext.lower() in VIDEO_EXTENSIONS else name
            ids.append(check_video_id(vid, path, lineno))
    return sorted(set(ids))


def resolve_splits(root, specs):
    """{split: id file} from ``--split NAME=FILE`` or the default v2.2 annotation files.

    Raises SystemExit (status 2) naming what is missing when no frame list could be written."""
    splits = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--split expects NAME=FILE, got {spec!r}")
        if not os.path.isfile(path):
            raise SystemExit(f"--split {name}: file not found: {path}")
        splits[name] = path
    if specs:
        return splits
    ann = os.path.join(root, ANNOTATIONS_DIR)
    looked = [os.path.join(root, split_files(name)["groundtruth_file"]) for name in DEFAULT_SPLITS]
    for name, path in zip(DEFAULT_SPLITS, looked):
        if os.path.exists(path):
            splits[name] = path
    if not splits:
        others = sorted(glob.glob(os.path.join(ann, "ava_*_v2.[0-9].csv")))
        hint = (
            f" Found {', '.join(os.path.basename(p) for p in others)}:"
            " other AVA versions are not read by default;"
            " pass them as --split train=FILE --split val=FILE."
            if others
            else " Download the AVA v2.2 annotations (datasets/README.md)"
            " or pass --split NAME=FILE."
        )
        print(
            f"prepare_ava: no frame list can be written: none of {', '.join(looked)} exists.{hint}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return splits


def default_start(splits):
    """``--start`` when not given: AVA's second 900, unless an annotation CSV of the splits
    has a keyframe before it (your own movies, annotated in movie seconds): then 0.

    Returns (start, why)."""
    earliest = None
    for path in splits.values():
        if not path.endswith(".csv"):
            continue  # a list of ids says nothing about times
        keys = read_box_csv(path, kind="proposals").keys
        if keys:
            first = min(t for _, t in keys)
            earliest = first if earliest is None else min(earliest, first)
    if earliest is not None and earliest < AVA_START_SECOND:
        return 0, (
            f"the annotations have keyframes from second {earliest:g}, before AVA's "
            f"{AVA_START_SECOND}: extracting from second 0 (--start sets it)"
        )
    return AVA_START_SECOND, None


def check_origin(root, start, fps):
    """Stop (exit status 2) before extracting when frames under ``root`` start elsewhere: the
    origin file says so, or a movie's marker (frames of a run before the file existed)."""
    path = frame_origin_path(os.path.join(root, FRAME_LISTS_DIR))
    try:
        recorded = read_frame_origin(path)
    except AVAFormatError as e:
        raise SystemExit(f"prepare_ava: {e}") from None
    found = []
    if recorded is not None:
        found.append((path, recorded.start_second, recorded.fps))
    frames_dir = os.path.join(root, FRAMES_DIR)
    for vid in sorted(os.listdir(frames_dir)) if os.path.isdir(frames_dir) else ():
        marker = os.path.join(frames_dir, vid, MARKER)
        if os.path.exists(marker):
            with open(marker) as f:
                done = json.load(f)
            found.append((os.path.join(frames_dir, vid), done.get("start"), done.get("fps")))
    other = [x for x in found if (x[1], x[2]) != (start, fps)]
    if other:
        where, first, rate = other[0]
        more = f" (and {len(other) - 1} more)" if len(other) > 1 else ""
        print(
            f"prepare_ava: {where}{more}: the frames under {root} start at second {first} at "
            f"{rate} fps; this run asks second {start} at {fps} fps: run with --start {first} "
            f"--fps {rate}, or extract into another --root",
            file=sys.stderr,
        )
        raise SystemExit(2)


def write_frame_list(root, split, video_ids):
    """Write frame_lists/<split>.csv for the extracted videos; returns the ids without frames."""
    frames_dir = os.path.join(root, FRAMES_DIR)
    rows, missing = [FRAME_LIST_HEADER], []
    for idx, vid in enumerate(video_ids):
        folder = os.path.join(frames_dir, vid)
        if not os.path.exists(os.path.join(folder, MARKER)):
            missing.append(vid)
            continue
        rows.extend(
            f'{vid} {idx} {i} {vid}/{name} ""' for i, name in enumerate(frame_files(folder))
        )
    with atomic_path(os.path.join(root, split_files(split)["frame_list_file"])) as tmp:
        with open(tmp, "w") as f:
            f.write("\n".join(rows) + "\n")
    return missing


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--videos", required=True, help="folder with the downloaded movies <video_id>.<ext>"
    )
    p.add_argument(
        "--root", required=True, help="AVA folder to write frames/ and frame_lists/ into"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=max(1, (os.cpu_count() or 2) // 2),
        help="movies decoded in parallel",
    )
    p.add_argument(
        "--backend",
        choices=("pyav", "ffmpeg"),
        default="pyav",
        help="decoder: PyAV (default, pinned by requirements.txt) or the ffmpeg binary",
    )
    p.add_argument("--ffmpeg", default="ffmpeg", help="ffmpeg executable (--backend ffmpeg)")
    p.add_argument(
        "--start",
        type=int,
        default=None,
        help="first second to extract (default: 900, AVA's, unless the annotations have "
        "keyframes before second 900: then 0)",
    )
    p.add_argument(
        "--duration",
        type=int,
        default=None,
        help=f"seconds to extract (default: {AVA_DURATION} from second 900, as PySlowFast; the "
        "whole movie from any other start)",
    )
    p.add_argument("--fps", type=int, default=30, help="output frame rate (default: %(default)s)")
    p.add_argument(
        "--quality", type=int, default=1, help="JPEG quantiser, ffmpeg's -q:v scale (1 best .. 31)"
    )
    p.add_argument(
        "--only",
        action="extend",
        nargs="+",
        default=None,
        metavar="VIDEO_ID",
        help="extract only these video ids (ids beginning with '-': --only=-5KQ66BBWC4)",
    )
    p.add_argument(
        "--split",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="video ids of a split (AVA annotation CSV or text list); repeatable",
    )
    p.add_argument(
        "--allow-truncated",
        action="store_true",
        help="truncated movies do not make the exit status 1",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    argv = sys.argv[1:] if argv is None else argv
    return p.parse_args(attach_dash_values(argv, multiple=("--only",)))


def main(argv=None):
    args = parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        raise SystemExit(f"--duration must be positive, got {args.duration}")
    if args.start is not None and args.start < 0:
        raise SystemExit(f"--start must be 0 or more, got {args.start}")
    splits = resolve_splits(args.root, args.split)
    if args.start is None:
        try:
            args.start, why = default_start(splits)
        except AVAFormatError as e:
            raise SystemExit(f"prepare_ava: {e}") from None
        if why:
            print(f"prepare_ava: {why}", file=sys.stderr)
    if args.duration is None and args.start == AVA_START_SECOND:
        args.duration = AVA_DURATION
    check_origin(args.root, args.start, args.fps)
    videos = find_videos(args.videos)
    if args.only:
        unknown = sorted(set(args.only) - set(videos))
        if unknown:
            raise SystemExit(f"no movie for video ids {unknown} in {args.videos}")
        videos = {v: videos[v] for v in args.only}
    frames_dir = os.path.join(args.root, FRAMES_DIR)
    os.makedirs(frames_dir, exist_ok=True)
    opts = {
        k: getattr(args, k) for k in ("backend", "ffmpeg", "start", "duration", "fps", "quality")
    }
    jobs = [(vid, path, frames_dir, opts) for vid, path in sorted(videos.items())]

    results = {"done": [], "truncated": [], "skipped": [], "failed": []}
    with multiprocessing.Pool(max(1, min(args.workers, len(jobs) or 1))) as pool:
        bar = tqdm(
            total=len(jobs), desc="extracting frames", unit="video", disable=args.no_progress
        )
        for vid, status, detail in pool.imap_unordered(extract_video, jobs):
            results[status].append(vid)
            if status in ("failed", "truncated"):
                tqdm.write(f"{status.upper()} {vid}: {detail}", file=sys.stderr)
            elif detail != detail.split(" ", 2)[0] + " frames" and status == "done":
                tqdm.write(f"{vid}: {detail}", file=sys.stderr)  # a shorter movie, its rate
            bar.update(1)
        bar.close()
    print(
        f"{len(results['done'])} extracted, {len(results['truncated'])} truncated (frames kept), "
        f"{len(results['skipped'])} already done, {len(results['failed'])} failed"
    )
    status = 1 if results["failed"] or (results["truncated"] and not args.allow_truncated) else 0
    origin = write_frame_origin(os.path.join(args.root, FRAME_LISTS_DIR), args.start, args.fps)
    print(f"{origin}: frame 1 is movie second {args.start}, {args.fps} fps")
    for name, path in splits.items():
        try:
            ids = read_split_ids(path)
        except AVAFormatError as e:
            raise SystemExit(f"cannot read the video ids of split {name}: {e}")
        missing = write_frame_list(args.root, name, ids)
        print(
            f"frame_lists/{name}.csv: {len(ids) - len(missing)} videos"
            + (f", {len(missing)} without frames: {missing[:10]}" if missing else "")
        )
        if missing:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
