"""Classification loader benchmark (``tools/benchmark.py --task cls_loader``):
:class:`~slowfast_det.data.classification_mapper.ClassificationMapper` against the decode
limit, the loader benchmark's measure (``benchmarks/loader.py``) for video classification.

    .venv/bin/python tools/benchmark.py --task cls_loader [--modes train test] [--videos 3]
        [--seconds 10] [--size 340x256] [--gop 250] [--clips-per-video 4] [--repeats 3]

The movies are ``--task cls_views``'s (:func:`benchmarks.cls_views.write_movies`: the loader
benchmark's scene, H.264, 30 fps, Kinetics-like 10 s clips with the short side 256); on them,
interleaved, the best of ``--repeats`` passes (:func:`benchmarks.loader_parts.time_passes`):

- mapper: the mapper's call per sample, the movie opened afresh for each (each sample of a
  Kinetics epoch is another video). ``train``: ``--clips-per-video`` random training clips
  per movie (``INPUT.NUM_FRAMES`` x ``SAMPLING_RATE``, short side in ``--train-jitter``,
  ``--train-crop`` square, flip; numpy seeded per clip); ``test``: every movie's
  ``--clips x --crops`` views, decoded once.
- decode limit: only the frame reads the mapper made (the same movie, times and reduced-decode
  factor, recorded from its reader: open, seek, decode, BGR conversion), the floor for this
  step; what the mapper adds is resizing, cropping, flipping and writing the uint8 clip.

Reports samples/s of both, mapper / decode limit (target >= 0.85) in wall and in thread CPU
time (the CPU-time ratio does not move with the load of a shared machine). One process, one
torch and one OpenCV thread (as in a DataLoader worker).
"""

import cv2
import numpy as np
import torch

from benchmarks import cls_views, in_workdir, print_rows
from benchmarks import loader_parts as parts
from slowfast_det.data.classification_mapper import ClassificationMapper

__all__ = ["add_arguments", "main"]

TARGET_DECODE_RATIO = 0.85


def add_arguments(parser):
    cls_views.add_arguments(parser)  # the movies, the test views, --repeats, --workdir
    parser.add_argument("--modes", nargs="+", choices=["train", "test"], default=["train", "test"])
    parser.add_argument("--clips-per-video", type=int, default=4, help="training clips per movie")
    parser.add_argument("--train-jitter", type=int, nargs=2, default=[256, 320])
    parser.add_argument("--train-crop", type=int, default=224)


def _mapper(args, mode):
    common = dict(num_frames=args.num_frames, sampling_rate=args.sampling_rate)
    if mode == "train":
        return ClassificationMapper(
            True, jitter_scales=tuple(args.train_jitter), crop_size=args.train_crop, **common
        )
    return ClassificationMapper(
        False,
        test_size=args.test_size,
        num_temporal_clips=args.clips,
        num_spatial_crops=args.crops,
        **common,
    )


def run_mode(args, dicts, mode):
    mapper = _mapper(args, mode)
    samples = dicts * (args.clips_per_video if mode == "train" else 1)
    reader, real_read = mapper.reader, mapper.reader.read
    reads = []

    def recording(d, times, factor=1):
        reads[-1].append((d, list(times), factor))
        return real_read(d, times, factor)

    reader.read = recording  # the instance's reader only: record what the mapper decodes
    try:
        for i, d in enumerate(samples):
            reads.append([])
            np.random.seed(i)
            reader.close()
            assert mapper(d) is not None
    finally:
        del reader.read
    every = range(len(samples))

    def run_mapper(clips=every):
        for i in clips:
            np.random.seed(i)
            reader.close()  # another video per sample
            assert mapper(samples[i]) is not None

    def run_decode_limit(clips=every):
        for i in clips:
            reader.close()
            for d, times, factor in reads[i]:
                frames, error = reader.read(d, times, factor)
                assert error is None

    best, best_cpu = parts.time_passes(
        {"mapper": run_mapper, "decode_limit": run_decode_limit}, args.repeats
    )
    n = len(samples)
    sps = {k: n / v for k, v in best.items()}
    cpu = {k: n / v for k, v in best_cpu.items()}
    factors = sorted({f for calls in reads for _, _, f in calls})
    if mode == "train":
        what, unit = f"{args.num_frames}x{args.sampling_rate} clip, crop {args.train_crop}", "clips"
    else:
        what, unit = f"{len(mapper.views)} views at {args.test_size}", "videos"
    tag = f"cls {mode} ({args.size} {args.seconds:g}s GOP {args.gop}, {what})"
    rows = [
        (f"{tag}: reduced decode factor used", "/".join(map(str, factors)), "factor"),
        (f"{tag}: mapper", sps["mapper"], f"{unit}/s"),
        (f"{tag}: decode limit (the mapper's reads)", sps["decode_limit"], f"{unit}/s"),
        (
            f"{tag}: mapper / decode limit (target >= {TARGET_DECODE_RATIO})",
            sps["mapper"] / sps["decode_limit"],
            "ratio",
        ),
        (
            f"{tag}: mapper / decode limit, thread CPU time (target >= {TARGET_DECODE_RATIO})",
            cpu["mapper"] / cpu["decode_limit"],
            "ratio",
        ),
    ]
    print_rows("cls_loader", rows)
    reader.close()
    return rows


def run(args, workdir):
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    dicts = cls_views.write_movies(args, workdir)
    rows = []
    for mode in args.modes:
        rows.extend(run_mode(args, dicts, mode))
    return rows


def main(args):
    return in_workdir(run, args, "cls_loader_")
