"""A user's own short movies as an AVA-format folder (issue 26, "own movies"): frames extracted
from second 0, a hand-written CSV in movie seconds and a 3-class label map (ids 11, 12, 91).

Videos ``clipA`` and ``clipB`` of :data:`NUM_FRAMES` frames (9.5 s at 30 fps, frames 0..284 as
in the issue), ``<vid>/<vid>_000001.jpg ...``; frame index ``i`` has blue channel
``frame_value(i)``. Keyframe second ``t`` is frame ``t * 30`` when the frames start at second 0,
which ``frame_lists/frames.json`` records as ``datasets/prepare_ava.py`` writes it; without the
file the frames are read as AVA's (second 900): every keyframe is then before frame 0.
"""

import json
import os

from ava_tiny import write_frame

NUM_FRAMES = 285
H, W = 24, 32
VIDEOS = ("clipA", "clipB")
LABEL_MAP = "".join(
    f'item {{ name: "{name}" id: {i} }}\n' for i, name in ((11, "sit"), (12, "stand"), (91, "wave"))
)
TRAIN_GT = """\
clipA,0002,0.1,0.2,0.5,0.9,11,0
clipA,0002,0.1,0.2,0.5,0.9,91,0
clipA,0004,0.2,0.2,0.6,0.9,12,0
clipA,0008,0.2,0.2,0.6,0.9,12,0
"""
VAL_GT = """\
clipB,0003,0.1,0.1,0.4,0.8,11,0
clipB,0003,0.5,0.1,0.9,0.8,12,1
clipB,0006
clipB,0009,0.5,0.1,0.9,0.8,91,1
"""


def frame_value(i):
    """Blue channel of frame index ``i`` (distinct for every other frame, JPEG-safe)."""
    return min(255, i)


def make_own_frames_root(root, *, origin=True):
    """Write the folder: ``frames/``, ``frame_lists/{train,val}.csv``,
    ``frame_lists/frames.json`` (``origin``: second 0, 30 fps) and ``annotations/`` (ground
    truth and the label map). Returns the root as a str."""
    root = str(root)
    for d in ("frames", "frame_lists", "annotations"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for split, vid in zip(("train", "val"), VIDEOS):
        folder = os.path.join(root, "frames", vid)
        os.makedirs(folder, exist_ok=True)
        lines = ["original_vido_id video_id frame_id path labels"]
        for i in range(NUM_FRAMES):
            write_frame(
                os.path.join(folder, f"{vid}_{i + 1:06d}.jpg"), frame_value(i), 80, size=(H, W)
            )
            lines.append(f'{vid} 0 {i} {vid}/{vid}_{i + 1:06d}.jpg ""')
        with open(os.path.join(root, "frame_lists", f"{split}.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
    if origin:
        with open(os.path.join(root, "frame_lists", "frames.json"), "w") as f:
            json.dump({"start_second": 0, "fps": 30}, f)
    ann = os.path.join(root, "annotations")
    for name, text in (
        ("ava_train_v2.2.csv", TRAIN_GT),
        ("ava_val_v2.2.csv", VAL_GT),
        ("my_actions.pbtxt", LABEL_MAP),
    ):
        with open(os.path.join(ann, name), "w") as f:
            f.write(text)
    return root
