"""Classification test views: videos/s decoding each video once for all its views vs once per view.

    .venv/bin/python tools/benchmark.py --task cls_views [--videos 3] [--seconds 10]
        [--size 340x256] [--gop 250] [--clips 10] [--crops 3] [--num-frames 32]
        [--sampling-rate 2] [--test-size 256] [--repeats 3]

It encodes ``--videos`` synthetic movies (the loader benchmark's scene and writer,
:func:`benchmarks.loader_video.encode_movie`: H.264 if this PyAV has it, 30 fps, a key frame
every ``--gop`` frames; Kinetics copies are 10 s clips with the short side 256) and times, on
the same videos, interleaved, the best of ``--repeats`` passes:

- all views: :class:`~slowfast_det.data.classification_mapper.ClassificationMapper` in test
  mode, one call per video: the video is opened once and decoded in one pass for its
  ``clips x crops`` views, each source frame resized once;
- per view: the same mapper called once per view (``map_views(d, [view])``), the movie opened
  again for each view, as PySlowFast's test loader does (every view is its own dataset item
  that opens and decodes the video).

Both give the same pixels (checked on the first video). Reports videos/s both ways and the
factor. One process, one torch and one OpenCV thread (as a DataLoader worker).
"""

import os
import time

import cv2
import torch

from benchmarks import in_workdir, loader_video, print_rows
from benchmarks import loader_parts as parts
from slowfast_det.data.classification_mapper import ClassificationMapper
from slowfast_det.data.video_lists import read_video_list

__all__ = ["add_arguments", "main", "write_movies"]


def add_arguments(parser):
    parser.add_argument("--videos", type=int, default=3, help="synthetic movies to time")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each movie")
    parser.add_argument("--size", default="340x256", help="WxH of the movies")
    parser.add_argument("--gop", type=int, default=250, help="key-frame interval (frames)")
    parser.add_argument("--video-preset", default="faster", help="x264 preset")
    parser.add_argument("--video-crf", type=int, default=23, help="x264 CRF")
    parser.add_argument("--clips", type=int, default=10, help="TEST.NUM_TEMPORAL_CLIPS")
    parser.add_argument("--crops", type=int, default=3, help="TEST.NUM_SPATIAL_CROPS")
    parser.add_argument("--num-frames", type=int, default=32)
    parser.add_argument("--sampling-rate", type=int, default=2)
    parser.add_argument("--test-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best is kept")
    parser.add_argument("--workdir", default=None, help="where the movies go (default: a temp dir)")


def write_movies(args, workdir):
    """The ``--videos`` movies under ``workdir`` (written unless present) and their
    PySlowFast list ``test.csv``; returns the list's dataset dicts."""
    w, h = (int(v) for v in args.size.lower().split("x"))
    n = int(round(args.seconds * 30))
    lines = []
    for k in range(args.videos):
        name = f"v{k}.mp4"
        path = os.path.join(workdir, name)
        if not os.path.exists(path):
            t = time.perf_counter()
            codec = loader_video.encode_movie(
                path, w, h, n, args.gop, args.video_preset, args.video_crf, seed=k
            )
            print(
                f"[cls_views] {name}: {n} frames {w}x{h} ({codec}, GOP {args.gop}) in "
                f"{time.perf_counter() - t:.1f}s"
            )
        lines.append(f"{name} {k}\n")
    with open(os.path.join(workdir, "test.csv"), "w") as f:
        f.writelines(lines)
    return read_video_list(os.path.join(workdir, "test.csv"), workdir, fmt="pyslowfast").dicts


def run(args, workdir):
    """The rows: videos/s all views at once, per view, and the factor."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    dicts = write_movies(args, workdir)
    mapper = ClassificationMapper(
        False,
        num_frames=args.num_frames,
        sampling_rate=args.sampling_rate,
        test_size=args.test_size,
        num_temporal_clips=args.clips,
        num_spatial_crops=args.crops,
    )
    views = mapper.views

    def all_views(clips=range(len(dicts))):
        for i in clips:
            mapper.reader.close()  # each video opened afresh, as in a test pass
            assert mapper(dicts[i]) is not None

    def per_view(clips=range(len(dicts))):
        for i in clips:
            for view in views:
                mapper.reader.close()  # every view opens the video, as PySlowFast's
                assert mapper.map_views(dicts[i], [view]) is not None

    once = mapper(dicts[0])["clips"]
    for v, view in enumerate(views):
        mapper.reader.close()
        if not torch.equal(mapper.map_views(dicts[0], [view])["clips"][0], once[v]):
            raise AssertionError(f"view {view}: per-view pixels differ from the all-views ones")
    best, best_cpu = parts.time_passes({"all": all_views, "per_view": per_view}, args.repeats)
    n, tag = len(dicts), f"{args.size} {args.seconds:g}s GOP {args.gop}, {len(views)} views"
    vps = {k: n / v for k, v in best.items()}
    cpu = {k: n / v for k, v in best_cpu.items()}
    rows = [
        (f"{tag}: all views, one decode per video", vps["all"], "videos/s"),
        (f"{tag}: one decode per view (PySlowFast)", vps["per_view"], "videos/s"),
        (f"{tag}: all views / per view", vps["all"] / vps["per_view"], "x"),
        (f"{tag}: all views / per view, thread CPU time", cpu["all"] / cpu["per_view"], "x"),
    ]
    print_rows("cls_views", rows)
    return rows


def main(args):
    return in_workdir(run, args, "cls_views_")
