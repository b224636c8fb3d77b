"""The figure of a person at one frame: joint positions from the per-slot schedule.

:func:`pose_at` is a pure function of a :class:`~.scene.Person` and a frame index; it is
where the rules of :mod:`.scene` (arm angles of raise hand and wave, kick and hop events,
walking gait, crouching) become geometry. :mod:`.render` draws the :class:`Pose`.
"""

import math
from dataclasses import dataclass

from .scene import (
    ARM_DOWN,
    ARM_WAVE,
    CROUCH,
    EV_HOP,
    EV_KICK,
    EV_NONE,
    EVENT_LEN,
    WALK_LEFT,
    WALK_RIGHT,
    slot_of_frame,
)

__all__ = ["Pose", "pose_at", "raised_arm_angle", "event_strength"]

EVENT_PROFILE = (0.85, 1.0, 1.0, 0.85)  # event strength over its frames


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
