"""Keyframe timestamps: one parser, one key, one text form and one frame rule for every file.

AVA's own files give whole seconds (``0902``), but custom datasets written in AVA's format
annotate every 0.5 s or every frame (UCF101-24 and JHMDB in AVA's format). The rules:

* **Key.** A timestamp is kept at microsecond precision with the 2020 official ActivityNet
  script's rule: its key is ``"%.6f" % Decimal(text)``, and ``%`` formatting converts the
  Decimal to the nearest float first, so the key is the float of the text correctly rounded
  to 6 decimals (``"%.6f" % float(text)``; half-way cases of the float's exact value go to
  even). So ``0902``, ``902.0`` and ``902.000000`` are the same key, ``902.5`` is its own,
  ``902.0000005`` is 902.000001 (its float is just above the half) and ``902.1234575`` is
  902.123457 (just below). Whole seconds are Python / numpy ints (so AVA's files keep their
  integer keys and byte-identical outputs); other times are floats of the key
  (:func:`normalize`), which compare and hash consistently.
* **Text.** :func:`format_timestamp`: whole seconds as AVA's ``%04d`` (``0902``); other times
  with the integer part padded the same way and the fraction without trailing zeros
  (``0902.5``, ``0900.033333``).
* **Frame.** :func:`frame_position`: the frame shown at time ``t`` of a video whose frame 0
  is at ``start_second`` is ``(t - start_second) * fps`` rounded to the nearest frame, a
  position exactly half-way between two frames going to the later one. For AVA (30 fps,
  start 900) this is ``(t - 900) * 30`` exactly for whole seconds, as before.
"""

import math
from typing import Union

import numpy as np

__all__ = [
    "normalize",
    "normalize_array",
    "parse_timestamp",
    "format_timestamp",
    "frame_position",
    "frame_positions",
    "is_whole",
]

Number = Union[int, float]
_MICRO = 1_000_000


def _micro(value: float) -> int:
    """The official key of a finite float in microseconds: ``"%.6f" % value`` (exact decimal
    rounding of the float's value) read back as an integer."""
    return int(("%.6f" % value).replace(".", ""))


def normalize(t: Number) -> Number:
    """``t`` as the key: an int for whole seconds, else the float of ``"%.6f" % float(t)``."""
    micro = _micro(float(t))
    if micro % _MICRO == 0:
        return micro // _MICRO
    return micro / _MICRO


def normalize_array(t: np.ndarray) -> np.ndarray:
    """Vectorised :func:`normalize` of a float array of finite values: int64 if every value
    rounds to a whole second, else float64 keys.

    ``np.round(t * 1e6)`` is the official rounding except where ``t * 1e6`` is within
    rounding error of a half microsecond (the product is inexact there); those values are
    rounded one by one with the official ``"%.6f"``.
    """
    t = np.asarray(t, dtype=np.float64)
    if np.all(np.floor(t) == t):  # AVA's whole seconds
        return t.astype(np.int64)
    scaled = t * _MICRO
    micro = np.round(scaled)
    tolerance = np.maximum(1e-3, 4 * np.spacing(np.abs(scaled)))
    near_half = np.abs(np.abs(scaled - micro) - 0.5) <= tolerance
    if near_half.any():
        idx = np.flatnonzero(near_half)
        micro[idx] = [_micro(v) for v in t[idx].tolist()]
    if np.all(micro % _MICRO == 0):
        return (micro // _MICRO).astype(np.int64)
    return micro / _MICRO


def is_whole(t: Number) -> bool:
    return float(t).is_integer()


def parse_timestamp(text: str) -> Number:
    """``"0902"`` -> 902, ``"902.500"`` -> 902.5; ValueError for text that is not a finite
    number."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return normalize(value)


def format_timestamp(t: Number) -> str:
    """AVA's text of a key: ``0902`` for whole seconds, ``0902.5`` otherwise."""
    t = normalize(t)
    if isinstance(t, int):
        return f"{t:04d}"
    whole = math.floor(t)
    frac = f"{t - whole:.6f}"[2:].rstrip("0")  # "0.500000" -> "5"
    return f"{whole:04d}.{frac}"


def frame_position(t: Number, start_second: Number, fps: float) -> int:
    """Index of the frame shown at time ``t`` (see the module doc for the rounding)."""
    return int(math.floor((float(t) - float(start_second)) * float(fps) + 0.5 + 1e-9))


def frame_positions(t, start_second: Number, fps: float) -> np.ndarray:
    """Vectorised :func:`frame_position` (int64, same shape as ``t``); exact integer arithmetic
    for whole-second int arrays at an integer fps."""
    t = np.asarray(t)
    if t.dtype.kind in "iu" and float(fps).is_integer() and float(start_second).is_integer():
        return (t.astype(np.int64) - int(start_second)) * int(fps)
    return np.floor((t.astype(np.float64) - float(start_second)) * float(fps) + 0.5 + 1e-9).astype(
        np.int64
    )
