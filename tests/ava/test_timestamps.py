"""Keyframe timestamps: one key at microsecond precision (as the 2020 official script), AVA's
text for whole seconds, and the nearest-frame rule."""

import numpy as np
import pytest

from slowfast_det.ava.timestamps import (
    format_timestamp,
    frame_position,
    normalize,
    normalize_array,
    parse_timestamp,
)


@pytest.mark.parametrize("text", ["0902", "902", "902.0", "902.000000", "902.0000001", " 902 "])
def test_whole_second_spellings_are_one_int_key(text):
    t = parse_timestamp(text)
    assert t == 902 and isinstance(t, int)


def test_sub_second_keys_are_their_own_and_microsecond_rounded():
    assert parse_timestamp("902.5") == 902.5
    assert parse_timestamp("902.5") != 902
    assert parse_timestamp("902.500000") == parse_timestamp("0902.5")
    assert hash(parse_timestamp("902.5000001")) == hash(902.5)
    assert parse_timestamp("900.0333334") == parse_timestamp("900.033333")  # same microsecond
    assert parse_timestamp("900.033334") != parse_timestamp("900.033333")
    for bad in ("inf", "nan", "x"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_text_keeps_ava_format_for_whole_seconds():
    assert format_timestamp(902) == "0902"
    assert format_timestamp(902.0) == "0902"
    assert format_timestamp(1798) == "1798"
    assert format_timestamp(902.5) == "0902.5"
    assert format_timestamp(900 + 1 / 30) == "0900.033333"
    assert parse_timestamp(format_timestamp(900 + 1 / 30)) == normalize(900 + 1 / 30)


def test_normalize_array_types():
    assert normalize_array(np.array([902.0, 903.0])).dtype == np.int64
    half = normalize_array(np.array([902.0, 902.5]))
    assert half.dtype == np.float64 and half.tolist() == [902.0, 902.5]


def test_frame_position_nearest_frame_half_up():
    assert frame_position(902, 900, 30) == 60  # AVA: (t - 900) * 30
    assert frame_position(902.5, 900, 30) == 75
    assert (
        frame_position(parse_timestamp("900.033333"), 900, 30) == 1
    )  # per-frame keyframes written to 6 digits
    assert frame_position(900 + 1 / 60, 900, 30) == 1  # exactly half-way: the later frame
    assert frame_position(900.01, 900, 30) == 0
    assert frame_position(1.0, 0, 25) == 25
