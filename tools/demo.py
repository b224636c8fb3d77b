#!/usr/bin/env python
"""Action detection on a video file, a webcam or a stream: boxes, person ids and top actions drawn.

    # people from a Detectron2 detector (e.g. COCO Faster R-CNN from the model zoo)
    python tools/demo.py --config-file configs/AVA/SLOWFAST_32x2_R50.yaml --input movie.mp4 \\
        --output out.mp4 --detector-config COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml \\
        --label-map ava.pbtxt MODEL.WEIGHTS model_final.pth
    # people from a box CSV (AVA format, normalised boxes; keyframe t = second t of the video)
    python tools/demo.py --config-file ... --input movie.mp4 --output out.mp4 --boxes boxes.csv
    # live: webcam 0 in a window; a file played at its own pace; a URL or pipe OpenCV opens
    python tools/demo.py --config-file ... --input 0 --show --detector-config ... MODEL.WEIGHTS ...
    python tools/demo.py --config-file ... --input movie.mp4 --realtime --output out.mp4 ...
    python tools/demo.py --config-file ... --input rtsp://camera/stream --output out.mp4 ...

Input: a video file is decoded once with OpenCV, every frame written. A webcam index, a URL,
a pipe, or a file with ``--realtime`` is *live*: frames arrive at the source's pace, and
when inference falls behind whole keyframes are skipped (never frames queued), so the lag
stays bounded; the demo prints the lag (seconds from a clip's newest frame to its result)
and the share of keyframes skipped. Memory holds one clip span plus one second of frames.

Keyframes are taken every second (keyframe t is frame round(t * fps)). Clips are sampled by
time: ``INPUT.SAMPLING_RATE`` counts 30 fps frames, as in training, so a 6 fps or 60 fps
video gets the same temporal extent (with a one-line warning outside 24-60 fps). Each frame
shows the boxes and actions of its nearest keyframe (live: of the newest scored keyframe).

Output: ``--output`` (mp4v) and/or a window (``--show``, where a display exists);
``--csv`` (default ``<output>.csv``, or ``demo.csv`` without ``--output``): rows
``video_id, timestamp, x1, y1, x2, y2, action_id, score`` (boxes normalised to the frame),
one per person and class with every class's score (not only those above
``--action-score-thresh``): the classes of ``--label-map``, or all
``MODEL.ROI_HEADS.NUM_CLASSES`` without one (the evaluator's format). With tracking
(``--tracker hungarian`` (default) or ``iou``; ``none`` = off), ``--persons-csv`` (default
``<csv stem>_persons.csv``) holds AVA's ground-truth layout with the track id in the last
(person-id) column, one row per drawn action; ids are also drawn (``#id``).
``--smooth-scores-over k`` averages a track's scores over its last k keyframes (off by
default). ``--action-score-thresh`` and ``--top-k`` select what is drawn. Without
``--label-map`` (or a test dataset's label map) the drawn labels read "action N".

The demo's options are flags (below); the model's settings come from ``--config-file`` and
the trailing ``KEY VALUE`` overrides (``MODEL.WEIGHTS``, ``AVA.DETECTION_SCORE_THRESH`` for
the person boxes, ``INPUT.*`` for the clips).

``MODEL.WEIGHTS`` must name trained weights; ``--allow-random-weights`` runs an untrained
model on purpose. Weights given as URLs are downloaded once; offline that fails with a
message saying to download the file and pass its path. Video ids that begin with '-'
work: ``--video-id -5KQ66BBWC4`` or ``--video-id=-5KQ66BBWC4``.
"""

import argparse
import logging
import os
import sys

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from detectron2.utils.logger import setup_logger

from slowfast_det.checkpoint import WeightsDownloadError
from slowfast_det.config import load_slowfast_cfg
from slowfast_det.utils.argv import attach_dash_values

logger = logging.getLogger("slowfast_det.demo")


def get_parser():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config-file", required=True, metavar="FILE", help="SlowFast config")
    p.add_argument(
        "--input",
        required=True,
        help="video file, webcam index (0, 1, ...), or a URL / pipe / pipeline OpenCV can open",
    )
    p.add_argument("--output", default=None, help="output video (.mp4); needed unless --show")
    p.add_argument(
        "--show",
        action="store_true",
        help="show the drawn frames in a window (needs a display; a file plays as with --realtime)",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="play a file at its own frame rate, as a live stream (skipping keyframes when behind)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="live input: stop after this much video time (default: until the stream ends)",
    )
    p.add_argument(
        "--csv",
        default=None,
        help="output results CSV (default: <output without extension>.csv, "
        "or demo.csv without --output)",
    )
    p.add_argument(
        "--persons-csv",
        default=None,
        help="output person-track CSV (default: <csv without extension>_persons.csv; "
        "with a --tracker)",
    )
    p.add_argument(
        "--boxes", default=None, help="person boxes CSV (AVA format) instead of the detector"
    )
    p.add_argument(
        "--video-id",
        default=None,
        help="video id in the CSVs (default: input file name without extension, 'stream' for a "
        "webcam or URL); may begin with '-'",
    )
    p.add_argument(
        "--onnx",
        default=None,
        metavar="FILE",
        help="run this exported model (tools/export_model.py) with onnxruntime "
        "instead of MODEL.WEIGHTS",
    )
    p.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="run even though MODEL.WEIGHTS is empty (an untrained model; for tests)",
    )
    p.add_argument(
        "--snapshot",
        type=float,
        default=None,
        metavar="SECONDS",
        help="file input: also save the output frame at this time as "
        "<output without extension>.png",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar / status lines")
    add_demo_options(p)
    p.add_argument(
        "opts", nargs=argparse.REMAINDER, default=[], help="config overrides: KEY VALUE ..."
    )
    return p


def add_demo_options(parser):
    """A flag per :class:`~slowfast_det.engine.demo_options.DemoOptions` field, with its default."""
    from slowfast_det.engine.demo_options import NO_TRACKER, DemoOptions
    from slowfast_det.engine.tracking import TRACKERS

    d = DemoOptions()
    g = parser.add_argument_group("demo options")
    g.add_argument(
        "--detector-config",
        default=d.detector_config,
        metavar="FILE_OR_ZOO_NAME",
        help="Detectron2 person detector: a config file or model-zoo name, e.g. "
        "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml (needed unless --boxes)",
    )
    g.add_argument(
        "--detector-weights",
        default=d.detector_weights,
        metavar="PATH_OR_URL",
        help="person detector weights (default: the model zoo's weights for a zoo name)",
    )
    g.add_argument(
        "--detector-person-class",
        type=int,
        default=d.detector_person_class,
        help="index of 'person' in the detector's classes (default: %(default)s, "
        "COCO's and the synthetic detector's)",
    )
    g.add_argument(
        "--action-score-thresh",
        type=float,
        default=d.action_score_thresh,
        help="draw actions with score >= this (default: %(default)s; the CSV has every score)",
    )
    g.add_argument(
        "--top-k",
        type=int,
        default=d.top_k,
        help="at most this many actions drawn per person, best first (default: %(default)s)",
    )
    g.add_argument(
        "--label-map",
        default=d.label_map,
        metavar="PBTXT",
        help="label map naming the actions, and the CSV's classes (default: "
        "DATASETS.TEST[0]'s if on disk, else ids and all classes)",
    )
    g.add_argument(
        "--min-output-size",
        type=int,
        default=d.min_output_size,
        help="output video short side: smaller videos are upscaled so labels "
        "stay readable (default: %(default)s; 0 = input size)",
    )
    g.add_argument(
        "--tracker",
        default=d.tracker,
        choices=sorted(TRACKERS) + [NO_TRACKER],
        help="person ids across keyframes: hungarian (IoU-weighted Hungarian "
        "assignment; fewer id switches on the synthetic demo video), iou "
        "(greedy) or none (default: %(default)s)",
    )
    g.add_argument(
        "--track-iou-thresh",
        type=float,
        default=d.track_iou_thresh,
        help="a box continues a track when its IoU with the track's last box "
        "is at least this (default: %(default)s)",
    )
    g.add_argument(
        "--track-max-lost",
        type=int,
        default=d.track_max_lost,
        help="keyframes a track may go unseen and still be continued (default: %(default)s)",
    )
    g.add_argument(
        "--smooth-scores-over",
        type=int,
        default=d.smooth_scores_over,
        metavar="K",
        help="mean of a track's action scores over its last K keyframes, drawn "
        "and written (default: %(default)s; 0 or 1 = off)",
    )


def setup_cfg(args):
    return load_slowfast_cfg(args.config_file, args.opts)


def _default_video_id(source):
    if isinstance(source, str) and os.path.isfile(source):
        return os.path.splitext(os.path.basename(source))[0]
    return "stream"


def main(argv=None, predictor=None):
    """Run the demo; returns the stats dict of :meth:`VideoActionDemo.run` (a file) or
    :meth:`VideoActionDemo.run_stream` (live input).

    ``predictor`` replaces the ActionPredictor built from the config: any callable
    ``(clip (T, H, W, 3) BGR uint8, boxes (R, 4) pixels) -> (R, K) scores`` (tests, or an
    exported model).
    """
    from slowfast_det.engine.demo_options import DemoOptions
    from slowfast_det.engine.demo_runner import VideoActionDemo
    from slowfast_det.engine.predictor import ActionPredictor, RandomWeightsError
    from slowfast_det.engine.video_input import open_video, parse_source
    from slowfast_det.engine.video_output import DisplayUnavailableError, VideoFileSink, WindowSink

    argv = sys.argv[1:] if argv is None else argv
    parser = get_parser()
    args = parser.parse_args(attach_dash_values(argv, single=("--video-id",)))
    if not args.output and not args.show:
        parser.error("give --output (a video file) and/or --show (a window)")
    setup_logger(name="slowfast_det")
    setup_logger(name="detectron2")
    cfg = setup_cfg(args)
    csv_path = args.csv or (
        os.path.splitext(args.output)[0] + ".csv" if args.output else "demo.csv"
    )
    persons_csv = args.persons_csv or os.path.splitext(csv_path)[0] + "_persons.csv"
    source_arg = parse_source(args.input)
    video_id = args.video_id or _default_video_id(source_arg)
    sinks = []
    try:
        window = WindowSink() if args.show else None  # fails early, before the model is built
        if predictor is None and args.onnx:
            from slowfast_det.export import OnnxActionPredictor  # onnxruntime: only when asked for

            predictor = OnnxActionPredictor(
                cfg, args.onnx, allow_random_weights=args.allow_random_weights
            )
        if predictor is None:
            predictor = ActionPredictor(cfg, allow_random_weights=args.allow_random_weights)
        demo = VideoActionDemo(cfg, predictor=predictor, options=DemoOptions.from_namespace(args))
        if not demo.visualizer.class_names:
            logger.warning(
                "no action names: labels read 'action N'; pass --label-map "
                "path/to/label_map.pbtxt to name them"
            )
        # a window shows a file at its own pace (as --realtime)
        source = open_video(source_arg, realtime=args.realtime or args.show)
        if not source.live and not args.show:
            source.release()
            snapshot = (
                None
                if args.snapshot is None
                else (args.snapshot, os.path.splitext(args.output)[0] + ".png")
            )
            stats = demo.run(
                args.input,
                args.output,
                csv_path,
                boxes_csv=args.boxes,
                video_id=video_id,
                progress=not args.no_progress,
                snapshot=snapshot,
                persons_csv=persons_csv,
            )
        else:
            if args.snapshot is not None:
                logger.warning(
                    "--snapshot applies to a file decoded in full (no --realtime / --show); ignored"
                )
            if args.output:
                sinks.append(VideoFileSink(args.output, source.fps))
            if window is not None:
                sinks.append(window)
            stats = demo.run_stream(
                source,
                csv_path,
                sinks=sinks,
                boxes_csv=args.boxes,
                video_id=video_id,
                persons_csv=persons_csv,
                progress=not args.no_progress,
                max_seconds=args.max_seconds,
            )
            for sink in sinks:
                sink.close(True)
            sinks = []
    except (RandomWeightsError, WeightsDownloadError, DisplayUnavailableError) as e:
        raise SystemExit(f"demo: {e}") from None
    finally:
        for sink in sinks:
            sink.close(False)
    logger.info(
        "wrote %s",
        ", ".join(
            p for p in (args.output, csv_path, stats.get("persons_rows") and persons_csv) if p
        ),
    )
    line = (
        f"{stats['frames']} frames, {stats['keyframes']} keyframes, "
        f"{stats['persons']} person boxes, "
        f"{stats['rows']} CSV rows in {stats['seconds']:.1f} s: "
        f"throughput {stats['fps']:.2f} frames/s"
    )
    if "tracks" in stats:
        line += f"; {stats['tracks']} person tracks"
    if "lag_mean_s" in stats:
        line += (
            f"; lag mean {stats['lag_mean_s']:.2f} s, max {stats['lag_max_s']:.2f} s; "
            "keyframes skipped "
            f"{stats['keyframes_skipped']} of {stats['keyframes'] + stats['keyframes_skipped']} "
            f"({100 * stats['skipped_share']:.0f}%)"
        )
    print(line, flush=True)
    return stats


if __name__ == "__main__":
    main()
