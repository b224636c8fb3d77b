#!/usr/bin/env python
"""AVA frame-mAP@0.5IoU from the official files: a drop-in for ActivityNet's
``get_ava_performance.py`` (same flags, same numbers), vectorised.

    .venv/bin/python tools/eval_ava.py -l ava_action_list_v2.2_for_activitynet_2019.pbtxt \\
        -g ava_val_v2.2.csv -x ava_val_excluded_timestamps_v2.2.csv -d detections.csv \\
        [--capacity 50] [--json results.json] [--plots DIR | --no-plots]

Prints the AP of each label-map class, what was done with unusual rows, the capacity used
and the mAP (a fraction in [0, 1]). ``--capacity`` is the per-keyframe cap on (box, class)
detections: 50 by default as the official script, 0 keeps all (as PySlowFast). ``--json``
writes ``{"mAP": float, "per_class": {"<id>": AP or null}, "capacity": N, ...}``, and the
per-class AP bar chart and precision-recall curves as PNG next to it (``<stem>_ap_per_class.png``,
``<stem>_pr_curves.png``), or in ``--plots DIR``. Exit status 1 with a message naming file,
line and field on malformed input.
"""
import argparse
import logging
import os
import sys


def build_parser():
    p = argparse.ArgumentParser(description="AVA frame-mAP@0.5IoU (official rules, vectorised).")
    p.add_argument("-l", "--labelmap", required=True, help="label map .pbtxt (its ids are the evaluated classes)")
    p.add_argument("-g", "--groundtruth", required=True, help="ground-truth CSV")
    p.add_argument("-d", "--detections", required=True, help="detections CSV: video_id,timestamp,x1,y1,x2,y2,action_id,score")
    p.add_argument("-x", "-e", "--exclusions", default=None, help="excluded timestamps CSV (video_id,timestamp)")
    p.add_argument(
        "--capacity", type=int, default=50,
        help="per-keyframe cap on detections (default 50 as the official script; 0 keeps all)",
    )
    p.add_argument("--json", default=None, help="write the results as JSON here")
    p.add_argument("--plots", default=None, metavar="DIR", help="write the PNG plots in DIR (default: next to --json)")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.capacity < 0:
        print(f"error: --capacity must be >= 0 (0 keeps all), got {args.capacity}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from slowfast_det.data.ava_io import AVAFormatError
    from slowfast_det.evaluation.ava_map import evaluate_files, format_result

    try:
        result, names = evaluate_files(args.labelmap, args.groundtruth, args.detections, args.exclusions, args.capacity)
    except (AVAFormatError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\n".join(format_result(result, names)))

    if args.json:
        from slowfast_det.evaluation.files import write_json

        write_json(result.to_json_dict(names), args.json)
        print(f"wrote {args.json}")
    plot_dir = args.plots or (os.path.dirname(os.path.abspath(args.json)) if args.json else None)
    if plot_dir and not args.no_plots:
        from slowfast_det.evaluation.plots import write_plots

        stem = os.path.splitext(os.path.basename(args.json))[0] if args.json else "ava"
        for path in write_plots(result, plot_dir, stem, names):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
