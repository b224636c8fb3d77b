#!/usr/bin/env python
"""Lay out your own movies and annotations as an AVA-format folder.

    .venv/bin/python tools/make_ava_folder.py --videos path/to/movies \\
        --annotations my_annotations.csv --label-map my_actions.pbtxt --output path/to/my_ava \\
        [--val-fraction 0.25 | --val-videos ID ...]

Input: a folder of movies ``<video_id>.{mp4,mkv,webm}``, one ground-truth CSV in AVA's format
(``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``: boxes normalised to [0, 1], one row per
person and action, timestamps in seconds of the movie, whole or not) and a label map in AVA's
``.pbtxt`` format with your ids (a subset of AVA's, ids beyond 80, any number of classes).

Output (``--output``): ``videos/`` (links to the annotated movies, or copies with ``--copy``),
``annotations/ava_train_v2.2.csv`` and ``ava_val_v2.2.csv`` (the CSV's lines split by video)
and the label map. Everything is checked first: a malformed row or label map names its file,
line and field; annotated videos without a movie are listed; nothing is written then.
The last lines printed are the next steps (check, person proposals, training), each runnable
offline as printed: the proposals are the ground-truth boxes (``detect_persons.py
--boxes-from-groundtruth``, oracle proposals for a first run), with the detector alternative.
"""

import argparse
import logging
import sys

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from slowfast_det.ava.errors import AVAFormatError
from slowfast_det.data.custom import CustomDatasetError, make_ava_folder

PYTHON = ".venv/bin/python"


def next_steps(root, num_classes):
    """The printed next steps: each command runs offline as printed (no model zoo, no
    placeholder); the alternatives that need files of your own are comments."""
    return [
        "next (each command runs offline as printed):",
        f"  {PYTHON} tools/check_ava_dataset.py {root} --frame-source video",
        "  # person proposals for val: the ground-truth boxes as oracle proposals for a first run "
        "(the mAP is then an upper bound)",
        f"  {PYTHON} tools/detect_persons.py --dataset-root {root} --split val "
        f"--frame-source video --boxes-from-groundtruth --output-dir {root}/annotations",
        "  #   with a person detector instead: --detector-config CONFIG.yaml --weights MODEL.pth "
        "(a Detectron2 config and its weights), or a model-zoo name such as "
        "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml (its weights are downloaded once)",
        "  # train and evaluate on val (from random weights; add MODEL.WEIGHTS converted.pth for "
        "Kinetics weights made by tools/convert_checkpoint.py)",
        f"  {PYTHON} tools/train_ava.py --config-file configs/AVA/SLOWFAST_32x2_R50.yaml "
        f"--register-ava my={root} DATASETS.TRAIN \"('my_train_video',)\" "
        f"DATASETS.TEST \"('my_val_video',)\" MODEL.ROI_HEADS.NUM_CLASSES {num_classes}",
        "  # or from extracted frames: datasets/prepare_ava.py --videos "
        f"{root}/videos --root {root} (it records where the frames start), then "
        "DATASETS.TRAIN \"('my_train',)\" DATASETS.TEST \"('my_val',)\"",
    ]


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--videos", required=True, help="folder of the movies <video_id>.{mp4,mkv,webm}")
    p.add_argument("--annotations", required=True, help="ground-truth CSV in AVA's format")
    p.add_argument("--label-map", required=True, help="label map (.pbtxt, AVA's format)")
    p.add_argument("--output", required=True, help="the AVA-format folder to create")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.25,
        help="share of the videos for validation (default: %(default)s)",
    )
    p.add_argument(
        "--val-videos", nargs="+", default=None, metavar="ID", help="the validation videos instead"
    )
    p.add_argument(
        "--version",
        default="v2.2",
        help="version in the annotation file names (default: %(default)s)",
    )
    p.add_argument("--copy", action="store_true", help="copy the movies instead of linking them")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        out = make_ava_folder(
            args.videos,
            args.annotations,
            args.label_map,
            args.output,
            val_fraction=args.val_fraction,
            val_videos=args.val_videos,
            version=args.version,
            copy=args.copy,
        )
    except (AVAFormatError, CustomDatasetError, OSError) as e:
        print(f"make_ava_folder: {e}", file=sys.stderr)
        return 1
    root, k = out["root"], out["num_classes"]
    print(
        f"wrote {root}: train videos {len(out['train_videos'])} ({out['rows']['train']} rows), "
        f"val videos {len(out['val_videos'])} ({out['rows']['val']} rows); largest label id {k}"
    )
    for line in next_steps(root, k):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
