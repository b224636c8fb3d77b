#!/usr/bin/env python
"""Render a synthetic video file (unseen by training) for the demo, with its ground truth.

    python tools/make_synthetic_video.py --output output/demo/synthetic_demo.mp4

Generates one video with the synthetic dataset generator (``slowfast_det.synthetic.demo_video``)
under a seed the default dataset does not use, and writes:

* ``<output>`` (.mp4, 30 fps, mp4v), the frames of the video;
* ``<stem>_gt.csv``: its ground truth (AVA format: boxes normalised, action ids, person id),
  timestamps in seconds from the start of the video, i.e. the demo's keyframe times; the
  person ids are the generator's people (``tools/benchmark.py --task tracking`` counts the
  demo's id switches against them);
* ``<stem>_boxes.csv``: the generator's detector-like person boxes in the same convention
  (``tools/demo.py --boxes`` input).

The video id in both CSVs is the output file name without extension (the demo's default).
"""

import argparse
import os

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from slowfast_det.synthetic.demo_video import write_demo_video


def get_parser():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--output", required=True, help="output video (.mp4)")
    p.add_argument(
        "--seed",
        type=int,
        default=1000,
        help="generator seed; the default dataset uses 0 (default: %(default)s)",
    )
    p.add_argument("--duration", type=int, default=12, help="seconds (default: %(default)s)")
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    stem = os.path.splitext(args.output)[0]
    num_frames = write_demo_video(args.output, seed=args.seed, duration=args.duration)
    print(f"wrote {args.output} ({num_frames} frames, 30 fps), {stem}_gt.csv and {stem}_boxes.csv")


if __name__ == "__main__":
    main()
