"""Loader benchmark: clips/s through AVADatasetMapper vs. the decode limit and a naive loader.

    .venv/bin/python tools/benchmark.py --task loader [--frame-sizes 455x256 1280x720]
        [--modes test train] [--clips 16] [--repeats 3] [--num-frames 32] [--sampling-rate 2]
        [--loader-workers 0]

It writes its own AVA-format folder (one video of JPEG frames, one keyframe per second)
per frame size and measures, on the same clips and the same sampled transforms (the
numpy RNG is seeded per clip):

- mapper: ``AVADatasetMapper.__call__`` (decode, resize/crop/flip into a uint8 RGB clip; the
  model normalises and splits the pathways on its device);
- decode limit: only decoding the same frames the same way (same reduction factor), the
  floor for this step;
- decode at full size: ``cv2.imread`` of the clip's frames without reduction;
- naive: ``cv2.imread`` of every frame of the NUM_FRAMES x SAMPLING_RATE window at full
  size, keep every SAMPLING_RATE-th, then resize / crop / flip into the same uint8 clip.

Everything runs in one process with one torch and one OpenCV thread (as in a DataLoader
worker). Each pass is timed ``--repeats`` times, interleaved, and the best pass is kept,
in wall time and in the thread's CPU time (the same passes; the CPU-time ratio does not
move with the load of a shared machine, the wall-time one does).
Targets: mapper >= 0.85 x decode limit, mapper >= 2 x naive.

With ``--sources video`` (default: both) the same clips are also read straight from a movie
of the same frames (``benchmarks.loader_video``): clips/s from video vs from frames vs
the decode limits.
"""

import os
import time

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog

from benchmarks import in_workdir, loader_video, print_rows
from benchmarks import loader_parts as parts
from slowfast_det.data.datasets import register_ava_dataset
from slowfast_det.data.frames import AVA_FPS, AVA_START_SECOND
from slowfast_det.data.mapper import AVADatasetMapper

TARGET_DECODE_RATIO = 0.85
TARGET_NAIVE_SPEEDUP = 2.0


def add_arguments(parser):
    parser.add_argument(
        "--frame-sizes",
        nargs="+",
        default=["455x256", "1280x720"],
        help="WxH of the synthetic JPEG frames",
    )
    parser.add_argument("--modes", nargs="+", choices=["test", "train"], default=["test", "train"])
    parser.add_argument("--clips", type=int, default=16, help="keyframes (clips) per pass")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed passes per loader; the best is reported"
    )
    parser.add_argument("--num-frames", type=int, default=32)
    parser.add_argument("--sampling-rate", type=int, default=2)
    parser.add_argument("--test-size", type=int, default=256)
    parser.add_argument("--train-jitter", type=int, nargs=2, default=[256, 320])
    parser.add_argument("--train-crop", type=int, default=224)
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument(
        "--loader-workers",
        type=int,
        default=0,
        help="also time a DataLoader with this many workers (0: skip)",
    )
    parser.add_argument(
        "--sources",
        nargs="+",
        choices=["frames", "video"],
        default=["frames", "video"],
        help="frame sources to time: the JPEG frames, and the movie (benchmarks/loader_video.py)",
    )
    loader_video.add_arguments(parser)
    parser.add_argument(
        "--workdir",
        default=None,
        help="folder for the generated frames (default: a temp dir, removed)",
    )


# ----------------------------------------------------------------------------- loaders


def _naive_clip(mapper, d, num_frames, sampling_rate, window_paths):
    """Read every window frame at full size with cv2.imread, then process as the mapper does."""
    frames = [cv2.imread(p) for p in window_paths]
    frames = frames[::sampling_rate][:num_frames]
    h, w = frames[0].shape[:2]
    boxes, _ = mapper.select_boxes(d)
    tfms, (oh, ow), _, _ = mapper.sample_transform(
        h, w, boxes * np.array([w, h, w, h], dtype=np.float64)
    )
    out = []
    for f in frames:
        for t in tfms.transforms:
            if t.__class__.__name__ == "ResizeTransform":
                f = cv2.resize(f, (t.new_w, t.new_h), interpolation=cv2.INTER_LINEAR)
            else:
                f = t.apply_image(f)
        out.append(np.ascontiguousarray(f[..., ::-1]))
    return torch.from_numpy(np.stack(out)).permute(3, 0, 1, 2).contiguous()  # uint8 (3, T, H, W)


def _window_paths(root, d, num_frames, sampling_rate, n_video):
    c = (d["timestamp"] - AVA_START_SECOND) * AVA_FPS
    half = num_frames * sampling_rate // 2
    idx = np.clip(np.arange(c - half, c - half + num_frames * sampling_rate), 0, n_video - 1)
    folder = os.path.dirname(d["keyframe_path"])  # frames source
    return [os.path.join(folder, f"{d['video_id']}_{i + 1:06d}.jpg") for i in idx]


def run_case(args, root, size, mode, n_video):
    cfg = parts.loader_cfg(args)
    split = "train" if mode == "train" else "val"
    name = f"_bench_loader_{split}"
    register_ava_dataset(name, root, split, num_classes=80)
    dicts = DatasetCatalog.get(name)[: args.clips]
    DatasetCatalog.remove(name)
    mapper = AVADatasetMapper(cfg, is_train=mode == "train")

    decodes = parts.record_decodes(mapper, dicts)
    factors = sorted({f for c in decodes for _, f in c})
    windows = [_window_paths(root, d, args.num_frames, args.sampling_rate, n_video) for d in dicts]

    every = range(len(dicts))

    def run_mapper(clips=every):
        for i in clips:
            np.random.seed(i)
            mapper(dicts[i])

    def run_decode_limit(clips=every):
        parts.replay_decodes(decodes, clips)

    def run_decode_full(clips=every):
        for i in clips:
            for p in dict.fromkeys(mapper.clip_frame_paths(dicts[i])):
                cv2.imread(p)

    def run_naive(clips=every):
        for i in clips:
            np.random.seed(i)
            _naive_clip(mapper, dicts[i], args.num_frames, args.sampling_rate, windows[i])

    best, best_cpu = parts.time_passes(
        {
            "mapper": run_mapper,
            "decode_limit": run_decode_limit,
            "decode_full": run_decode_full,
            "naive": run_naive,
        },
        args.repeats,
    )
    n = len(dicts)
    cps = {k: n / v for k, v in best.items()}
    cpu_cps = {k: n / v for k, v in best_cpu.items()}
    tag = f"{size} {mode}"
    clip = mapper(dicts[0])["clip"]
    out_shape = tuple(clip.shape)
    rows = [
        (f"{tag}: output clip (C,T,H,W)", "x".join(map(str, out_shape)), ""),
        (
            f"{tag}: output bytes per clip ({clip.dtype}; the model normalises and splits it)",
            clip.numel() * clip.element_size(),
            "bytes",
        ),
        (f"{tag}: JPEG decode reduction used", "/".join(map(str, factors)), "factor"),
        (f"{tag}: mapper", cps["mapper"], "clips/s"),
        (f"{tag}: decode limit (same frames, same reduction)", cps["decode_limit"], "clips/s"),
        (f"{tag}: decode only, full size (cv2.imread)", cps["decode_full"], "clips/s"),
        (f"{tag}: naive loader (imread whole window)", cps["naive"], "clips/s"),
        (
            f"{tag}: mapper / decode limit (target >= {TARGET_DECODE_RATIO})",
            cps["mapper"] / cps["decode_limit"],
            "ratio",
        ),
        (
            f"{tag}: mapper / naive (target >= {TARGET_NAIVE_SPEEDUP})",
            cps["mapper"] / cps["naive"],
            "ratio",
        ),
        (f"{tag}: mapper, CPU time", cpu_cps["mapper"], "clips/CPU-s"),
        (f"{tag}: decode limit, CPU time", cpu_cps["decode_limit"], "clips/CPU-s"),
        (
            f"{tag}: mapper / decode limit, CPU time (target >= {TARGET_DECODE_RATIO})",
            cpu_cps["mapper"] / cpu_cps["decode_limit"],
            "ratio",
        ),
    ]
    if args.loader_workers > 0:
        rows.append(parts.time_dataloader(mapper, dicts, args.loader_workers, tag))
    return rows


def main(args):
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    return in_workdir(run, args, "bench_loader_")


def run(args, workdir):
    """The rows of every frame size and mode (frames, then the video cases) under ``workdir``."""
    rows = []
    for size in args.frame_sizes:
        w, h = (int(v) for v in size.lower().split("x"))
        root = os.path.join(workdir, f"ava_{w}x{h}")
        t = time.perf_counter()
        n_video = parts.build_folder(
            root, w, h, args.clips, args.num_frames, args.sampling_rate, args.jpeg_quality
        )
        kb = os.path.getsize(os.path.join(root, "frames", "benchvid", "benchvid_000001.jpg")) / 1024
        print(
            f"[loader] {size}: wrote {n_video} frames (~{kb:.0f} KB each) in "
            f"{time.perf_counter() - t:.1f}s"
        )
        for mode in args.modes if "frames" in args.sources else ():
            case = run_case(args, root, size, mode, n_video)
            print_rows("loader", case)
            rows.extend(case)
    if "video" in args.sources:
        rows.extend(loader_video.main(args, workdir))
    return rows
