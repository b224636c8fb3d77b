"""Loader benchmark, frame source "video": clips/s read straight from a movie vs from frames.

Part of ``tools/benchmark.py --task loader`` (``--sources frames video``, the default). For
each frame size it encodes the frames of ``loader_parts``' synthetic scene into a movie
with PyAV (H.264 ``libx264`` if this PyAV has it, else MPEG-4; ``--video-gops`` key-frame
intervals, default 250 frames as x264's default, and ``--video-preset``) and times, on the
same keyframes and the same sampled transforms (numpy RNG seeded per clip), interleaved:

- mapper, frames: ``AVADatasetMapper`` on the JPEG frames (as the frames part);
- decode limit, frames: only the JPEG decodes that mapper makes;
- mapper, video: ``AVADatasetMapper`` on the movie (one seek per clip, decode to the clip's
  last frame, BGR conversion at the reduced size, warp);
- decode limit, video: only the seek + decode + BGR conversion of the same clips
  (``VideoReader.read``), the floor of the video path;
- decode only, video: seek + decode of every frame to the clip's end (no pre-roll skipping),
  without the BGR conversion.

The clips are read in keyframe order through one reader (its containers stay open), one
torch and one OpenCV thread, one decoder thread (as in a DataLoader worker).
"""

import os
import time

import av
import numpy as np
from detectron2.data import DatasetCatalog

from benchmarks import loader_parts as parts
from benchmarks import print_rows
from slowfast_det.data.datasets import register_ava_dataset
from slowfast_det.data.mapper import AVADatasetMapper
from slowfast_det.data.movie_frames import Movie, index_time
from slowfast_det.data.video_reader import VideoReader

AVA_START = 900


def add_arguments(parser):
    parser.add_argument(
        "--video-gops",
        type=int,
        nargs="+",
        default=[250],
        help="key-frame intervals (frames) of the benchmark movies; one movie per value",
    )
    parser.add_argument(
        "--video-preset", default="faster", help="x264 preset of the benchmark movies"
    )
    parser.add_argument(
        "--video-crf", type=int, default=23, help="x264 CRF of the benchmark movies"
    )


def video_codec():
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def encode_movie(path, width, height, num_frames, gop, preset, crf, seed=0):
    """The scene of ``build_folder`` (same seed, same frames) as a 30 fps movie (odd sizes
    padded to even, e.g. 455x256 frames give a 456x256 movie)."""
    scene = parts.Scene(np.random.default_rng(seed), width, height)
    codec = video_codec()
    pad = (
        (0, height % 2),
        (0, width % 2),
        (0, 0),
    )  # 4:2:0 needs even sizes: repeat the last row / column
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = (
            width + width % 2,
            height + height % 2,
            "yuv420p",
        )
        stream.codec_context.gop_size = gop
        stream.options = (
            {"preset": preset, "crf": str(crf), "keyint": str(gop)}
            if codec == "libx264"
            else {"qscale": "3"}
        )
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(
                np.pad(scene.frame(i)[..., ::-1], pad, mode="edge"), format="rgb24"
            )
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return codec


def write_video_root(frames_root, video_root, movie):
    """The frames root's annotations with timestamps moved by -900 s next to ``videos/``
    (registered with start_second 0, the movie's second t is the frames' second 900 + t)."""
    os.makedirs(os.path.join(video_root, "videos"), exist_ok=True)
    os.makedirs(os.path.join(video_root, "annotations"), exist_ok=True)
    os.replace(movie, os.path.join(video_root, "videos", "benchvid.mp4"))
    for name in sorted(os.listdir(os.path.join(frames_root, "annotations"))):
        with open(os.path.join(frames_root, "annotations", name)) as f:
            lines = f.read().splitlines()
        if name.endswith(".csv"):
            lines = [
                ",".join([r[0], str(int(r[1]) - AVA_START)] + r[2:])
                for r in (ln.split(",") for ln in lines if ln)
            ]
        with open(os.path.join(video_root, "annotations", name), "w") as f:
            f.write("\n".join(lines) + "\n")


def _dicts(name, root, split, clips, **kw):
    register_ava_dataset(name, root, split, num_classes=80, **kw)
    dicts = DatasetCatalog.get(name)[:clips]
    DatasetCatalog.remove(name)
    return dicts


def run_video_case(args, cfg, frames_root, video_root, tag, mode):
    split = "train" if mode == "train" else "val"
    fdicts = _dicts(f"_bench_vf_{split}", frames_root, split, args.clips)
    vdicts = _dicts(
        f"_bench_vv_{split}", video_root, split, args.clips, frame_source="video", start_second=0
    )
    assert [d["timestamp"] - AVA_START for d in fdicts] == [d["timestamp"] for d in vdicts]
    mapper = AVADatasetMapper(cfg, is_train=mode == "train")
    decodes = parts.record_decodes(mapper, fdicts)
    reader = VideoReader()
    # the video mapper reduces as the frames one does (same transform, same source size)
    factors = [max(f for _, f in calls) if calls else 1 for calls in decodes]
    times = [[index_time(k, 30, 0) for k in mapper.clip_frame_indices(d)] for d in vdicts]
    path = vdicts[0]["frame_source"]["path"]

    every = range(len(fdicts))  # parts.time_passes warms each function up on clip 0 (clips=[0])

    def run(dicts):
        def fn(clips=every):
            for i in clips:
                np.random.seed(i)
                assert mapper(dicts[i]) is not None

        return fn

    def frames_decode(clips=every):
        parts.replay_decodes(decodes, clips)

    def video_decode(clips=every):
        for i in clips:
            frames, err = reader.read(path, times[i], factors[i])
            assert err is None

    def video_decode_only(clips=every):
        with Movie(path, threads=1) as movie:
            for t in (times[i] for i in clips):
                movie.seek(t[0])
                frames = movie.frames()
                for _, shown, _ in movie.timed(frames):
                    if shown > t[-1]:
                        break
                frames.close()

    best, _ = parts.time_passes(
        {
            "mapper_frames": run(fdicts),
            "decode_frames": frames_decode,
            "mapper_video": run(vdicts),
            "decode_video": video_decode,
            "decode_only_video": video_decode_only,
        },
        args.repeats,
    )
    cps = {k: len(fdicts) / v for k, v in best.items()}
    rows = [
        (f"{tag}: mapper, frames (JPEG)", cps["mapper_frames"], "clips/s"),
        (f"{tag}: decode limit, frames", cps["decode_frames"], "clips/s"),
        (f"{tag}: mapper, video", cps["mapper_video"], "clips/s"),
        (f"{tag}: decode limit, video (seek + decode + BGR)", cps["decode_video"], "clips/s"),
        (f"{tag}: decode only, video (seek + decode)", cps["decode_only_video"], "clips/s"),
        (
            f"{tag}: mapper video / mapper frames",
            cps["mapper_video"] / cps["mapper_frames"],
            "ratio",
        ),
        (
            f"{tag}: mapper video / decode limit video",
            cps["mapper_video"] / cps["decode_video"],
            "ratio",
        ),
    ]
    if args.loader_workers > 0:
        rows.append(parts.time_dataloader(mapper, vdicts, args.loader_workers, f"{tag} video"))
    reader.close()
    return rows


def main(args, workdir):
    """Rows of the video cases (frames folders under ``workdir`` are reused or written)."""
    rows = []
    for size in args.frame_sizes:
        w, h = (int(v) for v in size.lower().split("x"))
        frames_root = os.path.join(workdir, f"ava_{w}x{h}")
        if not os.path.isdir(frames_root):
            parts.build_folder(
                frames_root,
                w,
                h,
                args.clips,
                args.num_frames,
                args.sampling_rate,
                args.jpeg_quality,
            )
        n = len(os.listdir(os.path.join(frames_root, "frames", "benchvid")))
        for gop in args.video_gops:
            video_root = os.path.join(workdir, f"video_{w}x{h}_gop{gop}")
            movie = os.path.join(workdir, f"movie_{w}x{h}_gop{gop}.mp4")
            t = time.perf_counter()
            codec = encode_movie(movie, w, h, n, gop, args.video_preset, args.video_crf)
            mb = os.path.getsize(movie) / 2**20
            write_video_root(frames_root, video_root, movie)
            print(
                f"[loader] {size}: encoded {n} frames ({codec}, GOP {gop}, {mb:.1f} MB) in "
                f"{time.perf_counter() - t:.1f}s"
            )
            for mode in args.modes:
                tag = f"{size} {mode} video ({codec}, GOP {gop})"
                case = run_video_case(
                    args, parts.loader_cfg(args), frames_root, video_root, tag, mode
                )
                print_rows("loader", case)
                rows.extend(case)
    return rows
