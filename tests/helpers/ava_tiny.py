"""A tiny AVA-format folder built in a temp dir for the data tests.

Videos ``vidA`` and ``vidB``, ``NUM_VIDEO_FRAMES`` frames each (frame ids 0..99, files
``<vid>/<vid>_000001.jpg`` ...), ``W x H`` JPEGs whose blue channel encodes the frame index
(``2 * i``) and whose red channel encodes the video (vidA 200, vidB 100), green 50. Keyframe
second ``t`` is frame ``(t - 900) * 30``, so seconds 900..903 lie inside the videos.
"""

import os

import cv2
import numpy as np

NUM_VIDEO_FRAMES = 100
H, W = 48, 64
VIDEO_RED = {"vidA": 200, "vidB": 100}

LABEL_MAP = "".join(f'item {{\n  name: "action {i}"\n  id: {i}\n}}\n' for i in (1, 3, 5, 12, 80))

TRAIN_GT = """\
vidA,0902,0.1,0.2,0.5,0.9,12,0
vidA,0902,0.1,0.2,0.5,0.9,80,0
vidA,0902,0.6,0.1,1.2,0.8,5,1
vidA,0903
vidB,0901,0.2,0.2,0.4,0.4,3,0
vidB,0905,0.2,0.2,0.4,0.4,3,0
vidZ,0902,0.2,0.2,0.4,0.4,3,0
"""

VAL_GT = """\
vidA,0902,0.1,0.2,0.5,0.9,12,0
vidB,0901,0.2,0.2,0.4,0.4,3,0
vidB,0902,0.2,0.2,0.4,0.4,1,0
"""

VAL_PRED = """\
vidA,0902,0.1,0.2,0.5,0.9,,0.95
vidA,0902,0.5,0.5,0.9,0.9,,0.30
vidA,0903,0.2,0.2,0.6,0.6,,0.85
vidB,0902,0.2,0.2,0.4,0.4,,0.99
"""

VAL_EXCLUDED = "vidB,0902\n"


def frame_value(i):
    """Blue channel value of frame index i."""
    return 2 * i


def write_frame(path, blue, red, green=50, size=(H, W)):
    img = np.empty((size[0], size[1], 3), np.uint8)
    img[...] = (blue, green, red)
    assert cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])


def make_ava_root(root, videos=("vidA", "vidB"), num_frames=NUM_VIDEO_FRAMES, size=(H, W)):
    root = str(root)
    for d in ("frames", "frame_lists", "annotations"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    rows = ["original_vido_id video_id frame_id path labels"]
    for k, vid in enumerate(videos):
        os.makedirs(os.path.join(root, "frames", vid), exist_ok=True)
        for i in range(num_frames):
            rel = f"{vid}/{vid}_{i + 1:06d}.jpg"
            write_frame(
                os.path.join(root, "frames", rel),
                frame_value(i),
                VIDEO_RED.get(vid, 150),
                size=size,
            )
            rows.append(f'{vid} {k} {i} {rel} ""')
    for split in ("train", "val"):
        with open(os.path.join(root, "frame_lists", f"{split}.csv"), "w") as f:
            f.write("\n".join(rows) + "\n")
    files = {
        "ava_train_v2.2.csv": TRAIN_GT,
        "ava_val_v2.2.csv": VAL_GT,
        "ava_val_predicted_boxes.csv": VAL_PRED,
        "ava_val_excluded_timestamps_v2.2.csv": VAL_EXCLUDED,
        "ava_action_list_v2.2_for_activitynet_2019.pbtxt": LABEL_MAP,
    }
    for name, text in files.items():
        with open(os.path.join(root, "annotations", name), "w") as f:
            f.write(text)
    return root


def frame_path(root, vid, i):
    return os.path.join(str(root), "frames", vid, f"{vid}_{i + 1:06d}.jpg")


def write_annotation(root, name, text):
    with open(os.path.join(str(root), "annotations", name), "w") as f:
        f.write(text)
