"""Drawing a random synthetic video: its people, their appearance and per-slot schedules.

:func:`sample_video` draws the :class:`~.scene.Video` of the rules of :mod:`.scene` from a
numpy ``Generator``; the draws are made in a fixed order, so a seed gives the same video.
"""

import math

import cv2
import numpy as np

from .scene import (
    ARM_DOWN,
    ARM_RAISE,
    ARM_WAVE,
    CROUCH,
    EV_HOP,
    EV_KICK,
    EV_NONE,
    EVENT_LEN,
    EVENT_START_RANGE,
    FPS,
    SLOT_HALF,
    STAND,
    WALK_LEFT,
    WALK_RIGHT,
    Person,
    Video,
    slot_of_frame,
)

__all__ = ["random_look", "sample_video"]


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


def random_look(rng) -> dict:
    """A person's random colours, :class:`Person`'s ``skin``, ``shirt``, ``pants``,
    ``bag_color`` and ``shoe_color`` (BGR), drawn from ``rng`` in that order."""
    return dict(
        skin=_SKINS[int(rng.integers(len(_SKINS)))],
        shirt=_random_color(rng),
        pants=_random_color(rng, sat=(0.2, 0.8), val=(0.2, 0.6)),
        bag_color=_random_color(rng, sat=(0.7, 1.0), val=(0.6, 1.0)),
        shoe_color=_random_color(rng, sat=(0.0, 0.25), val=(0.85, 1.0)),
    )


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
        **random_look(rng),
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
