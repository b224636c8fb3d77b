#!/usr/bin/env python
"""Generate the synthetic video classification set (the classifier's embedded default).

    .venv/bin/python datasets/prepare_synthetic_classification.py       # default set: ~2-4 min
    .venv/bin/python datasets/prepare_synthetic_classification.py --root /tmp/c --train-per-class 4

One person per clip (64 x 64, 2 s at 30 fps, mp4), six classes that differ only in motion
(stand, raise arm, wave slow, wave fast, walk left, walk right; see
``slowfast_det/synthetic/classification.py``), in PySlowFast's Kinetics layout: ``train.csv``
/ ``val.csv`` (``path label``), ``classnames.json``, ``videos/``. Registered as
``synthetic_cls_train`` / ``synthetic_cls_val`` (root ``$DETECTRON2_DATASETS/synthetic_cls``)
and generated on first use by ``tools/train_net.py``. Nothing is done when a complete set
with the same parameters exists (``--force`` redoes it).
"""

import argparse
import logging
import os
import sys
import time

from slowfast_det.synthetic.classification import (
    CLASS_NAMES,
    ClassificationSpec,
    default_classification_root,
    ensure_synthetic_classification,
    generate_classification,
)


def parse_args(argv=None):
    d = ClassificationSpec()
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--root", default=default_classification_root(), help="output folder")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (same seed, same bytes)")
    p.add_argument(
        "--train-per-class", type=int, default=d.train_per_class, help="train clips per class"
    )
    p.add_argument("--val-per-class", type=int, default=d.val_per_class, help="val clips per class")
    p.add_argument("--duration", type=float, default=d.duration_s, help="seconds per clip")
    p.add_argument("--width", type=int, default=d.width, help="frame width (even)")
    p.add_argument("--height", type=int, default=d.height, help="frame height (even)")
    p.add_argument("--rooms", type=int, default=d.rooms, help="backgrounds, shared by all classes")
    p.add_argument("--workers", type=int, default=2, help="rendering processes")
    p.add_argument("--force", action="store_true", help="regenerate even if complete")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    kw = dict(
        seed=args.seed,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        duration_s=args.duration,
        width=args.width,
        height=args.height,
        rooms=args.rooms,
        workers=args.workers,
        progress=not args.no_progress,
    )
    make = generate_classification if args.force else ensure_synthetic_classification
    start = time.perf_counter()
    try:
        manifest = make(args.root, **kw)
    except (ValueError, FileExistsError) as e:
        print(f"prepare_synthetic_classification: error: {e}", file=sys.stderr)
        return 2
    s = manifest["summary"]
    print(
        f"synthetic classification set at {os.path.abspath(args.root)}: "
        f"{s['train']['videos']} train / {s['val']['videos']} val videos, "
        f"{len(CLASS_NAMES)} classes ({', '.join(CLASS_NAMES)}), codec {manifest['codec']} "
        f"({time.perf_counter() - start:.1f} s in this run)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
