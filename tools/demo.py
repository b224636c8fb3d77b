#!/usr/bin/env python
"""Action detection on a video file: boxes and top actions drawn on every frame.

    # people from a Detectron2 detector (e.g. COCO Faster R-CNN from the model zoo)
    python tools/demo.py --config-file configs/AVA/SLOWFAST_32x2_R50.yaml --input movie.mp4 \\
        --output out.mp4 MODEL.WEIGHTS model_final.pth \\
        DEMO.DETECTOR_CONFIG COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml DEMO.LABEL_MAP ava.pbtxt
    # people from a box CSV (AVA format, normalised boxes; keyframe t = second t of the video)
    python tools/demo.py --config-file ... --input movie.mp4 --output out.mp4 --boxes boxes.csv

The video is decoded once with OpenCV. Keyframes are taken every second (AVA convention:
keyframe t is frame round(t * fps)); each frame shows the boxes and actions of its nearest
keyframe. Writes ``--output`` (mp4v) and ``--csv`` (default ``<output>.csv``): rows
``video_id, timestamp, x1, y1, x2, y2, action_id, score`` (boxes normalised to the frame),
one per person and class, with every class's score: the classes of ``DEMO.LABEL_MAP``, or
all ``MODEL.ROI_HEADS.NUM_CLASSES`` without one (the evaluator's format).
``DEMO.ACTION_SCORE_THRESH`` and ``DEMO.TOP_K`` only select what is drawn. Without
``DEMO.LABEL_MAP`` (or a test dataset's label map) the drawn labels read "action N".
Prints the throughput (video frames processed per second) at the end.

``MODEL.WEIGHTS`` must name trained weights; ``--allow-random-weights`` runs an untrained
model on purpose. Weights given as URLs are downloaded once; offline that fails with a
message saying to download the file and pass its path. Video ids that begin with '-'
work: ``--video-id -5KQ66BBWC4`` or ``--video-id=-5KQ66BBWC4``.
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detectron2.utils.logger import setup_logger  # noqa: E402

import slowfast_det  # noqa: E402,F401  (registers the model)
from slowfast_det.checkpoint import WeightsDownloadError  # noqa: E402
from slowfast_det.config import load_slowfast_cfg  # noqa: E402
from slowfast_det.utils.argv import attach_dash_values  # noqa: E402

logger = logging.getLogger("slowfast_det.demo")


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="SlowFast config")
    p.add_argument("--input", required=True, help="input video file")
    p.add_argument("--output", required=True, help="output video (.mp4)")
    p.add_argument("--csv", default=None, help="output results CSV (default: <output without extension>.csv)")
    p.add_argument("--boxes", default=None, help="person boxes CSV (AVA format) instead of the detector")
    p.add_argument("--video-id", default=None,
                   help="video id in the CSVs (default: input file name without extension); may begin with '-'")
    p.add_argument("--allow-random-weights", action="store_true",
                   help="run even though MODEL.WEIGHTS is empty (an untrained model; for tests)")
    p.add_argument("--snapshot", type=float, default=None, metavar="SECONDS",
                   help="also save the output frame at this time as <output without extension>.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="config overrides: KEY VALUE ...")
    return p


def setup_cfg(args):
    return load_slowfast_cfg(args.config_file, args.opts)


def main(argv=None, predictor=None):
    """Run the demo; returns the stats dict of :meth:`VideoActionDemo.run`.

    ``predictor`` replaces the ActionPredictor built from the config (for tests).
    """
    from slowfast_det.engine.predictor import ActionPredictor, RandomWeightsError
    from slowfast_det.engine.video import VideoActionDemo

    argv = sys.argv[1:] if argv is None else argv
    args = get_parser().parse_args(attach_dash_values(argv, single=("--video-id",)))
    setup_logger(name="slowfast_det")
    setup_logger(name="detectron2")
    cfg = setup_cfg(args)
    csv_path = args.csv or os.path.splitext(args.output)[0] + ".csv"
    try:
        if predictor is None:
            predictor = ActionPredictor(cfg, allow_random_weights=args.allow_random_weights)
        demo = VideoActionDemo(cfg, predictor=predictor)
        if not demo.visualizer.class_names:
            logger.warning("no action names: labels read 'action N'; set DEMO.LABEL_MAP path/to/label_map.pbtxt to name them")
        snapshot = None if args.snapshot is None else (args.snapshot, os.path.splitext(args.output)[0] + ".png")
        stats = demo.run(
            args.input, args.output, csv_path, boxes_csv=args.boxes, video_id=args.video_id,
            progress=not args.no_progress, snapshot=snapshot,
        )
    except (RandomWeightsError, WeightsDownloadError) as e:
        raise SystemExit(f"demo: {e}") from None
    logger.info("wrote %s and %s", args.output, csv_path)
    print(
        f"{stats['frames']} frames, {stats['keyframes']} keyframes, {stats['persons']} person boxes, "
        f"{stats['rows']} CSV rows in {stats['seconds']:.1f} s: throughput {stats['fps']:.2f} frames/s",
        flush=True,
    )
    return stats


if __name__ == "__main__":
    main()
