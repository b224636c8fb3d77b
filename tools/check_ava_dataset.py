#!/usr/bin/env python
"""Check an AVA-format folder before training.

    .venv/bin/python tools/check_ava_dataset.py ROOT [--splits train val] [--version v2.2]
        [--num-classes N] [--label-map FILE] [--verify-images {none,keyframes,all}] [--max-examples 5]
        [--frame-source {frames,video}]

Prints counts and the first examples of every problem (missing frames, malformed rows,
unknown label ids, keyframes outside the frame range, frame-list / annotation mismatches)
and exits with status 1 if there is any problem (warnings alone exit 0).

Extracted frames are read from the second ``datasets/prepare_ava.py`` recorded in
``frame_lists/frames.json`` (else AVA's 900; ``--start-second`` overrides); keyframes before
frame 0 add a hint saying so.

With ``--frame-source video`` it checks ``videos/`` instead of the frames: a movie per
annotated video, its duration and frame rate, decodability at the keyframes (or, with
``--verify-images all``, to its end: truncated files), keyframes inside the movie.
"""

import argparse
import sys

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from slowfast_det.data.checker import check_ava_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", help="AVA-format folder with frames/, frame_lists/, annotations/")
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    parser.add_argument(
        "--version", default="v2.2", help="annotation version in the file names (v2.1 or v2.2)"
    )
    parser.add_argument(
        "--num-classes",
        type=int,
        default=None,
        help="valid action ids are 1..N (default: the label map's largest id)",
    )
    parser.add_argument(
        "--label-map",
        default=None,
        help="label map (default: annotations/ava_action_list_<version>... or the one .pbtxt there)",
    )
    parser.add_argument(
        "--verify-images",
        choices=["none", "keyframes", "all"],
        default="keyframes",
        help="decode annotated keyframes (default), every listed frame, or none",
    )
    parser.add_argument(
        "--frame-source",
        choices=["frames", "video"],
        default="frames",
        help="check the extracted frames (frames/, frame_lists/) or the movies (videos/<id>.mp4|mkv|webm)",
    )
    parser.add_argument(
        "--start-second",
        type=int,
        default=None,
        help="movie second of frame index 0 (default for frames: frame_lists/frames.json's, "
        "written by datasets/prepare_ava.py, else 900 as AVA's; 0 for movies: their timestamps "
        "are movie times)",
    )
    parser.add_argument("--max-examples", type=int, default=5, help="examples printed per category")
    args = parser.parse_args(argv)
    report = check_ava_dataset(
        args.root,
        splits=tuple(args.splits),
        version=args.version,
        num_classes=args.num_classes,
        verify_images=args.verify_images,
        max_examples=args.max_examples,
        frame_source=args.frame_source,
        label_map_file=args.label_map,
        start_second=args.start_second,
    )
    print(report.format())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
