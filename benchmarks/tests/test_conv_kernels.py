"""Every fast-path convolution of the shipped configs and the test configs equals ``F.conv3d``
forward and backward (values and both gradients), checked in fresh processes under
``MALLOC_CHECK_=3`` (glibc aborts on heap corruption) with oneDNN's AVX2 kernels
(``ONEDNN_MAX_CPU_ISA=AVX2``) and with the machine's own ISA, so that an AVX-512 machine runs
the AVX2 kernels too. This is the check that catches ``tools/repro_onednn_1x1_bwd_weights.py``
(a heap overflow in oneDNN's AVX2 strided 1x1 weight-gradient kernel) on any x86 machine.

The cases come from running each config's backbone on the ``meta`` device at its training
and test sizes (:func:`benchmarks.conv_check.config_conv_cases`), with 8 frames
(real channels, kernels, strides, dilations and spatial sizes; fewer frames than the configs).
"""

import glob
import json
import os
import subprocess
import sys

import pytest
from tiny_ava_run import tiny_cfg

from benchmarks.conv_check import config_conv_cases
from slowfast_det.config import load_slowfast_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = sorted(
    f
    for f in glob.glob(os.path.join(ROOT, "configs", "*", "*.yaml"))
    if not os.path.basename(f).startswith("Base-") and "person_detector" not in f
)
# The model tests' tiny() config (tests/modeling/conftest.py): width 8, Fast width 1/8.
MODEL_TESTS_TINY = {
    "MODEL.SLOWFAST.STAGE_BLOCKS": [1, 1, 1, 1],
    "MODEL.SLOWFAST.WIDTH_PER_GROUP": 8,
    "MODEL.SLOWFAST.STEM_OUT_CHANNELS": 8,
    "INPUT.NUM_FRAMES": 8,
}


def _all_cases(tmp_path):
    cases = []

    def add(cfg, num_frames=None):
        for c in config_conv_cases(cfg, num_frames=num_frames):
            if c not in cases:
                cases.append(c)

    for path in SHIPPED:
        add(load_slowfast_cfg(path), num_frames=8)
    engine = tiny_cfg(tmp_path)  # tools/train_ava.py runs of tests/engine: 40 px crops, 48 test
    add(engine)
    for arch in ("slowfast", "slow"):
        for size in (32, 45, 64):
            extra = {
                "MODEL.SLOWFAST.BETA_INV": 8,
                "MODEL.SLOWFAST.ARCH": arch,
                "INPUT.TRAIN_CROP_SIZE": size,
                "INPUT.TEST_SIZE": size,
            }
            add(tiny_cfg(tmp_path, **MODEL_TESTS_TINY, **extra))
    return cases


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conv_kernels")
    cases = _all_cases(tmp)
    path = tmp / "cases.json"
    path.write_text(json.dumps(cases))
    return path, cases


def test_cases_cover_every_fast_path_kind(cases_file):
    _, cases = cases_file
    kernels = {tuple(c["weight"][2:]) for c in cases}

    def has(pred):
        return any(pred(c) for c in cases)

    assert has(lambda c: c["weight"][2] == 1 and c["weight"][3] > 1 and c["backward"])  # spatial
    assert has(
        lambda c: c["weight"][2] > 1 and c["weight"][3:] == [1, 1] and c["stride"][0] > 1
    )  # lateral
    assert has(
        lambda c: c["weight"][2:] == [1, 1, 1] and c["stride"] == [1, 2, 2] and c["backward"]
    )
    assert has(lambda c: c["dilation"] == [1, 2, 2])  # dilated res5
    assert (5, 7, 7) in kernels and (1, 7, 7) in kernels  # the stems
    assert has(lambda c: c["weight"][2:] == [5, 7, 7] and c["backward"])  # "taps" in training
    # the shape of the oneDNN AVX2 heap overflow (Fast res3 shortcut of the engine tests)
    assert has(
        lambda c: (
            c["input"][1] == 4
            and c["input"][3:] == [10, 10]
            and c["weight"][:2] == [8, 4]
            and c["stride"] == [1, 2, 2]
            and c["backward"]
        )
    )
    assert len(cases) > 300


def test_fast_path_convolutions_equal_conv3d_on_avx2_and_native_kernels(cases_file):
    path, cases = cases_file
    base = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    runs = {}
    for isa in ("AVX2", None):  # None: the machine's own (oneDNN's default, all ISAs)
        env = dict(
            base,
            MALLOC_CHECK_="3",
            OMP_NUM_THREADS="1",
            **({"ONEDNN_MAX_CPU_ISA": isa} if isa else {}),
        )
        cmd = [sys.executable, "-m", "benchmarks.conv_check", str(path), "--reps", "1"]
        runs[isa or "native"] = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    for isa, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"ISA {isa}: exit {proc.returncode}\n{out[-4000:]}"
        assert f"{len(cases)} cases (at least 1 repetitions each), 0 mismatches" in out, out[-4000:]
