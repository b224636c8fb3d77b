#!/usr/bin/env python
"""Check an AVA-format folder before training.

    .venv/bin/python tools/check_ava_dataset.py ROOT [--splits train val] [--version v2.2]
        [--num-classes N] [--label-map FILE] [--verify-images {none,keyframes,all}]
        [--max-examples 5] [--frame-source {frames,video}]

Prints counts and the first examples of every problem (missing frames, malformed rows,
unknown label ids, keyframes outside the frame range, frame-list / annotation mismatches)
and exits with status 1 if there is any problem (warnings alone exit 0).

Extracted frames are read from the second ``datasets/prepare_ava.py`` recorded in
``frame_lists/frames.json`` (else AVA's 900; ``--start-second`` overrides); keyframes before
frame 0 add a hint saying so.

With ``--frame-source video`` it checks ``videos/`` instead of the frames: a movie per
annotated video, its duration and frame rate, decodability at the keyframes (or, with
``--verify-images all``, to its end: truncated files), keyframes inside the movie.

A classification video list instead (Kinetics, Charades, your own):

    .venv/bin/python tools/check_ava_dataset.py [ROOT] --video-list FILE --format F
        [--label-names FILE] [--separator S] [--verify-images {none,keyframes,all}]
    .venv/bin/python tools/check_ava_dataset.py ROOT --format folders

lists every bad line of the list (file:line: field) and every missing or unreadable video
(``--verify-images all``: truncated movies, undecodable frame files); ROOT is the folder the
list's paths are relative to (default: the list's folder).
"""

import argparse
import sys

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from slowfast_det.data.checker import check_ava_dataset
from slowfast_det.data.checker_video_list import check_video_list
from slowfast_det.data.video_lists import VIDEO_LIST_FORMATS


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "root",
        nargs="?",
        help="AVA-format folder with frames/, frame_lists/, annotations/; with --video-list: "
        "the folder its paths are relative to (default: the list's folder)",
    )
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
        help="label map (default: annotations/ava_action_list_<version>... "
        "or the one .pbtxt there)",
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
        help="check the extracted frames (frames/, frame_lists/) "
        "or the movies (videos/<id>.mp4|mkv|webm)",
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
    cls = parser.add_argument_group("classification video lists")
    cls.add_argument("--video-list", default=None, help="a video list to check instead")
    cls.add_argument("--format", choices=VIDEO_LIST_FORMATS, default=None, help="its format")
    cls.add_argument("--label-names", default=None, help="label-names file (JSON, CSV, one a line)")
    cls.add_argument("--separator", default=" ", help="path / label separator (pyslowfast)")
    args = parser.parse_args(argv)
    if args.video_list is not None or args.format is not None:
        if args.format is None or (args.video_list is None) != (args.format == "folders"):
            parser.error("--video-list FILE needs --format F; --format folders takes ROOT alone")
        if args.format == "folders" and args.root is None:
            parser.error("--format folders needs ROOT, the folder of the class folders")
        report = check_video_list(
            args.video_list,
            args.root,
            fmt=args.format,
            label_names=args.label_names,
            separator=args.separator,
            verify_images=args.verify_images,
            max_examples=args.max_examples,
        )
        print(report.format())
        return 0 if report.ok else 1
    if args.root is None:
        parser.error("ROOT is needed (or --video-list FILE --format F)")
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
