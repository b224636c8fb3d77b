"""A tiny AVA-format folder and config for the training-reliability tests, and a runner for
``tools/train_ava.py`` in a subprocess.

The folder (built on ``tests/helpers/ava_tiny.make_ava_root``'s layout) has two 100-frame
64x48 videos with textured, moving frames (so that boxes differ), label map ids 1..5,
six training keyframes with exactly one person box each (so the loss, a mean over boxes,
of a 2-process step equals the 1-process one), and a val split with predicted boxes.
It lives under ``<DETECTRON2_DATASETS>/ava`` so that the built-in names ``ava_v2.2_train``
and ``ava_v2.2_val`` point at it in the subprocesses.
"""

import os
import subprocess
import sys

import cv2
import numpy as np
import torch
from ava_tiny import make_ava_root, write_annotation  # tests/helpers (pytest.ini pythonpath)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

NUM_CLASSES = 5
TRAIN_GT = """\
vidA,0901,0.10,0.20,0.50,0.90,1,0
vidA,0901,0.10,0.20,0.50,0.90,3,0
vidA,0902,0.30,0.10,0.80,0.80,2,0
vidA,0903,0.05,0.30,0.45,0.95,5,0
vidB,0901,0.50,0.20,0.95,0.90,4,0
vidB,0902,0.20,0.10,0.60,0.70,1,0
vidB,0902,0.20,0.10,0.60,0.70,2,0
vidB,0903,0.40,0.40,0.90,0.95,3,0
"""
VAL_GT = """\
vidA,0901,0.10,0.20,0.50,0.90,1,0
vidA,0902,0.30,0.10,0.80,0.80,2,0
vidA,0902,0.05,0.05,0.30,0.50,4,1
vidB,0901,0.50,0.20,0.95,0.90,4,0
vidB,0902,0.20,0.10,0.60,0.70,1,0
vidB,0903,0.40,0.40,0.90,0.95,3,0
"""
VAL_PRED = """\
vidA,0901,0.10,0.20,0.50,0.90,,0.95
vidA,0901,0.55,0.10,0.95,0.60,,0.90
vidA,0902,0.30,0.10,0.80,0.80,,0.99
vidA,0902,0.05,0.05,0.30,0.50,,0.85
vidB,0901,0.50,0.20,0.95,0.90,,0.97
vidB,0902,0.20,0.10,0.60,0.70,,0.93
vidB,0903,0.40,0.40,0.90,0.95,,0.91
vidB,0903,0.00,0.00,0.30,0.30,,0.88
"""
LABEL_MAP = "".join(
    f'item {{\n  name: "action {i}"\n  id: {i}\n}}\n' for i in range(1, NUM_CLASSES + 1)
)


def make_tiny_ava(root):
    """Write the folder at ``root`` (``<DETECTRON2_DATASETS>/ava``); returns ``root``."""
    root = make_ava_root(root)
    rng = np.random.default_rng(0)
    for v, vid in enumerate(("vidA", "vidB")):
        texture = cv2.resize(
            rng.integers(0, 256, (12, 16, 3), dtype=np.uint8),
            (96, 48),
            interpolation=cv2.INTER_LINEAR,
        )
        for i in range(100):
            frame = np.roll(texture, (i * (v + 1)) % 32, axis=1)[:, :64]
            cv2.imwrite(os.path.join(root, "frames", vid, f"{vid}_{i + 1:06d}.jpg"), frame)
    for name, text in (
        ("ava_train_v2.2.csv", TRAIN_GT),
        ("ava_val_v2.2.csv", VAL_GT),
        ("ava_val_predicted_boxes.csv", VAL_PRED),
        ("ava_val_excluded_timestamps_v2.2.csv", ""),
        ("ava_action_list_v2.2_for_activitynet_2019.pbtxt", LABEL_MAP),
    ):
        write_annotation(root, name, text)
    return root


def tiny_cfg(output_dir, *, train="ava_v2.2_train", test="ava_v2.2_val", **overrides):
    """A tiny SlowFast training config (CPU, 40 px crops, 8 frames); ``overrides`` are
    ``"KEY.NAME": value`` pairs."""
    from slowfast_det.config import load_slowfast_cfg

    values = {
        "MODEL.DEVICE": "cpu",
        "MODEL.SLOWFAST.STAGE_BLOCKS": [1, 1, 1, 1],
        "MODEL.SLOWFAST.WIDTH_PER_GROUP": 4,
        "MODEL.SLOWFAST.STEM_OUT_CHANNELS": 8,
        "MODEL.SLOWFAST.BETA_INV": 4,
        "MODEL.SLOWFAST.FUSION_KERNEL_SZ": 5,
        "MODEL.ROI_HEADS.NUM_CLASSES": NUM_CLASSES,
        "MODEL.ROI_ACTION_HEAD.DROPOUT_RATE": 0.5,
        "INPUT.NUM_FRAMES": 8,
        "INPUT.SAMPLING_RATE": 2,
        "INPUT.TRAIN_JITTER_SCALES": [40, 52],
        "INPUT.TRAIN_CROP_SIZE": 40,
        "INPUT.TEST_SIZE": 48,
        "INPUT.FLIP_PROB": 0.5,
        "INPUT.COLOR_JITTER": 0.2,
        "AVA.DETECTION_SCORE_THRESH": 0.5,
        "AVA.EVAL_PLOTS": False,
        "AVA.GENERATE_SYNTHETIC_IF_MISSING": False,
        "DATASETS.TRAIN": (train,),
        "DATASETS.TEST": (test,) if test else (),
        "DATALOADER.NUM_WORKERS": 0,
        "SOLVER.IMS_PER_BATCH": 2,
        "SOLVER.BASE_LR": 0.05,
        "SOLVER.MOMENTUM": 0.9,
        "SOLVER.WEIGHT_DECAY": 1e-4,
        "SOLVER.MAX_ITER": 6,
        "SOLVER.STEPS": (),
        "SOLVER.WARMUP_ITERS": 0,
        "SOLVER.CHECKPOINT_PERIOD": 2,
        "TEST.EVAL_PERIOD": 0,
        "SEED": 7,
        "OUTPUT_DIR": str(output_dir),
    }
    values.update(overrides)
    return load_slowfast_cfg(freeze=False, values=values)


def write_cfg(cfg, path):
    with open(path, "w") as f:
        f.write(cfg.dump())
    return str(path)


def train_cmd(cfg_file, *args):
    """Command line of ``tools/train_ava.py`` (unbuffered Python)."""
    return [
        sys.executable,
        "-u",
        os.path.join(ROOT, "tools", "train_ava.py"),
        "--config-file",
        str(cfg_file),
        *map(str, args),
    ]


def child_env(datasets_root):
    env = dict(
        os.environ,
        DETECTRON2_DATASETS=str(datasets_root),
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS="1",
    )
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_train(cfg_file, datasets_root, *args, timeout=240):
    """Run tools/train_ava.py to completion; returns the CompletedProcess (output in .stdout)."""
    proc = subprocess.run(
        train_cmd(cfg_file, *args),
        env=child_env(datasets_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, (
        f"train_ava.py {' '.join(map(str, args))} failed:\n{proc.stdout[-6000:]}"
    )
    return proc


def load_weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def max_weight_diff(a, b):
    """Largest absolute difference over the floating tensors of two state dicts (same keys)."""
    assert sorted(a) == sorted(b)
    return max(
        float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point()
    )


class one_torch_thread:
    """Context manager: torch uses one CPU thread inside (tiny tensors gain nothing from
    more, and on a busy CI machine an OpenMP team of 2 can be much slower than 1)."""

    def __enter__(self):
        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self._threads)
