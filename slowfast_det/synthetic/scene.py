"""Scene model of the synthetic AVA-format dataset: classes, people, schedules and poses.

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

import math
from dataclasses import dataclass, field

import cv2
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
    "Pose",
    "slot_of_frame",
    "keyframe_index",
    "sample_video",
    "pose_at",
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
EVENT_PROFILE = (0.85, 1.0, 1.0, 0.85)  # event strength over its frames
EVENT_START_RANGE = (-15, 6)  # event start offset from the keyframe, inclusive
MIN_VISIBLE_FRACTION = 0.5

# Figure proportions, in units of the standing height h.
HEAD_R = 0.08
NECK_TO_HIP = 0.30
HIP_TO_FEET = 0.48
SHOULDER_HALF = 0.10
HIP_HALF = 0.05
UPPER_ARM = 0.17
FOREARM = 0.17
THIGH = 0.24
SHIN = 0.24
CROUCH_HIP = 0.26  # hip height above the feet when crouching
HOP_LIFT = 0.25  # lift at full event strength
BAG_W, BAG_H = 0.2, 0.24
ELBOW_BEND = math.radians(20)  # forearm of a raised arm, turned inward from the upper arm


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


@dataclass
class Pose:
    """Joint positions (pixels, float) of one person at one frame."""

    head: tuple
    head_r: float
    neck: tuple
    hip: tuple
    shoulders: tuple  # (left, right)
    elbows: tuple
    hands: tuple
    hips: tuple
    knees: tuple
    feet: tuple
    shoe_scale: tuple  # shoe size factor per foot (a kicking foot comes nearer)
    bag: tuple  # (x1, y1, x2, y2) or None
    ground: tuple  # (x, y) centre of the shadow on the ground


def _dir(alpha, side):
    """Unit vector at angle ``alpha`` from straight down, turned outward on ``side``."""
    return side * math.sin(alpha), math.cos(alpha)


def _add(p, d, length):
    return p[0] + d[0] * length, p[1] + d[1] * length


def raised_arm_angle(person, slot, f):
    """Upper-arm angle (radians from vertical-up, outward) of a raised arm at frame ``f``."""
    phase = person.arm_phase[slot]
    if person.arm[slot] == ARM_WAVE:
        period = person.wave_period
        phase = phase + 2.0 * math.pi * (f % period) / period
    return person.arm_theta0[slot] + person.arm_amp[slot] * math.sin(phase)


def event_strength(person, slot, f):
    """0 outside the slot's event, else the event profile value at frame ``f``."""
    if person.event[slot] == EV_NONE:
        return 0.0
    k = f - person.event_start[slot]
    return EVENT_PROFILE[k] if 0 <= k < EVENT_LEN else 0.0


def pose_at(person, f):
    """The :class:`Pose` of ``person`` at frame ``f`` (a pure function of the schedule)."""
    s = slot_of_frame(f)
    h = person.height
    pose = person.pose[s]
    walking = pose in (WALK_LEFT, WALK_RIGHT)
    hx, gy = float(person.x[f]), person.feet_y
    ev = person.event[s]
    k = event_strength(person, s, f)
    lift = HOP_LIFT * h * k if ev == EV_HOP else 0.0
    gait = 2.0 * math.pi * f / person.gait_period + person.gait_phase if walking else 0.0
    swing = math.sin(gait)

    hip_y = gy - (CROUCH_HIP if pose == CROUCH else HIP_TO_FEET) * h - lift
    hip = (hx, hip_y)
    neck = (hx, hip_y - NECK_TO_HIP * h)
    head = (hx, neck[1] - 0.02 * h - HEAD_R * h)
    hips, knees, feet, shoes = [], [], [], []
    for side in (-1, 1):
        hp = (hx + side * HIP_HALF * h, hip_y)
        shoe = 1.0
        if pose == CROUCH:
            kn = _add(hp, _dir(math.radians(62), side), THIGH * h)
            drop = max(gy - kn[1], 1e-3)
            shin_a = -math.acos(min(drop / (SHIN * h), 1.0))  # inward, foot on the ground
            ft = _add(kn, _dir(shin_a, side), SHIN * h)
        elif ev == EV_KICK and side == person.event_side[s] and k > 0:
            # front kick towards the camera: in the image the leg shortens, the foot comes
            # up to the hip and looks bigger (nearer); it stays inside the person's box
            kn = (hp[0] + side * 0.10 * h * k, hp[1] + THIGH * h * (1.0 - 0.55 * k))
            ft = (kn[0] - side * 0.03 * h * k, kn[1] + SHIN * h * (1.0 - 0.8 * k))
            shoe = 1.0 + 1.3 * k
        else:
            # absolute swing, mirrored between the legs: direction-neutral
            a = math.radians(22) * swing * (1 if side < 0 else -1) if walking else 0.0
            kn = _add(hp, (math.sin(a) + side * 0.05, math.cos(a)), THIGH * h)
            ft = _add(kn, (math.sin(a * 0.6) + side * 0.03, math.cos(a * 0.6)), SHIN * h)
            if ev == EV_HOP and k > 0:  # tuck the feet a little
                ft = (ft[0], ft[1] - 0.05 * h * k)
        hips.append(hp)
        knees.append(kn)
        feet.append(ft)
        shoes.append(shoe)

    shoulders, elbows, hands = [], [], []
    bag = None
    for side in (-1, 1):
        sh = (hx + side * SHOULDER_HALF * h, neck[1] + 0.02 * h)
        if person.arm[s] != ARM_DOWN and side == person.arm_side[s]:
            theta = raised_arm_angle(person, s, f)  # the whole arm turns about the shoulder
            el = _add(sh, _dir(math.pi - theta, side), UPPER_ARM * h)
            ha = _add(el, _dir(math.pi - theta + ELBOW_BEND, side), FOREARM * h)
        elif person.carry[s] and side == person.carry_side:
            el = _add(sh, _dir(math.radians(10), side), UPPER_ARM * h)
            ha = _add(el, _dir(math.radians(4), side), FOREARM * h)
            bw, bh = BAG_W * h, BAG_H * h
            bag = (ha[0] - bw / 2, ha[1], ha[0] + bw / 2, ha[1] + bh)
        else:
            a = math.radians(18) * swing * (1 if side > 0 else -1) if walking else 0.0
            el = _add(sh, (math.sin(a) + side * 0.2, math.cos(a)), UPPER_ARM * h)
            ha = _add(el, (math.sin(a * 1.3) + side * 0.12, math.cos(a * 1.3)), FOREARM * h)
        shoulders.append(sh)
        elbows.append(el)
        hands.append(ha)
    return Pose(
        head=head,
        head_r=HEAD_R * h,
        neck=neck,
        hip=hip,
        shoulders=tuple(shoulders),
        elbows=tuple(elbows),
        hands=tuple(hands),
        hips=tuple(hips),
        knees=tuple(knees),
        feet=tuple(feet),
        shoe_scale=tuple(shoes),
        bag=bag,
        ground=(hx, gy),
    )


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


# --------------------------------------------------------------------------- sampling
def _random_color(rng, sat=(0.45, 1.0), val=(0.35, 1.0)):
    """A BGR colour from an HSV draw."""
    hsv = np.array(
        [[[rng.uniform(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]], dtype=np.uint8
    )
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


_SKINS = [
    (90, 120, 160),
    (110, 150, 200),
    (140, 180, 225),
    (60, 85, 120),
    (75, 105, 145),
    (155, 195, 235),
]


def _run_lengths(rng, num_slots, lo, hi):
    """Split ``range(num_slots)`` into consecutive runs of ``lo..hi`` slots."""
    s = 0
    while s < num_slots:
        n = int(rng.integers(lo, hi + 1))
        yield s, min(s + n, num_slots)
        s += n


def _sample_person(rng, pid, num_frames, width, height):
    num_slots = slot_of_frame(num_frames - 1) + 1
    feet_frac = rng.uniform(0.62, 0.97)
    t = (feet_frac - 0.62) / 0.35
    h = height * (0.42 + 0.40 * t) * rng.uniform(0.92, 1.08)  # 39-89 % of the frame height
    feet_y = feet_frac * height
    carry_side = int(rng.choice([-1, 1]))
    p = Person(
        pid=pid,
        height=float(h),
        feet_y=float(feet_y),
        skin=_SKINS[int(rng.integers(len(_SKINS)))],
        shirt=_random_color(rng),
        pants=_random_color(rng, sat=(0.2, 0.8), val=(0.2, 0.6)),
        bag_color=_random_color(rng, sat=(0.7, 1.0), val=(0.6, 1.0)),
        shoe_color=_random_color(rng, sat=(0.0, 0.25), val=(0.85, 1.0)),
        carry_side=carry_side,
        gait_period=float(rng.uniform(20, 28)),
        gait_phase=float(rng.uniform(0, 2 * math.pi)),
        x=np.zeros(num_frames),
        pose=np.zeros(num_slots, dtype=np.int64),
        carry=np.zeros(num_slots, dtype=bool),
        arm=np.zeros(num_slots, dtype=np.int64),
        arm_side=np.ones(num_slots, dtype=np.int64),
        arm_theta0=np.zeros(num_slots),
        arm_amp=np.zeros(num_slots),
        arm_phase=np.zeros(num_slots),
        event=np.zeros(num_slots, dtype=np.int64),
        event_start=np.full(num_slots, -1, dtype=np.int64),
        event_side=np.ones(num_slots, dtype=np.int64),
    )

    # --- locomotion / pose runs, integrating the hip position frame by frame
    margin = 0.5 * h  # beyond this the figure is entirely off screen
    if rng.random() < 0.25:  # enters later from outside the frame
        x = -margin - 5 if rng.random() < 0.5 else width + margin + 5
    else:
        x = rng.uniform(0.1, 0.9) * width
    speed = h * rng.uniform(0.5, 0.9) / FPS  # pixels per frame
    edge = 0.3 * h  # closer than this to a border, part of the figure is cut
    for a, b in _run_lengths(rng, num_slots, 2, 5):
        inward = WALK_RIGHT if x < width / 2 else WALK_LEFT
        outward = WALK_LEFT if inward == WALK_RIGHT else WALK_RIGHT
        u = rng.random()
        if x < -margin or x > width + margin:  # off screen: wait, or enter
            pose = STAND if u < 0.5 else inward
        elif x < edge or x > width - edge:  # cut by the border: walk in, or leave
            pose = inward if u < 0.75 else outward
        else:
            pose = int(rng.choice([STAND, CROUCH, WALK_LEFT, WALK_RIGHT], p=[0.4, 0.3, 0.15, 0.15]))
            if pose in (WALK_LEFT, WALK_RIGHT):  # mostly towards the side with more room
                off_centre = abs(x - width / 2) / (width / 2)
                pose = inward if rng.random() < 0.5 + 0.35 * off_centre else outward
        p.pose[a:b] = pose
        v = {WALK_LEFT: -speed, WALK_RIGHT: speed}.get(pose, 0.0)
        f0, f1 = max(a * FPS - SLOT_HALF, 0), min(b * FPS - SLOT_HALF, num_frames)
        for f in range(f0, f1):
            x += v
            p.x[f] = x

    # --- bag runs
    for a, b in _run_lengths(rng, num_slots, 3, 8):
        p.carry[a:b] = rng.random() < 0.3

    # --- arm runs
    for a, b in _run_lengths(rng, num_slots, 2, 5):
        arm = int(rng.choice([ARM_DOWN, ARM_RAISE, ARM_WAVE], p=[0.44, 0.28, 0.28]))
        p.arm[a:b] = arm
        p.arm_side[a:b] = -carry_side if p.carry[a:b].any() else int(rng.choice([-1, 1]))
        p.arm_theta0[a:b] = math.radians(rng.uniform(20.0, 40.0))
        p.arm_amp[a:b] = math.radians(rng.uniform(30.0, 45.0))
        p.arm_phase[a:b] = rng.uniform(0.0, 2.0 * math.pi)

    # --- brief events, one slot at a time
    lo, hi = EVENT_START_RANGE
    for s in range(num_slots):
        c = s * FPS
        if c + lo < 0 or c + hi + EVENT_LEN > num_frames:
            continue
        u = rng.random()
        if p.pose[s] == STAND:
            ev = EV_KICK if u < 0.4 else EV_HOP if u < 0.6 else EV_NONE
        elif p.pose[s] in (WALK_LEFT, WALK_RIGHT):
            ev = EV_HOP if u < 0.35 else EV_NONE
        else:
            ev = EV_NONE
        start = c + int(rng.integers(lo, hi + 1))
        side = -carry_side if p.carry[s] else int(rng.choice([-1, 1]))  # not behind the bag
        if ev != EV_NONE:
            p.event[s], p.event_start[s], p.event_side[s] = ev, start, side
    return p


def sample_video(rng, video_id, num_seconds, width, height, min_persons, max_persons):
    """Draw one :class:`Video` (people sorted far to near, i.e. in drawing order)."""
    num_frames = num_seconds * FPS
    n = int(rng.integers(min_persons, max_persons + 1))
    people = [_sample_person(rng, i, num_frames, width, height) for i in range(n)]
    people.sort(key=lambda p: p.feet_y)
    return Video(
        video_id=video_id, num_frames=num_frames, width=width, height=height, people=people
    )
