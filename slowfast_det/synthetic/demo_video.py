"""A synthetic video file (unseen by training) for the demo, with its ground truth
(``tools/make_synthetic_video.py``; ``tools/benchmark.py --task tracking`` renders one too).

One video of the synthetic dataset generator under a seed the default dataset does not use:

* ``<output>`` (.mp4, 30 fps, mp4v), the frames of the video;
* ``<stem>_gt.csv``: its ground truth (AVA format: boxes normalised, action ids, person id),
  timestamps in seconds from the start of the video, i.e. the demo's keyframe times; the
  person ids are the generator's people;
* ``<stem>_boxes.csv``: the generator's detector-like person boxes in the same convention
  (``tools/demo.py --boxes`` input).

The video id in both CSVs is the output file name without extension (the demo's default).
"""

import glob
import os
import tempfile

import cv2

from slowfast_det.ava.files import write_box_csv
from slowfast_det.ava.io import read_box_csv
from slowfast_det.ava.layout import FRAMES_DIR, split_files
from slowfast_det.data.frames import AVA_START_SECOND

from .spec import SyntheticSpec, video_ids
from .writer import generate

__all__ = ["write_demo_video"]


def _shift(rows, video_id):
    """AVA rows of the generated video (:func:`read_box_csv` rows) -> a box table
    (:func:`write_box_csv`) with the demo's video id and keyframe times (seconds from the
    start of the video)."""
    cols = ["x1", "y1", "x2", "y2", "action_id", "last"]
    return {
        "video_id": [video_id] * len(rows),
        "timestamp": rows["timestamp"].to_numpy() - AVA_START_SECOND,
        **{c: rows[c].to_numpy() for c in cols},
    }


def write_demo_video(output, seed=1000, duration=12):
    """Write ``output`` (.mp4) and its ``_gt.csv`` and ``_boxes.csv`` beside it; returns the
    number of frames. ``seed``: the generator's (the default dataset uses 0); ``duration``:
    seconds."""
    stem = os.path.splitext(output)[0]
    video_id = os.path.basename(stem)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    spec = SyntheticSpec(seed=seed, num_train_videos=1, num_val_videos=1, duration_s=duration)
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "synthetic")
        generate(
            root,
            seed=spec.seed,
            num_train_videos=1,
            num_val_videos=1,
            duration_s=spec.duration_s,
            workers=1,
            progress=False,
        )
        vid = video_ids(spec, "val")[0]
        frames = sorted(glob.glob(os.path.join(root, FRAMES_DIR, vid, "*.jpg")))
        first = cv2.imread(frames[0])
        partial = stem + ".partial.mp4"
        writer = cv2.VideoWriter(partial, cv2.VideoWriter_fourcc(*"mp4v"), 30, first.shape[1::-1])
        if not writer.isOpened():
            raise OSError(f"{output}: OpenCV cannot write this video (mp4v codec)")
        for p in frames:
            writer.write(cv2.imread(p))
        writer.release()
        os.replace(partial, output)
        files = split_files("val", "v2.2")
        gt_csv = os.path.join(root, files["groundtruth_file"])
        gt = read_box_csv(gt_csv, kind="groundtruth").rows
        boxes_csv = os.path.join(root, files["predicted_boxes_file"])
        boxes = read_box_csv(boxes_csv, kind="proposals").rows
        write_box_csv(_shift(gt[gt["video_id"] == vid], video_id), stem + "_gt.csv")
        write_box_csv(_shift(boxes[boxes["video_id"] == vid], video_id), stem + "_boxes.csv")
    return len(frames)
