#!/usr/bin/env python
"""Classify a video file, or every video of a folder, over time with a trained classifier.

    python tools/classify_video.py --config-file configs/synthetic/SLOWFAST_cls_synthetic.yaml \\
        --input clip.mp4 --output classes.csv \\
        MODEL.WEIGHTS output/synthetic_cls_slowfast/model_final.pth
    # a folder of videos, a window every 0.5 s, rendered videos with the top-3 labels
    python tools/classify_video.py --config-file configs/Kinetics/SLOWFAST_8x8_R50.yaml \\
        --input videos/ --stride 0.5 --top-k 3 --render-dir rendered/ --class-names \\
        kinetics_classnames.json MODEL.WEIGHTS k400.pth

Windows of the model's clip span (``INPUT.NUM_FRAMES`` frames ``INPUT.SAMPLING_RATE`` frames
of 30 fps apart) start every ``--stride`` seconds; frames are taken by time at any frame rate,
as the classification loaders take them, and each window becomes the test loader's spatial
views (``INPUT.TEST_SIZE``, ``TEST.NUM_SPATIAL_CROPS``), combined by ``TEST.ENSEMBLE_METHOD``.

Output: ``--output`` (CSV, default ``classify_video.csv``): one row per window, ``video, start,
end`` (seconds) and the ``--top-k`` classes (``top<i>``, ``top<i>_name``, ``top<i>_score``).
``--render-dir``: each video with its windows' top-k labels drawn (mp4v), named as the input.
Class names: ``--class-names`` (a label-names file: JSON ``{name: id}`` or list, ``id,name``
CSV, one name per line), else those of the config's datasets when they can be read, else
``class <i>``. A video that gives no frame is skipped (logged and counted).

``MODEL.WEIGHTS`` must name trained weights (``tools/train_net.py`` writes
``<OUTPUT_DIR>/model_final.pth``); ``--allow-random-weights`` runs an untrained model on purpose.
"""

import argparse
import logging
import sys

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from detectron2.utils.logger import setup_logger

from slowfast_det.config import load_slowfast_cfg
from slowfast_det.data import read_label_names
from slowfast_det.engine.classifier_predictor import VideoClassifierPredictor
from slowfast_det.engine.classify_video import classify_videos, dataset_class_names
from slowfast_det.engine.predictor import RandomWeightsError


def get_parser():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config-file", required=True, metavar="FILE", help="classifier config")
    p.add_argument("--input", required=True, help="a video file or a folder of videos")
    p.add_argument("--output", default="classify_video.csv", help="CSV of the windows' classes")
    p.add_argument("--stride", type=float, default=1.0, help="seconds between window starts")
    p.add_argument("--top-k", type=int, default=5, help="classes per window")
    p.add_argument("--class-names", default=None, metavar="FILE", help="label-names file")
    p.add_argument("--render-dir", default=None, help="write the videos with labels drawn here")
    p.add_argument(
        "--min-output-size",
        type=int,
        default=256,
        help="rendered frames are upscaled to at least this short side (readable labels)",
    )
    p.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="run with random weights when MODEL.WEIGHTS is empty (testing only)",
    )
    p.add_argument(
        "opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE pairs", default=[]
    )
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logger(name="slowfast_det")
    setup_logger(name="detectron2", abbrev_name="d2")
    cfg = load_slowfast_cfg(args.config_file, args.opts)
    try:
        predictor = VideoClassifierPredictor(cfg, args.allow_random_weights)
        names = read_label_names(args.class_names) if args.class_names else None
        names = names or dataset_class_names(cfg)
        stats = classify_videos(
            predictor,
            args.input,
            args.output,
            stride=args.stride,
            top_k=args.top_k,
            class_names=names,
            render_dir=args.render_dir,
            min_size=args.min_output_size,
        )
    except (RandomWeightsError, FileNotFoundError, ValueError) as e:
        print(f"classify_video: error: {e}", file=sys.stderr)
        return 2
    skipped = f", {stats['skipped_videos']} skipped (no frame)" if stats["skipped_videos"] else ""
    print(
        f"{stats['videos']} videos{skipped}, {stats['windows']} windows in "
        f"{stats['seconds']:.1f} s -> {args.output}"
        + "".join(f"\nrendered: {p}" for p in stats["rendered"]),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
