"""Streaming soak: the live demo over a long synthetic stream; lag and memory.

    .venv/bin/python tools/benchmark.py --task stream [--video-minutes 10] [--speed 4]
        [--config-file configs/synthetic/SLOWFAST_synthetic.yaml] [--max-growth-mb 20]
        [--warmup-minutes 1] [--threads N] [--no-video] [KEY VALUE ...]

The soak (issue 26), under 10 minutes on 2 loaded cores:
``--video-minutes 60 --speed 8 --no-draw``.

Feeds ``VideoActionDemo.run_stream`` (the code path of ``tools/demo.py --realtime`` and of
webcams / URLs) with a synthetic live stream: 30 fps frames of three moving people
(160 x 120, the synthetic set's size), delivered ``--speed`` times faster than real time, so
that ``--video-minutes`` of video take ``1 / speed`` of that in wall time. People come from
a detector stand-in that returns the drawn boxes; actions from the config's model
(``ActionPredictor``, random weights unless ``MODEL.WEIGHTS`` is given); tracking as
the default tracker (``DemoOptions.tracker``); every frame drawn and written to a temporary
mp4 (``--no-video``: drawn, not written; ``--no-draw``: neither, so that the capture thread
keeps up with a fast delivery on a loaded machine, where drawing 640 x 480 frames limits it
to ~120 frames/s; the inference thread still draws each keyframe's labels, as always).

Memory: the process's resident set (``VmRSS``; Linux) every 5 s of video. Samples swing
by up to ~20 MiB on the synthetic model, for minutes at a time, with the memory malloc holds
freed but resident (the inference thread's temporaries), so ``start`` is the median of the
samples of the 5 minutes after ``--warmup-minutes`` of video (warm: model, allocator pools,
writer in place) and ``end`` the median of the stream's last 5 minutes, up to its last frame
(before the CSVs are written: that imports pandas, a one-off ~30 MiB reported apart); a
stream shorter than the warm-up plus 10 minutes gets two windows of half the rest each.
Flat (the PASS/FAIL line) when ``end - start <= --max-growth-mb`` (queued frames would grow
by ~57 KB per frame, 1 GB over 10 minutes at 30 fps; the CSV rows kept as numpy arrays grew
the heap by 10-15 MiB per minute, issue 26). Also reported: the smallest and largest sample
after the warm-up and the least-squares slope of those samples.

Lag: seconds (wall clock) from the arrival of a clip's newest frame to its result, while
the stream is live. Bounded when the largest lag stays under the largest inference time
plus one keyframe interval (``1 / speed`` s of wall time) plus 0.5 s: skipped keyframes,
not queued ones (queued ones would add one inference time per keyframe behind).
"""

import os
import tempfile
import time

import numpy as np
import torch

from benchmarks.soak import rss_mb
from slowfast_det.config import load_slowfast_cfg
from slowfast_det.engine.demo_runner import VideoActionDemo
from slowfast_det.engine.predictor import ActionPredictor
from slowfast_det.engine.video_output import VideoFileSink

TARGET_MAX_GROWTH_MB = 20.0
RSS_EVERY_S = 5.0  # video seconds between RSS samples
RSS_WINDOW_S = 300.0  # video seconds of samples behind the start and end medians


def add_arguments(parser):
    parser.add_argument(
        "--config-file", default=os.path.join("configs", "synthetic", "SLOWFAST_synthetic.yaml")
    )
    parser.add_argument(
        "--video-minutes", type=float, default=10.0, help="video time of the stream"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=4.0,
        help="frames delivered this many times faster than real time",
    )
    parser.add_argument(
        "--max-growth-mb",
        type=float,
        default=TARGET_MAX_GROWTH_MB,
        help="allowed RSS growth from the end of the warm-up to the end of the stream",
    )
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=1.0,
        help="video time before the start RSS sample (a shorter stream: its last frame)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: min(4, cores)); 1 leaves a core to the capture thread",
    )
    parser.add_argument(
        "--no-video", action="store_true", help="draw the frames but write no video file"
    )
    parser.add_argument(
        "--no-draw",
        action="store_true",
        help="neither draw nor write the frames (keyframe labels are still drawn)",
    )
    parser.add_argument("opts", nargs="*", default=[], help="config overrides: KEY VALUE ...")


PEOPLE = 3
H, W, FPS = 120, 160, 30


def _person_boxes(i):
    """Boxes (R, 4) of the synthetic people in frame ``i``: they walk back and forth."""
    boxes = []
    for p in range(PEOPLE):
        period = 240 + 90 * p
        phase = (i + 37 * p) % (2 * period)
        x = 10 + (W - 50) * (phase if phase < period else 2 * period - phase) / period
        y = 15 + 25 * p
        boxes.append([x, y, x + 30, y + 60])
    return np.array(boxes, np.float32)


class SyntheticStream:
    """A live source: ``(frame, wall_time)`` at ``fps * speed`` frames per second."""

    def __init__(self, seconds, speed, fps=FPS):
        self.fps = float(fps)
        self.name = "synthetic stream"
        self.live = True
        self.num_frames = int(round(seconds * fps))
        self.speed = float(speed)

    def __iter__(self):
        start = time.monotonic()
        background = np.full((H, W, 3), 70, np.uint8)
        for i in range(self.num_frames):
            frame = background.copy()
            for b in _person_boxes(i).astype(int):
                frame[b[1] : b[3], b[0] : b[2]] = (40, 180, 60)
            frame[0, 0] = (
                i % 256,
                (i // 256) % 256,
                0,
            )  # the frame number, for the detector stand-in
            due = start + i / (self.fps * self.speed)
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
                now = due
            yield frame, now


class _Probed:
    """``stream``, calling ``probe.write`` on each frame it yields (``--no-draw``: no sinks)."""

    def __init__(self, stream, probe):
        self.stream, self.probe = stream, probe
        self.fps, self.name, self.live = stream.fps, stream.name, stream.live

    def __iter__(self):
        for frame, wall_time in self.stream:
            self.probe.write(frame)
            yield frame, wall_time


def _detector(frame):
    i = int(frame[0, 0, 0]) + 256 * int(frame[0, 0, 1])
    boxes = _person_boxes(i)
    return boxes, np.full(len(boxes), 0.99, np.float32)


class _RSSProbe:
    """A sink that samples the process RSS every ``every`` frames and at frame ``last`` (and
    draws nothing)."""

    def __init__(self, every, last):
        self.every = int(every)
        self.last = int(last)
        self.frames = 0
        self.samples = []  # (video seconds, MiB)

    def write(self, frame):
        if self.frames % self.every == 0 or self.frames == self.last:
            self.samples.append((self.frames / FPS, rss_mb(os.getpid())))
        self.frames += 1
        return True

    def close(self, complete=True):
        pass


def _median_rss(samples, lo, hi):
    """Median of the RSS samples taken from ``lo`` to ``hi`` seconds of video (none there: the
    first one after ``lo``, else the last one)."""
    values = [r for s, r in samples if lo <= s <= hi]
    if not values:
        values = [next((r for s, r in samples if s >= lo), samples[-1][1])]
    return float(np.median(values))


def main(args):
    if not os.path.isdir("/proc/self"):
        raise SystemExit("the stream benchmark reads /proc (Linux only)")
    if args.warmup_minutes < 0:
        raise SystemExit(f"--warmup-minutes must be >= 0, got {args.warmup_minutes:g}")
    if args.threads is not None and args.threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads or max(1, min(4, os.cpu_count() or 1)))
    cfg = load_slowfast_cfg(args.config_file, list(args.opts))
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu" if not torch.cuda.is_available() else cfg.MODEL.DEVICE
    cfg.freeze()
    seconds = args.video_minutes * 60
    rss_before_model = rss_mb(os.getpid())
    predictor = ActionPredictor(cfg, allow_random_weights=True)
    demo = VideoActionDemo(cfg, predictor=predictor, detector=_detector)
    stream = SyntheticStream(seconds, args.speed)
    probe = _RSSProbe(every=int(RSS_EVERY_S * FPS), last=stream.num_frames - 1)
    no_video = args.no_video or args.no_draw
    with tempfile.TemporaryDirectory() as tmp:
        sinks = [] if args.no_draw else [probe]
        if not no_video:
            sinks.append(VideoFileSink(os.path.join(tmp, "stream.mp4"), FPS))
        source = _Probed(stream, probe) if args.no_draw else stream
        print(
            f"stream: {seconds:.0f} s of video at {FPS} fps, delivered x{args.speed:g} "
            f"({seconds / args.speed:.0f} s wall), model {args.config_file}, "
            f"tracker {demo.options.tracker}"
        )
        stats = demo.run_stream(
            source,
            os.path.join(tmp, "stream.csv"),
            sinks=sinks,
            video_id="stream",
            persons_csv=os.path.join(tmp, "stream_persons.csv"),
            progress=True,
        )
        for sink in sinks:
            sink.close(True)
        video_mb = os.path.getsize(os.path.join(tmp, "stream.mp4")) / 2**20 if not no_video else 0.0
    after_csvs = rss_mb(os.getpid())
    samples = probe.samples
    end_s = samples[-1][0]  # the stream's last frame
    start_s = min(args.warmup_minutes * 60, end_s)
    window = min(RSS_WINDOW_S, (end_s - start_s) / 2)
    start = _median_rss(samples, start_s, start_s + window)
    end = _median_rss(samples, end_s - window, end_s)
    peak = max(r for _, r in samples)
    warm = [(s, r) for s, r in samples if s >= start_s]
    slope = np.polyfit(*zip(*warm), 1)[0] * 3600 if len(warm) >= 3 else float("nan")
    growth = end - start
    flat = growth <= args.max_growth_mb
    span = end_s - start_s - window  # between the windows' middles
    per_hour = growth / span * 3600 if span > 0 else float("nan")
    print(
        f"RSS soak: {'PASS' if flat else 'FAIL'}: {start:.1f} MiB after {start_s / 60:.3g} min "
        f"of video, {end:.1f} MiB at the end ({end_s / 60:.3g} min; medians of "
        f"{window / 60:.3g} min): "
        f"growth {growth:+.1f} MiB (limit {args.max_growth_mb:g} MiB)"
    )
    bound = stats["process_max_s"] + 1.0 / args.speed + 0.5
    rows = [
        ("video time streamed", stats["frames"] / FPS, "s"),
        ("wall time", stats["seconds"], "s"),
        ("delivery speed", args.speed, "x real time"),
        (
            "frames streamed (not drawn)"
            if args.no_draw
            else "frames drawn (and written)"
            if not no_video
            else "frames drawn",
            stats["frames"],
            "frames",
        ),
        ("output video", video_mb, "MiB"),
        ("keyframes scored", stats["keyframes"], ""),
        ("keyframes skipped", stats["keyframes_skipped"], ""),
        ("share of keyframes skipped", stats["skipped_share"], ""),
        (
            "inference per keyframe (detector stand-in + tracker + model + drawing), mean",
            stats["process_mean_s"],
            "s",
        ),
        ("inference per keyframe, max", stats["process_max_s"], "s"),
        ("lag (clip's newest frame -> result), mean", stats["lag_mean_s"], "s wall"),
        ("lag, max", stats["lag_max_s"], "s wall"),
        ("lag, max, in video time", stats["lag_max_s"] * args.speed, "s video"),
        ("lag of the keyframe scored after the stream ended", stats["lag_after_end_s"], "s wall"),
        ("lag bound (max inference + keyframe interval + 0.5 s)", bound, "s wall"),
        ("lag bounded", "yes" if stats["lag_max_s"] <= bound else "NO", ""),
        ("ring buffer", stats["ring_frames"], "frames"),
        ("person tracks", stats.get("tracks", 0), ""),
        ("RSS before the model", rss_before_model, "MiB"),
        (
            f"RSS start (median, {start_s / 60:.3g} to {(start_s + window) / 60:.3g} min of video)",
            start,
            "MiB",
        ),
        ("RSS end", end, "MiB"),
        (
            "RSS end: median over minutes of video",
            f"{(end_s - window) / 60:.3g} to {end_s / 60:.3g}",
            "min",
        ),
        (f"RSS max (every {RSS_EVERY_S:g} s of video)", peak, "MiB"),
        (
            "RSS after the warm-up: min / max",
            f"{min(r for _, r in warm):.1f} / {max(r for _, r in warm):.1f}",
            "MiB",
        ),
        ("RSS growth start->end", growth, "MiB"),
        ("RSS growth per hour of video (start->end, extrapolated)", per_hour, "MiB/h"),
        ("RSS trend after the warm-up (least-squares slope)", slope, "MiB/h"),
        (f"memory flat (growth <= {args.max_growth_mb:g} MiB)", "yes" if flat else "NO", ""),
        ("RSS after writing the CSVs (one-off: pandas)", after_csvs, "MiB"),
    ]
    rows += [
        (f"RSS at {s:.0f} s of video", r, "MiB") for s, r in samples[:: max(1, len(samples) // 12)]
    ]
    return rows
