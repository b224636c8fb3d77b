#!/usr/bin/env python
"""Render a synthetic video file (unseen by training) for the demo, with its ground truth.

    python tools/make_synthetic_video.py --output output/demo/synthetic_demo.mp4

Generates one video with the synthetic dataset generator (``slowfast_det.synthetic``) under
a seed the default dataset does not use, and writes:

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
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402

from slowfast_det.data.ava_io import read_box_csv  # noqa: E402
from slowfast_det.data.datasets import AVA_START_SECOND  # noqa: E402
from slowfast_det.synthetic import generate, video_ids  # noqa: E402
from slowfast_det.synthetic.writer import SyntheticSpec  # noqa: E402
from slowfast_det.utils.file_io import atomic_path  # noqa: E402


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", required=True, help="output video (.mp4)")
    p.add_argument("--seed", type=int, default=1000, help="generator seed; the default dataset uses 0 (default: %(default)s)")
    p.add_argument("--duration", type=int, default=12, help="seconds (default: %(default)s)")
    return p


def _shift(rows, video_id, last_format):
    """AVA rows of the generated video -> CSV lines with the demo's video id and keyframe
    times (seconds from the start of the video)."""
    lines = []
    cols = ["timestamp", "x1", "y1", "x2", "y2", "action_id", "last"]
    for t, x1, y1, x2, y2, a, last in rows[cols].itertuples(index=False):
        action = "" if a < 0 else str(a)
        lines.append(f"{video_id},{t - AVA_START_SECOND:04d},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},{action},{last_format(last)}")
    return lines


def _write(path, lines):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))


def main(argv=None):
    args = get_parser().parse_args(argv)
    stem = os.path.splitext(args.output)[0]
    video_id = os.path.basename(stem)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    spec = SyntheticSpec(seed=args.seed, num_train_videos=1, num_val_videos=1, duration_s=args.duration)
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "synthetic")
        generate(root, seed=spec.seed, num_train_videos=1, num_val_videos=1, duration_s=spec.duration_s,
                 workers=1, progress=False)
        vid = video_ids(spec, "val")[0]
        frames = sorted(glob.glob(os.path.join(root, "frames", vid, "*.jpg")))
        first = cv2.imread(frames[0])
        partial = stem + ".partial.mp4"
        writer = cv2.VideoWriter(partial, cv2.VideoWriter_fourcc(*"mp4v"), 30, first.shape[1::-1])
        if not writer.isOpened():
            raise OSError(f"{args.output}: OpenCV cannot write this video (mp4v codec)")
        for p in frames:
            writer.write(cv2.imread(p))
        writer.release()
        os.replace(partial, args.output)
        ann = os.path.join(root, "annotations")
        gt = read_box_csv(os.path.join(ann, "ava_val_v2.2.csv"), kind="groundtruth").rows
        boxes = read_box_csv(os.path.join(ann, "ava_val_predicted_boxes.csv"), kind="proposals").rows
        _write(stem + "_gt.csv", _shift(gt[gt["video_id"] == vid], video_id, lambda pid: str(int(pid))))
        _write(stem + "_boxes.csv", _shift(boxes[boxes["video_id"] == vid], video_id, lambda score: f"{score:.6f}"))
    print(f"wrote {args.output} ({len(frames)} frames, 30 fps), {stem}_gt.csv and {stem}_boxes.csv")


if __name__ == "__main__":
    main()
