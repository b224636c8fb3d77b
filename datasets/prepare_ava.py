#!/usr/bin/env python
"""Extract AVA frames from the downloaded movies (PySlowFast layout).

    .venv/bin/python datasets/prepare_ava.py --videos /data/ava/videos --root datasets/ava \\
        [--workers 8] [--split train=datasets/ava/annotations/ava_train_v2.2.csv ...]

For every movie ``<video_id>.<ext>`` in ``--videos`` it cuts seconds 900 to 1800 and writes
30 fps JPEG frames ``frames/<video_id>/<video_id>_000001.jpg ...`` with ffmpeg, several
movies in parallel, with a progress bar. It is resumable: each movie is extracted into
``frames/.tmp_<video_id>/`` and renamed to ``frames/<video_id>/`` only when ffmpeg
succeeded, with a marker file ``.prepare_ava_done`` inside; movies with a marker are skipped
on the next run, and leftovers of an interrupted run are redone.

Then it writes ``frame_lists/<split>.csv`` for each split: the split's video ids come from
``--split NAME=FILE`` (an AVA annotation CSV, or a text file with one id or file name per
line); by default from ``annotations/ava_{train,val}_v2.2.csv`` under ``--root`` when present.
Exit status 1 if any movie failed or a split lists videos without frames.
"""
import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tqdm import tqdm  # noqa: E402

from slowfast_det.data.ava_io import AVAFormatError, check_video_id, read_box_csv  # noqa: E402
from slowfast_det.utils.file_io import atomic_path  # noqa: E402

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")
MARKER = ".prepare_ava_done"
FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"


def find_videos(videos_dir):
    """video_id -> movie path for the movies in ``videos_dir`` (id = file name without extension)."""
    found = {}
    for name in sorted(os.listdir(videos_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in VIDEO_EXTENSIONS:
            continue
        check_video_id(stem, os.path.join(videos_dir, name))
        if stem in found:
            raise ValueError(f"two movies for video {stem!r}: {found[stem]} and {os.path.join(videos_dir, name)}")
        found[stem] = os.path.join(videos_dir, name)
    return found


def ffmpeg_command(ffmpeg, video_path, out_dir, video_id, start=900, end=1800, fps=30, quality=1):
    """The ffmpeg command extracting seconds [start, end) of a movie as JPEG frames."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-ss", str(start), "-t", str(end - start), "-i", video_path,
        "-r", str(fps), "-q:v", str(quality), "-start_number", "1",
        os.path.join(out_dir, f"{video_id}_%06d.jpg"),
    ]


def frame_files(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".jpg"))


def extract_video(job):
    """Extract one movie. Returns (video_id, status, detail); status is done / skipped / failed."""
    video_id, video_path, frames_dir, opts = job
    final = os.path.join(frames_dir, video_id)
    if os.path.exists(os.path.join(final, MARKER)):
        return video_id, "skipped", "already extracted"
    tmp = os.path.join(frames_dir, f".tmp_{video_id}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    cmd = ffmpeg_command(opts["ffmpeg"], video_path, tmp, video_id, opts["start"], opts["end"], opts["fps"], opts["quality"])
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return video_id, "failed", f"cannot run {cmd[0]!r}: {e}"
    n = len(frame_files(tmp))
    if proc.returncode != 0 or n == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        err = proc.stderr.strip().splitlines()[-3:] if proc.stderr else []
        return video_id, "failed", f"ffmpeg exit {proc.returncode}, {n} frames: {' | '.join(err)}"
    with open(os.path.join(tmp, MARKER), "w") as f:
        json.dump({"frames": n, "command": cmd}, f)
    if os.path.exists(final):  # an earlier, unfinished or foreign extraction
        shutil.rmtree(final)
    os.replace(tmp, final)
    return video_id, "done", f"{n} frames"


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


def write_frame_list(root, split, video_ids):
    """Write frame_lists/<split>.csv for the extracted videos; returns the ids without frames."""
    frames_dir = os.path.join(root, "frames")
    rows, missing = [FRAME_LIST_HEADER], []
    for idx, vid in enumerate(video_ids):
        folder = os.path.join(frames_dir, vid)
        if not os.path.exists(os.path.join(folder, MARKER)):
            missing.append(vid)
            continue
        rows.extend(f'{vid} {idx} {i} {vid}/{name} ""' for i, name in enumerate(frame_files(folder)))
    with atomic_path(os.path.join(root, "frame_lists", f"{split}.csv")) as tmp:
        with open(tmp, "w") as f:
            f.write("\n".join(rows) + "\n")
    return missing


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", required=True, help="folder with the downloaded movies <video_id>.<ext>")
    p.add_argument("--root", required=True, help="AVA folder to write frames/ and frame_lists/ into")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2), help="parallel ffmpeg processes")
    p.add_argument("--ffmpeg", default="ffmpeg", help="ffmpeg executable")
    p.add_argument("--start", type=int, default=900, help="first second to extract")
    p.add_argument("--end", type=int, default=1800, help="end second (exclusive)")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--quality", type=int, default=1, help="JPEG quality for ffmpeg -q:v (1 best .. 31)")
    p.add_argument("--only", nargs="+", default=None, help="extract only these video ids")
    p.add_argument("--split", action="append", default=[], metavar="NAME=FILE",
                   help="video ids of a split (AVA annotation CSV or text list); repeatable")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.end <= args.start:
        raise SystemExit(f"--end ({args.end}) must be after --start ({args.start})")
    videos = find_videos(args.videos)
    if args.only:
        unknown = sorted(set(args.only) - set(videos))
        if unknown:
            raise SystemExit(f"no movie for video ids {unknown} in {args.videos}")
        videos = {v: videos[v] for v in args.only}
    frames_dir = os.path.join(args.root, "frames")
    os.makedirs(frames_dir, exist_ok=True)
    opts = {k: getattr(args, k) for k in ("ffmpeg", "start", "end", "fps", "quality")}
    jobs = [(vid, path, frames_dir, opts) for vid, path in sorted(videos.items())]

    results = {"done": [], "skipped": [], "failed": []}
    with multiprocessing.Pool(max(1, args.workers)) as pool:
        bar = tqdm(total=len(jobs), desc="extracting frames", unit="video", disable=args.no_progress)
        for vid, status, detail in pool.imap_unordered(extract_video, jobs):
            results[status].append(vid)
            if status == "failed":
                tqdm.write(f"FAILED {vid}: {detail}", file=sys.stderr)
            bar.update(1)
        bar.close()
    print(f"{len(results['done'])} extracted, {len(results['skipped'])} already done, {len(results['failed'])} failed")

    splits = {}
    for spec in args.split:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--split expects NAME=FILE, got {spec!r}")
        splits[name] = path
    if not args.split:
        for name in ("train", "val"):
            path = os.path.join(args.root, "annotations", f"ava_{name}_v2.2.csv")
            if os.path.exists(path):
                splits[name] = path
    status = 1 if results["failed"] else 0
    for name, path in splits.items():
        try:
            ids = read_split_ids(path)
        except AVAFormatError as e:
            raise SystemExit(f"cannot read the video ids of split {name}: {e}")
        missing = write_frame_list(args.root, name, ids)
        print(f"frame_lists/{name}.csv: {len(ids) - len(missing)} videos" + (f", {len(missing)} without frames: {missing[:10]}" if missing else ""))
        if missing:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
