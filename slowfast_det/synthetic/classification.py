"""Synthetic video classification set: one person per clip, classes that differ only in
motion, written as PySlowFast's Kinetics layout (the embedded default of the classifier).

    from slowfast_det.synthetic.classification import ensure_synthetic_classification
    ensure_synthetic_classification("datasets/synthetic_cls")   # no-op when complete

A clip is ``duration_s`` seconds at 30 fps (64 x 64 by default): the articulated figure of
:mod:`~slowfast_det.synthetic.scene` (random size, position, colours) in one of ``rooms``
cluttered rooms of :mod:`~slowfast_det.synthetic.render` (every room shows every class
equally often: :func:`clip_room`), with camera noise, encoded as an mp4 (PyAV, H.264 when
available, else MPEG-4, high quality). The classes use the same figure and the same poses:

=====  ==========  ====================================================================
label  name        motion
=====  ==========  ====================================================================
  0    stand       arms down, still
  1    raise arm   one arm raised and held still at angle ``theta0 + amp * sin(phase)``
  2    wave slow   the raised arm swings about the shoulder, period 10 frames (3 Hz)
  3    wave fast   the same, period 5 frames (6 Hz)
  4    walk left   walking towards -x (legs and arms swing symmetrically)
  5    walk right  walking towards +x
=====  ==========  ====================================================================

What tells them apart: for 1-3 the raised arm's angle in any single frame has one
distribution (``phase`` uniform; the waves' phase advances ``2 pi / period`` per frame), and
frames 10 apart show a waving arm in exactly the same place (10 is a multiple of both
periods): the Slow pathway of the synthetic configs (4 frames 10 apart: 16 frames at stride 2,
of which ``linspace(0, 15, 4)``) and the Slow-only model (4 frames at stride 10) see three
classes as one "held arm" at best (at most 4 of 6 classes right), while the Fast pathway
(every 2nd frame) sees the arm move by 72 or 144 degrees of phase per frame. Walking left and
right differ only in the direction of the displacement (positions have the same distribution
in a single frame: the walk is centred on the same range), which any two frames show.

Files under ``<root>``: ``videos/<video_id>.mp4``, ``train.csv`` and ``val.csv`` (PySlowFast's
``path label`` lines, paths relative to ``<root>``), ``classnames.json`` (``{name: label}``,
as PySlowFast's ``kinetics_classnames.json``) and the manifest ``synthetic_cls.json``. The
folder is complete or absent and a pure function of the parameters (each clip draws from its
own stream seeded by ``(seed, split, index)``, each room from ``(seed, room)``); see
:mod:`.folder`.
"""

import functools
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Dict

import av
import cv2
import numpy as np

from slowfast_det.utils.cpu_features import cpu_flags

from . import folder
from .render import CameraNoise, make_background, render_frame
from .sampling import random_look
from .scene import (
    ARM_DOWN,
    ARM_RAISE,
    ARM_WAVE,
    FPS,
    STAND,
    WALK_LEFT,
    WALK_RIGHT,
    Person,
    Video,
    slot_of_frame,
)
from .spec import STREAM_SCENE, video_rng

__all__ = [
    "CLASS_NAMES",
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "SPLITS",
    "ClassificationSpec",
    "default_classification_root",
    "clip_labels",
    "build_clip",
    "clip_room",
    "room_background",
    "generate_classification",
    "ensure_synthetic_classification",
    "read_classification_manifest",
    "encode_mp4",
    "x264_options",
    "DATASET_NAMES",
    "register_synthetic_classification",
]

logger = logging.getLogger(__name__)

CLASS_NAMES = ("stand", "raise arm", "wave slow", "wave fast", "walk left", "walk right")
STAND_CLS, RAISE_CLS, WAVE_SLOW_CLS, WAVE_FAST_CLS, WALK_LEFT_CLS, WALK_RIGHT_CLS = range(6)
WAVE_PERIODS = {WAVE_SLOW_CLS: 10, WAVE_FAST_CLS: 5}  # frames; both divide 10
GENERATOR_VERSION = 2  # bump whenever the output for given parameters changes (2: rooms)
MANIFEST_NAME = "synthetic_cls.json"
WHAT = "synthetic classification"
SPLITS = ("train", "val")
#: The registered names of the splits (:func:`register_synthetic_classification`).
DATASET_NAMES = {split: f"synthetic_cls_{split}" for split in SPLITS}
_ROOM_STREAM = 2  # seeds the rooms (after spec.video_rng's split codes 0, 1)
CRF = 12  # H.264 quality (MPEG-4: qscale 2): compression must not blur the thin arms


@dataclass(frozen=True)
class ClassificationSpec:
    """Parameters of a synthetic classification set (all recorded in the manifest)."""

    seed: int = 0
    train_per_class: int = 120
    val_per_class: int = 16
    duration_s: float = 2.0
    width: int = 64
    height: int = 64
    rooms: int = 24  # backgrounds, each shared by every class (see clip_room)

    @property
    def num_frames(self):
        return int(round(self.duration_s * FPS))

    def validate(self):
        if self.train_per_class < 1 or self.val_per_class < 1:
            raise ValueError(f"{WHAT}: train_per_class and val_per_class must be >= 1")
        if self.num_frames < 32:
            raise ValueError(f"{WHAT}: duration_s must give >= 32 frames, got {self.duration_s}")
        if self.rooms < 1:
            raise ValueError(f"{WHAT}: rooms must be >= 1, got {self.rooms}")
        if self.width < 32 or self.height < 32 or self.width % 2 or self.height % 2:
            raise ValueError(
                f"{WHAT}: frames must be even sizes >= 32, got {self.width}x{self.height}"
            )
        return self


def default_classification_root():
    """``$DETECTRON2_DATASETS/synthetic_cls`` (``./datasets/synthetic_cls`` by default)."""
    return os.path.join(os.environ.get("DETECTRON2_DATASETS", "datasets"), "synthetic_cls")


def register_synthetic_classification(root=None):
    """Register ``synthetic_cls_train`` / ``synthetic_cls_val`` (the set at ``root``, default
    :func:`default_classification_root`) with :func:`slowfast_det.data.register_video_list`:
    PySlowFast lists, class names from ``classnames.json``. Lazy (nothing is read now) and
    idempotent; ``tools/train_net.py`` does it in every process, after generating a missing
    set (:func:`~slowfast_det.engine.process_setup.prepare_data`). Returns the names."""
    from slowfast_det.data import register_video_list  # torch: not in the rendering workers

    root = os.path.abspath(root or default_classification_root())
    for split, name in DATASET_NAMES.items():
        register_video_list(
            name,
            os.path.join(root, f"{split}.csv"),
            root,
            fmt="pyslowfast",
            label_names=os.path.join(root, "classnames.json"),
        )
    return list(DATASET_NAMES.values())


def clip_labels(spec, split):
    """``[(video_id, label)]`` of a split: ``per_class`` clips of each class, interleaved."""
    n = spec.train_per_class if split == "train" else spec.val_per_class
    k = len(CLASS_NAMES)
    return [(f"syncls{split}{i:05d}", i % k) for i in range(n * k)]


def _person(rng, label, num_frames, width, height):
    """The one :class:`~slowfast_det.synthetic.scene.Person` of a clip of class ``label``."""
    num_slots = slot_of_frame(num_frames - 1) + 1
    h = height * rng.uniform(0.5, 0.72)
    feet_y = height * rng.uniform(0.86, 0.97)
    travel = width * rng.uniform(0.25, 0.45)  # walkers cross this; the others stand in it
    centre = width * (0.5 + rng.uniform(-0.1, 0.1))
    t = np.arange(num_frames) / (num_frames - 1)
    if label == WALK_RIGHT_CLS:
        x, pose = centre - travel / 2 + travel * t, WALK_RIGHT
    elif label == WALK_LEFT_CLS:
        x, pose = centre + travel / 2 - travel * t, WALK_LEFT
    else:
        x, pose = np.full(num_frames, centre + rng.uniform(-0.5, 0.5) * travel), STAND
    arm = {RAISE_CLS: ARM_RAISE, WAVE_SLOW_CLS: ARM_WAVE, WAVE_FAST_CLS: ARM_WAVE}
    slots = np.ones(num_slots)
    return Person(
        pid=0,
        height=float(h),
        feet_y=float(feet_y),
        **random_look(rng),
        carry_side=1,
        gait_period=float(rng.uniform(20, 28)),
        gait_phase=float(rng.uniform(0, 2 * math.pi)),
        x=x.astype(np.float64),
        pose=np.full(num_slots, pose, dtype=np.int64),
        carry=np.zeros(num_slots, dtype=bool),
        arm=np.full(num_slots, arm.get(label, ARM_DOWN), dtype=np.int64),
        arm_side=np.full(num_slots, int(rng.choice([-1, 1])), dtype=np.int64),
        arm_theta0=slots * math.radians(rng.uniform(20.0, 40.0)),
        arm_amp=slots * math.radians(rng.uniform(30.0, 45.0)),
        arm_phase=slots * rng.uniform(0.0, 2.0 * math.pi),
        event=np.zeros(num_slots, dtype=np.int64),
        event_start=np.full(num_slots, -1, dtype=np.int64),
        event_side=np.ones(num_slots, dtype=np.int64),
        wave_period=WAVE_PERIODS.get(label, 5),
    )


def clip_room(spec, index):
    """The room (background) of clip ``index`` of either split: ``(index // K) % rooms``, so
    that K consecutive clips, one of each class, share a room and every room shows every
    class equally often: a room says nothing about the class (with a room per clip, the
    tiny models learnt the 240 training rooms by heart: 100 % train, 40 % val top-1)."""
    return (index // len(CLASS_NAMES)) % spec.rooms


def room_background(spec, room):
    """The background image of ``room`` (BGR uint8 (H, W, 3)), shared by both splits."""
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, _ROOM_STREAM, room]))
    return make_background(rng, spec.width, spec.height)


def build_clip(spec, split, index):
    """The scene of clip ``index`` of ``split``: ``(video, background, camera, rng, label)``;
    ``render_frame(video, background, f, rng, camera)`` for f in order draws its frames."""
    video_id, label = clip_labels(spec, split)[index]
    rng = video_rng(spec, split, index, STREAM_SCENE)
    person = _person(rng, label, spec.num_frames, spec.width, spec.height)
    background = room_background(spec, clip_room(spec, index))
    camera = CameraNoise(rng, spec.num_frames)
    video = Video(video_id, spec.num_frames, spec.width, spec.height, people=[person])
    return video, background, camera, rng, label


def x264_options(cpuinfo: str = "/proc/cpuinfo") -> Dict[str, str]:
    """libx264's options for :func:`encode_mp4`: CRF :data:`CRF`, preset medium, and on a CPU
    with AVX-512 (``cpuinfo``'s flags) its assembly capped at AVX2: with its AVX-512 code the
    same frames gave different bytes from run to run (an Intel Xeon with AVX-512: 2-3
    different files in each of several sets of 20 encodes of one 48x48 clip), with the cap one
    file in 80."""
    options = {"crf": str(CRF), "preset": "medium"}
    if "avx512f" in (cpu_flags(cpuinfo) or ()):
        options["x264-params"] = "asm=AVX2"
    return options


def encode_mp4(path, frames_bgr, fps=FPS):
    """Encode BGR uint8 frames ``(H, W, 3)`` (even sizes) as an mp4 with PyAV: H.264
    (``libx264``, :func:`x264_options`, one thread, so the bytes depend only on the frames) when
    this PyAV has it, else MPEG-4 (qscale 2). Returns the codec name."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=fps)
        first = frames_bgr[0]
        stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = x264_options() if codec == "libx264" else {"qscale": "2"}
        for i, img in enumerate(frames_bgr):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[..., ::-1]), "rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return codec


def _render_clip(job):
    out_root, spec, split, index = job
    cv2.setNumThreads(1)
    video, background, camera, rng, label = build_clip(spec, split, index)
    frames = [render_frame(video, background, f, rng, camera) for f in range(video.num_frames)]
    path = os.path.join(out_root, "videos", f"{video.video_id}.mp4")
    return video.video_id, label, encode_mp4(path, frames)


def _write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(f"{line}\n" for line in lines))


def read_classification_manifest(root):
    """The manifest of a complete synthetic classification set at ``root``, or None."""
    return folder.read_manifest(root, MANIFEST_NAME, WHAT)


def _manifest_matches(manifest, spec):
    return folder.manifest_matches(manifest, spec, GENERATOR_VERSION)


def generate_classification(root, *, seed=0, workers=2, progress=True, **sizes):
    """Generate the synthetic classification set at ``root`` (replacing an older one; a
    folder without the manifest is never overwritten: FileExistsError).

    Args:
        seed: everything (people, rooms, noise) is a function of it.
        workers: processes rendering clips in parallel (1: in this process).
        progress: a tqdm bar, one step per clip.
        **sizes: the other fields of :class:`ClassificationSpec` (train_per_class,
            val_per_class, duration_s, width, height).
    Returns:
        the manifest (``spec``, ``classes``, ``codec``, clips per split and class), plus
        ``seconds`` (not written).
    """
    spec = ClassificationSpec(seed=seed, **sizes).validate()
    root = os.path.abspath(root)
    start = time.perf_counter()
    same = functools.partial(_manifest_matches, spec=spec)
    with folder.staged_folder(root, MANIFEST_NAME, WHAT, same) as tmp:
        os.makedirs(os.path.join(tmp, "videos"))
        jobs = [(tmp, spec, s, i) for s in SPLITS for i in range(len(clip_labels(spec, s)))]
        done = folder.run_jobs(_render_clip, jobs, workers=workers, progress=progress, desc=WHAT)
        summary = {}
        for split in SPLITS:
            rows = [(vid, label) for (_, _, s, _), (vid, label, _) in zip(jobs, done) if s == split]
            _write_lines(
                os.path.join(tmp, f"{split}.csv"), [f"videos/{v}.mp4 {c}" for v, c in rows]
            )
            counts = np.bincount([c for _, c in rows], minlength=len(CLASS_NAMES))
            summary[split] = {"videos": len(rows), "per_class": counts.tolist()}
        with open(os.path.join(tmp, "classnames.json"), "w", encoding="utf-8") as f:
            json.dump({name: i for i, name in enumerate(CLASS_NAMES)}, f, indent=1)
            f.write("\n")
        manifest = {
            "format": "slowfast_det synthetic classification (PySlowFast path label lists)",
            "generator_version": GENERATOR_VERSION,
            "spec": asdict(spec),
            "classes": list(CLASS_NAMES),
            "codec": done[0][2],
            "fps": FPS,
            "summary": summary,
        }
        with open(os.path.join(tmp, MANIFEST_NAME), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
    seconds = time.perf_counter() - start
    logger.info("%s: wrote %s in %.1f s", WHAT, root, seconds)
    return dict(manifest, seconds=round(seconds, 2))


def ensure_synthetic_classification(root=None, *, seed=0, workers=2, progress=True, **sizes):
    """Generate the set at ``root`` (default :func:`default_classification_root`) unless a
    complete one with the same parameters and generator version is there. Returns its
    manifest."""
    root = os.path.abspath(root or default_classification_root())
    spec = ClassificationSpec(seed=seed, **sizes).validate()
    manifest = read_classification_manifest(root)
    if _manifest_matches(manifest, spec):
        missing = [
            v
            for s in SPLITS
            for v, _ in clip_labels(spec, s)
            if not os.path.isfile(os.path.join(root, "videos", f"{v}.mp4"))
        ]
        if not missing:
            logger.info("%s: complete dataset found at %s", WHAT, root)
            return manifest
        logger.warning(
            "%s: %s lacks %d videos (e.g. %s); regenerating", WHAT, root, len(missing), missing[0]
        )
    elif manifest is not None:
        logger.info("%s: %s was made with other parameters; regenerating", WHAT, root)
    return generate_classification(root, seed=seed, workers=workers, progress=progress, **sizes)
