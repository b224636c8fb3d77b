"""slowfast_det.utils.cpu_features: native bfloat16 read from /proc/cpuinfo-style files made
here, and the TEST.BF16 warning it gives."""

import pytest

from slowfast_det.utils.cpu_features import (
    bf16_cpu_warning,
    cpu_flags,
    cpu_has_native_bf16,
)

AVX2_EPYC = "fpu vme sse sse2 avx f16c fma avx2 bmi2 sha_ni vaes"
SAPPHIRE_RAPIDS = "fpu sse2 avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8"


@pytest.fixture(autouse=True)
def _no_onednn_cap(monkeypatch):
    # the AVX2 stand-in (ONEDNN_MAX_CPU_ISA=AVX2) of a developer's shell must not decide these
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)


def _cpuinfo(tmp_path, flags, key="flags"):
    body = "".join(
        f"processor\t: {i}\nvendor_id\t: X\nmodel name\t: CPU\n{key}\t\t: {flags}\n\n"
        for i in range(2)
    )
    path = tmp_path / "cpuinfo"
    path.write_text(body)
    return str(path)


def test_flags_and_native_bf16(tmp_path):
    (tmp_path / "a").mkdir()
    avx2 = _cpuinfo(tmp_path / "a", AVX2_EPYC)
    assert cpu_flags(avx2) == frozenset(AVX2_EPYC.split())
    assert cpu_has_native_bf16(avx2) is False
    (tmp_path / "b").mkdir()
    spr = _cpuinfo(tmp_path / "b", SAPPHIRE_RAPIDS)
    assert cpu_has_native_bf16(spr) is True
    (tmp_path / "c").mkdir()
    arm = _cpuinfo(tmp_path / "c", "fp asimd bf16 sve", key="Features")
    assert "bf16" in cpu_flags(arm) and cpu_has_native_bf16(arm) is False


def test_unknown_flags(tmp_path):
    assert cpu_flags(str(tmp_path / "missing")) is None
    assert cpu_has_native_bf16(str(tmp_path / "missing")) is None
    (tmp_path / "empty").write_text("processor\t: 0\n")
    assert cpu_has_native_bf16(str(tmp_path / "empty")) is None
    assert bf16_cpu_warning(True, "cpu", str(tmp_path / "missing")) is None


@pytest.mark.parametrize(
    "bf16,device,flags,warns",
    [
        (True, "cpu", AVX2_EPYC, True),
        (False, "cpu", AVX2_EPYC, False),
        (True, "cuda", AVX2_EPYC, False),
        (True, "cuda:1", AVX2_EPYC, False),
        (True, "cpu", SAPPHIRE_RAPIDS, False),
    ],
)
def test_bf16_warning(tmp_path, bf16, device, flags, warns):
    msg = bf16_cpu_warning(bf16, device, _cpuinfo(tmp_path, flags))
    assert (msg is not None) == warns
    if warns:
        assert "TEST.BF16" in msg and "avx512_bf16" in msg and "0.018x" in msg
    # the trainer's key (SOLVER.AMP.ENABLED: bfloat16 autocast in CPU training) is named instead
    amp = bf16_cpu_warning(bf16, device, _cpuinfo(tmp_path, flags), key="SOLVER.AMP.ENABLED")
    assert amp == (msg.replace("TEST.BF16", "SOLVER.AMP.ENABLED") if warns else None)


@pytest.mark.parametrize(
    "cap,native",
    [
        ("AVX2", False),
        ("avx512_core", False),
        ("AVX512_CORE_VNNI", False),
        ("AVX512_CORE_AMX", True),
    ]
    + [("", True)],
)
def test_onednn_isa_cap_below_bf16_means_emulated(tmp_path, monkeypatch, cap, native):
    spr = _cpuinfo(tmp_path, SAPPHIRE_RAPIDS)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert cpu_has_native_bf16(spr) is native
    msg = bf16_cpu_warning(True, "cpu", spr)
    assert (msg is None) == native
    if not native:
        assert "ONEDNN_MAX_CPU_ISA caps oneDNN below them" in msg
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # a cap cannot add what the CPU lacks
    assert cpu_has_native_bf16(_cpuinfo(tmp_path, AVX2_EPYC)) is False
