#!/usr/bin/env python
"""Generate the synthetic AVA-format dataset (the embedded default of slowfast_det).

    .venv/bin/python datasets/prepare_synthetic_ava.py   # default set: 20-70 s on 2 cores
    .venv/bin/python datasets/prepare_synthetic_ava.py --root /tmp/syn \\
        --train-videos 4 --val-videos 2

The folder has the real AVA v2.2 layout and is read by the normal registration as
``synthetic_ava_train`` / ``synthetic_ava_val`` (root ``$DETECTRON2_DATASETS/synthetic_ava``).
Nothing is done when a complete dataset with the same parameters exists (``--force`` redoes it).
"""

import argparse
import logging
import os
import sys
import time

from slowfast_det.synthetic import (
    CLASSES,
    MOTION_CLASS_IDS,
    SyntheticSpec,
    default_root,
    ensure_synthetic_dataset,
    generate,
)


def parse_args(argv=None):
    d = SyntheticSpec()
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--root", default=default_root(), help="output folder (default: %(default)s)")
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="random seed; same seed, same bytes (default: %(default)s)",
    )
    p.add_argument(
        "--train-videos",
        type=int,
        default=d.num_train_videos,
        help="videos in the train split (default: %(default)s)",
    )
    p.add_argument(
        "--val-videos",
        type=int,
        default=d.num_val_videos,
        help="videos in the val split (default: %(default)s)",
    )
    p.add_argument(
        "--duration",
        type=int,
        default=d.duration_s,
        help="seconds per video; keyframes 902..900+duration-2 (default: %(default)s)",
    )
    p.add_argument(
        "--width", type=int, default=d.width, help="frame width in pixels (default: %(default)s)"
    )
    p.add_argument(
        "--height", type=int, default=d.height, help="frame height in pixels (default: %(default)s)"
    )
    p.add_argument(
        "--min-persons",
        type=int,
        default=d.min_persons,
        help="fewest people per video (default: %(default)s)",
    )
    p.add_argument(
        "--max-persons",
        type=int,
        default=d.max_persons,
        help="most people per video (default: %(default)s)",
    )
    p.add_argument(
        "--jpeg-quality",
        type=int,
        default=d.jpeg_quality,
        help="JPEG quality 1..100 (default: %(default)s)",
    )
    p.add_argument(
        "--workers", type=int, default=2, help="rendering processes (default: %(default)s)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="regenerate even if a complete dataset with these parameters exists",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    kw = dict(
        seed=args.seed,
        num_train_videos=args.train_videos,
        num_val_videos=args.val_videos,
        duration_s=args.duration,
        width=args.width,
        height=args.height,
        min_persons=args.min_persons,
        max_persons=args.max_persons,
        jpeg_quality=args.jpeg_quality,
        workers=args.workers,
        progress=not args.no_progress,
    )
    start = time.perf_counter()
    try:
        manifest = (
            generate(args.root, **kw) if args.force else ensure_synthetic_dataset(args.root, **kw)
        )
    except (ValueError, FileExistsError) as e:
        print(f"prepare_synthetic_ava: error: {e}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    print(f"synthetic AVA dataset at {os.path.abspath(args.root)} ({elapsed:.1f} s in this run)")
    motion = ", ".join(name for cid, name in CLASSES if cid in MOTION_CLASS_IDS)
    print(f"classes: {len(CLASSES)} ({motion} need 15 fps)")
    for split, s in manifest["summary"].items():
        print(
            f"  {split}: {s['videos']} videos, {s['frames']} frames, {s['keyframes']} keyframes, "
            f"{s['person_boxes']} person boxes, {s['predicted_boxes']} predicted boxes, "
            f"{s['excluded_keyframes']} excluded keyframes"
        )
        print("    labels: " + ", ".join(f"{k} {v}" for k, v in s["labels_per_class"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
