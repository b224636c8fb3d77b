#!/usr/bin/env python
"""AVA frame-mAP@0.5IoU from the official files: a drop-in for ActivityNet's
``get_ava_performance.py`` (same flags, same numbers), vectorised.

    .venv/bin/python tools/eval_ava.py -l ava_action_list_v2.2_for_activitynet_2019.pbtxt \\
        -g ava_val_v2.2.csv -x ava_val_excluded_timestamps_v2.2.csv -d detections.csv \\
        [--capacity 50] [--keys-absent-from-groundtruth {false-positive,ignore}] \\
        [--json results.json] [--plots DIR]

Prints the AP of each label-map class (by class id, name beside it), the mAP of AVA's three
action groups, the rule used for detections at keys absent from the ground-truth file and
what it did, what was done with unusual rows, the capacity and the mAP (a fraction in
[0, 1]).

- ``--capacity``: per-keyframe cap on (box, class) detections: 50 by default as the official
  script, 0 keeps all (as PySlowFast).
- ``--keys-absent-from-groundtruth``: ``false-positive`` (default) as the 2019 script
  (ActivityNet commit 3fee089, with ``-e``; used for AVA v2.1/v2.2, and PySlowFast's helper),
  ``ignore`` as the 2020 script (commit c070fdb and later, ActivityNet HEAD; it has no
  ``-e``: to reproduce it, give no ``-x``).
- ``--json``: writes ``{"mAP", "grouped_mAP", "per_class": {"<id>": {"name", "AP", ...}},
  "keys_absent_from_groundtruth": {"rule", "detection_rows", "keys", ...}, "capacity",
  "counts"}``.
- ``--plots DIR``: writes the per-class AP bar chart (action groups marked) and the
  precision-recall curves as PNG in DIR (``<json stem or ava>_ap_per_class.png``,
  ``..._pr_curves.png``). Plots are made only when asked for (matplotlib costs about a
  second); ``--no-plots`` is accepted for compatibility and does nothing.

Exit status 1 with a message naming file, line and field on malformed input. The command
imports only the readers and the metric (``slowfast_det.ava``: numpy, and pandas or pyarrow),
neither torch nor Detectron2.
"""

import argparse
import logging
import os
import sys

RULES = ("false-positive", "ignore")


def build_parser():
    p = argparse.ArgumentParser(description="AVA frame-mAP@0.5IoU (official rules, vectorised).")
    p.add_argument(
        "-l",
        "--labelmap",
        required=True,
        help="label map .pbtxt (its ids are the evaluated classes)",
    )
    p.add_argument("-g", "--groundtruth", required=True, help="ground-truth CSV")
    p.add_argument(
        "-d",
        "--detections",
        required=True,
        help="detections CSV: video_id,timestamp,x1,y1,x2,y2,action_id,score",
    )
    p.add_argument(
        "-x",
        "-e",
        "--exclusions",
        default=None,
        help="excluded timestamps CSV (video_id,timestamp)",
    )
    p.add_argument(
        "--capacity",
        type=int,
        default=50,
        help="per-keyframe cap on detections (default 50 as the official script; 0 keeps all)",
    )
    p.add_argument(
        "--keys-absent-from-groundtruth",
        choices=RULES,
        default="false-positive",
        help="detections at keys absent from the ground-truth file: 'false-positive' "
        "(default; the 2019 official script, ActivityNet commit 3fee089, used for AVA v2.1/v2.2) "
        "or 'ignore' (the 2020 script, commit c070fdb and later)",
    )
    p.add_argument("--json", default=None, help="write the results as JSON here")
    p.add_argument(
        "--plots", default=None, metavar="DIR", help="write the PNG plots in DIR (off by default)"
    )
    p.add_argument(
        "--no-plots",
        action="store_true",
        help="accepted for compatibility: plots are off unless --plots",
    )
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.capacity < 0:
        print(f"error: --capacity must be >= 0 (0 keeps all), got {args.capacity}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from slowfast_det.ava.evaluate import evaluate_files
    from slowfast_det.ava.io import AVAFormatError
    from slowfast_det.ava.metric import format_result

    try:
        result, names = evaluate_files(
            args.labelmap,
            args.groundtruth,
            args.detections,
            args.exclusions,
            args.capacity,
            keys_absent_from_groundtruth=args.keys_absent_from_groundtruth,
        )
    except (AVAFormatError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\n".join(format_result(result, names)))

    if args.json:
        from slowfast_det.ava.files import write_json

        write_json(result.to_json_dict(names), args.json)
        print(f"wrote {args.json}")
    if args.plots:
        from slowfast_det.ava.plots import write_plots

        stem = os.path.splitext(os.path.basename(args.json))[0] if args.json else "ava"
        for path in write_plots(result, args.plots, stem, names):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
