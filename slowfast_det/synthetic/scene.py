"""Scene model of the synthetic AVA-format dataset: classes, rules, people and their labels.

The classes and the rules below, the :class:`Person` / :class:`Video` records and the labels
of a slot live here; :mod:`.pose` turns a person's schedule into joint positions at a frame
(:func:`~.pose.pose_at`), :mod:`.sampling` draws random videos (:func:`~.sampling.sample_video`)
and :mod:`.render` draws the frames.

A video is ``num_seconds`` seconds at 30 fps, frame 0 being second 900.0 (AVA's clip
convention). Second ``t`` has keyframe index ``c = (t - 900) * 30`` and owns the *slot*
of frames ``[c - 15, c + 15)``; every per-person state below is constant over a slot, so
the labels of keyframe ``t`` describe what happens in the 1 s around it.

People are articulated figures (head with hair, torso, two-segment arms and legs, hands,
light shoes, a ground shadow) 39-89 % of the frame height tall, nearer ones lower in the
frame and bigger, with random skin, shirt, trouser, shoe and bag colours. 2-4 per video;
some start outside the frame and walk in, walkers leave and come back, and people drawn
nearer hide the ones behind them. Pose, arm and bag states change in runs of 2-8 slots
(events are drawn per slot); every change happens at a slot boundary.

Classes (ids 1..9, multi-label like AVA: exactly one pose class plus optional others):

====  ===========  =========  ================================================================
 id   name         needs      rule
====  ===========  =========  ================================================================
  1   stand        1 frame    pose: upright and not moving
  2   crouch       1 frame    pose: hips lowered, knees bent outward (cross-legged look)
  3   walk left    > 1 frame  pose: moving towards -x at 0.5..0.9 body heights per second
  4   walk right   > 1 frame  pose: moving towards +x (legs and arms swing symmetrically: a
                              single frame shows walking but not its direction)
  5   raise hand   15 fps     one arm raised and held still
  6   wave         15 fps     one arm raised and swinging about the shoulder with a period
                              of exactly 5 frames (6 Hz)
  7   kick         15 fps     a front kick (the foot comes up to hip height, nearer the
                              camera) for 4 frames (0.13 s); only while standing
  8   hop          15 fps     the body leaves the ground for 4 frames (0.13 s); standing or
                              walking
  9   carry bag    1 frame    a bag hangs from one hand (picked up / put down every 3-8 s)
====  ===========  =========  ================================================================

Why 5-8 cannot be told apart from single frames or from frames 10 or 15 apart:

- raise hand vs wave: the raised arm's angle from vertical is ``theta0 + amp * sin(phase)``.
  For raise hand ``phase`` is drawn uniform in [0, 2 pi) once per run of slots; for wave it
  is ``phase0 + 2 pi (f mod 5) / 5`` (``f`` the absolute frame index, ``phase0`` uniform),
  so the angle in any single frame has the same distribution for both classes (``theta0``
  and ``amp`` are drawn from the same ranges too). Frames 5, 10, 15, ... apart show a
  waving arm in exactly the same position (the Slow pathway's 10-frame spacing and 0.5 s =
  15 frames are both multiples of 5), while frames 2 apart (the Fast pathway at 15 fps) see
  it 144 degrees of phase apart.
- kick / hop vs nothing: the event lasts 4 consecutive frames and starts uniformly at an
  offset in ``EVENT_START_RANGE`` = [-15, +6] from the keyframe; outside those frames the
  person is drawn exactly as without the event. Any 4 consecutive frames contain two at even
  offsets, so the Fast pathway (offsets -16..+14 step 2) always sees it; the Slow pathway
  (offsets -16, -6, +4, +14) and the Slow-only model (-20, -10, 0, +10) each see it for 8
  of the 22 possible starts (36 %), frames 0.5 s apart for at most 5 of 22. No neighbouring
  keyframe's clip (Fast or Slow-only sampling) contains the event.

Ground truth follows AVA: a person gets a box at keyframe ``t`` when at least
``MIN_VISIBLE_FRACTION`` of their drawn pixels at the keyframe are inside the frame and not
hidden by people in front of them (heavily occluded or mostly out-of-frame people are left
out of the ground truth, consistently). The box is the tight box of the whole figure (arms,
legs and bag included) at the keyframe, clipped to the frame.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CLASSES",
    "CLASS_IDS",
    "MOTION_CLASS_IDS",
    "FPS",
    "FIRST_SECOND",
    "SLOT_HALF",
    "EVENT_LEN",
    "EVENT_START_RANGE",
    "WAVE_PERIOD",
    "MIN_VISIBLE_FRACTION",
    "Person",
    "Video",
    "slot_of_frame",
    "keyframe_index",
    "labels_at",
]

FPS = 30
FIRST_SECOND = 900
SLOT_HALF = 15  # slot of keyframe index c = frames [c - 15, c + 15)

# (id, name); ids are the AVA action ids written to the label map and the CSVs.
CLASSES = [
    (1, "stand"),
    (2, "crouch"),
    (3, "walk left"),
    (4, "walk right"),
    (5, "raise hand"),
    (6, "wave"),
    (7, "kick"),
    (8, "hop"),
    (9, "carry bag"),
]
CLASS_IDS = {name: cid for cid, name in CLASSES}
# Classes that no single frame (nor frames 10 or 15 apart) can tell apart, clear at 15 fps.
MOTION_CLASS_IDS = (5, 6, 7, 8)

# Pose codes (one per slot); the pose class id is POSE_CLASS[pose].
STAND, CROUCH, WALK_LEFT, WALK_RIGHT = 0, 1, 2, 3
POSE_CLASS = {STAND: 1, CROUCH: 2, WALK_LEFT: 3, WALK_RIGHT: 4}
# Arm codes.
ARM_DOWN, ARM_RAISE, ARM_WAVE = 0, 1, 2
ARM_CLASS = {ARM_RAISE: 5, ARM_WAVE: 6}
# Event codes.
EV_NONE, EV_KICK, EV_HOP = 0, 1, 2
EVENT_CLASS = {EV_KICK: 7, EV_HOP: 8}
CARRY_CLASS = 9

WAVE_PERIOD = 5  # frames (6 Hz): a divisor of 10 (Slow spacing) and 15 (0.5 s)
EVENT_LEN = 4  # frames (0.13 s)
EVENT_START_RANGE = (-15, 6)  # event start offset from the keyframe, inclusive
MIN_VISIBLE_FRACTION = 0.5


def slot_of_frame(f):
    """Slot (= keyframe index ``t - 900``) owning frame ``f``."""
    return (f + SLOT_HALF) // FPS


def keyframe_index(timestamp):
    """0-based frame index of keyframe second ``timestamp``."""
    return (int(timestamp) - FIRST_SECOND) * FPS


@dataclass
class Person:
    """One person of a video: appearance and per-slot schedule.

    Per-slot arrays have length ``num_slots``; ``x`` has one entry per frame (hip centre,
    pixels; it may lie outside the frame while the person is off screen).
    """

    pid: int
    height: float  # standing height, pixels
    feet_y: float  # ground line, pixels
    skin: tuple
    shirt: tuple
    pants: tuple
    bag_color: tuple
    shoe_color: tuple  # light sneakers: they stand out against the trousers
    carry_side: int  # hand that carries the bag: -1 = image left, +1 = image right
    gait_period: float  # frames per leg cycle when walking
    gait_phase: float
    x: np.ndarray  # (F,) float64
    pose: np.ndarray  # (S,) int: STAND / CROUCH / WALK_LEFT / WALK_RIGHT
    carry: np.ndarray  # (S,) bool: holds the bag
    arm: np.ndarray  # (S,) int: ARM_DOWN / ARM_RAISE / ARM_WAVE
    arm_side: np.ndarray  # (S,) int: side of the raised arm
    arm_theta0: np.ndarray  # (S,) float radians: mean raised-arm angle from vertical-up, outward
    arm_amp: np.ndarray  # (S,) float radians
    arm_phase: np.ndarray  # (S,) float radians
    event: np.ndarray  # (S,) int: EV_NONE / EV_KICK / EV_HOP
    event_start: np.ndarray  # (S,) int absolute frame of the event's first frame (-1 if none)
    event_side: np.ndarray  # (S,) int: kicking leg
    wave_period: int = WAVE_PERIOD  # frames per cycle of a waving arm


@dataclass
class Video:
    """A synthetic video: frame size, background seed and people (in drawing order)."""

    video_id: str
    num_frames: int
    width: int
    height: int
    people: list = field(default_factory=list)


def labels_at(person, slot):
    """Sorted action ids of ``person`` in ``slot`` (one pose class plus optional others)."""
    out = [POSE_CLASS[int(person.pose[slot])]]
    if person.arm[slot] != ARM_DOWN:
        out.append(ARM_CLASS[int(person.arm[slot])])
    if person.event[slot] != EV_NONE:
        out.append(EVENT_CLASS[int(person.event[slot])])
    if person.carry[slot]:
        out.append(CARRY_CLASS)
    return sorted(out)
