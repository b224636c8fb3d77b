"""The parts the frame and video loader benchmarks share (``tools/benchmark.py --task
loader``): the synthetic scene and its AVA-format folder, recording and replaying the mapper's
decodes, interleaved timing and a DataLoader pass."""

import os
import time

import cv2
import numpy as np
import torch
from detectron2.data.build import trivial_batch_collator
from detectron2.data.common import DatasetFromList, MapDataset

from slowfast_det.ava.files import write_box_csv
from slowfast_det.config import load_slowfast_cfg
from slowfast_det.data import mapper_clips
from slowfast_det.data.decode import read_frame
from slowfast_det.data.frames import AVA_FPS, AVA_START_SECOND

__all__ = [
    "Scene",
    "build_folder",
    "record_decodes",
    "replay_decodes",
    "time_dataloader",
    "time_passes",
]


class Scene:
    """Frames of a smooth scene with moving discs and sensor noise (compress like real frames)."""

    def __init__(self, rng, w, h):
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack(
            [90 + 60 * np.sin(x / (37 + 11 * c)) * np.cos(y / (29 + 7 * c)) for c in range(3)], -1
        )
        self.base = base.astype(np.uint8)
        self.noise = [rng.integers(-4, 5, (h, w, 3)).astype(np.int16) for _ in range(4)]
        self.discs = [
            (
                rng.uniform(0, w),
                rng.uniform(0, h),
                rng.uniform(0.05, 0.15) * h,
                tuple(rng.uniform(0, 255, 3).tolist()),
                rng.uniform(-3, 3),
            )
            for _ in range(6)
        ]
        self.w = w

    def frame(self, t):
        img = np.roll(self.base, t, axis=1)
        for x, y, r, color, vx in self.discs:
            cv2.circle(img, (int((x + vx * t) % self.w), int(y)), int(r), color, -1)
        return np.clip(img.astype(np.int16) + self.noise[t % len(self.noise)], 0, 255).astype(
            np.uint8
        )


def loader_cfg(args):
    """The config of a loader case: clip length and sizes from the benchmark's arguments."""
    return load_slowfast_cfg(
        freeze=False,
        values={
            "INPUT.NUM_FRAMES": args.num_frames,
            "INPUT.SAMPLING_RATE": args.sampling_rate,
            "INPUT.TEST_SIZE": args.test_size,
            "INPUT.TRAIN_JITTER_SCALES": list(args.train_jitter),
            "INPUT.TRAIN_CROP_SIZE": args.train_crop,
            "AVA.DETECTION_SCORE_THRESH": 0.5,
        },
    )


def build_folder(root, width, height, num_keyframes, num_frames, sampling_rate, quality, seed=0):
    """One-video AVA-format folder with keyframes 902.. and person boxes at each."""
    rng = np.random.default_rng(seed)
    vid = "benchvid"
    first_ts = 902
    last_center = (first_ts + num_keyframes - 1 - AVA_START_SECOND) * AVA_FPS
    n = last_center + num_frames * sampling_rate // 2 + 2
    os.makedirs(os.path.join(root, "frames", vid), exist_ok=True)
    os.makedirs(os.path.join(root, "frame_lists"), exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    scene = Scene(rng, width, height)
    rows = ["original_vido_id video_id frame_id path labels"]
    for i in range(n):
        rel = f"{vid}/{vid}_{i + 1:06d}.jpg"
        cv2.imwrite(
            os.path.join(root, "frames", rel), scene.frame(i), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        rows.append(f'{vid} 0 {i} {rel} ""')
    for split in ("train", "val"):
        with open(os.path.join(root, "frame_lists", f"{split}.csv"), "w") as f:
            f.write("\n".join(rows) + "\n")
    # three people per keyframe: person p, box (0.1 + 0.25 p, 0.15, 0.3 + 0.25 p, 0.9), action p + 1
    k, p = np.divmod(np.arange(3 * num_keyframes), 3)
    x1 = np.round(0.1 + 0.25 * p, 3)
    boxes = {
        "video_id": [vid] * len(p),
        "timestamp": first_ts + k,
        "x1": x1,
        "y1": np.full(len(p), 0.15),
        "x2": np.round(x1 + 0.2, 3),
        "y2": np.full(len(p), 0.9),
    }
    ann = os.path.join(root, "annotations")
    for split in ("train", "val"):
        gt, pred = dict(boxes, action_id=1 + p, last=p), dict(boxes, last=np.full(len(p), 0.9))
        write_box_csv(gt, os.path.join(ann, f"ava_{split}_v2.2.csv"))
        write_box_csv(pred, os.path.join(ann, f"ava_{split}_predicted_boxes.csv"))
    with open(
        os.path.join(root, "annotations", "ava_action_list_v2.2_for_activitynet_2019.pbtxt"), "w"
    ) as f:
        f.write("".join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n' for i in (1, 2, 3)))
    return n


def record_decodes(mapper, dicts):
    """Run the mapper once per clip (seeded) and record which (path, factor) it decoded."""
    real, calls = mapper_clips.read_frame, []

    def recording(path, factor=1):
        calls[-1].append((path, factor))
        return real(path, factor)

    mapper_clips.read_frame = recording
    try:
        for i, d in enumerate(dicts):
            calls.append([])
            np.random.seed(i)
            assert mapper(d) is not None
    finally:
        mapper_clips.read_frame = real
    return calls


def replay_decodes(decodes, clips):
    """The decode-only limit: decode again, the same way, the frames the mapper decoded for
    ``clips`` (``decodes[i]``: the (path, reduction) calls of clip i)."""
    for i in clips:
        for p, f in decodes[i]:
            read_frame(p, f)


def time_passes(fns, repeats):
    """Best wall time and best thread CPU time per function over ``repeats`` interleaved passes.

    Everything runs in this thread, so its CPU time is the work done, without the time the
    thread waited for a core (a shared machine); page faults count (kernel time of the thread).
    Before each timed pass the function handles one clip untimed (``fn([0])``), so that no
    loader pays for the memory the previous one freed (allocator state, page faults) as a
    DataLoader worker running one loader would not.
    """
    best = {k: float("inf") for k in fns}
    best_cpu = dict(best)
    for _ in range(repeats):
        for k, fn in fns.items():
            fn([0])
            t, c = time.perf_counter(), time.thread_time()
            fn()
            best_cpu[k] = min(best_cpu[k], time.thread_time() - c)
            best[k] = min(best[k], time.perf_counter() - t)
    return best, best_cpu


def time_dataloader(mapper, dicts, workers, tag):
    ds = MapDataset(DatasetFromList(dicts, copy=False), mapper)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=1, num_workers=workers, collate_fn=trivial_batch_collator
    )
    it = iter(loader)
    next(it)  # start-up of the workers is not timed
    t = time.perf_counter()
    n = sum(1 for _ in it)
    return (
        f"{tag}: DataLoader, {workers} workers (incl. transfer to the main process)",
        n / (time.perf_counter() - t),
        "clips/s",
    )
