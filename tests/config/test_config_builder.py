"""The one config builder, slowfast_det.config.load_slowfast_cfg: defaults, a file, KEY VALUE
overrides and a dict of values, in that order; a plain Detectron2 config without our keys."""

import pytest
from detectron2.config import get_cfg

from slowfast_det.config import add_slowfast_config, load_slowfast_cfg, set_cfg_values


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("MODEL:\n  SLOWFAST:\n    ALPHA: 8\nSOLVER:\n  MAX_ITER: 7\n  BASE_LR: 0.5\n")
    return str(path)


def test_file_then_opts_then_values(config_file):
    cfg = load_slowfast_cfg(
        config_file,
        ["SOLVER.MAX_ITER", "9", "INPUT.TRAIN_JITTER_SCALES", "[40, 52]"],
        values={"SOLVER.BASE_LR": 0.25, "SOLVER.STEPS": (3,), "INPUT.NUM_FRAMES": 16},
    )
    assert cfg.is_frozen()
    assert cfg.MODEL.SLOWFAST.ALPHA == 8  # the file's
    assert cfg.SOLVER.MAX_ITER == 9 and cfg.INPUT.TRAIN_JITTER_SCALES == [
        40,
        52,
    ]  # opts parsed as YAML
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.STEPS, cfg.INPUT.NUM_FRAMES) == (
        0.25,
        (3,),
        16,
    )  # values as given
    assert cfg.MODEL.DEVICE == "cpu"  # no GPU in the tests (tests/conftest.py hides them)
    assert (
        load_slowfast_cfg(config_file, values={"MODEL.DEVICE": "cuda"}, freeze=False).MODEL.DEVICE
        == "cuda"
    )


def test_defaults_without_a_file():
    reference = get_cfg()
    add_slowfast_config(reference)
    reference.MODEL.DEVICE = "cpu"
    cfg = load_slowfast_cfg(freeze=False)
    assert not cfg.is_frozen() and cfg.dump() == reference.dump()
    plain = load_slowfast_cfg(slowfast_keys=False)
    assert (
        "SLOWFAST" not in plain.MODEL
        and "AVA" not in plain
        and plain.MODEL.META_ARCHITECTURE == "GeneralizedRCNN"
    )


def test_unknown_keys_are_refused(config_file):
    with pytest.raises(KeyError, match="MODEL.SLOWFAST.ALPHAA"):
        load_slowfast_cfg(config_file, values={"MODEL.SLOWFAST.ALPHAA": 4})
    with pytest.raises(KeyError, match="'NOPE' not found"):
        load_slowfast_cfg(values={"NOPE.ALPHA": 4})
    with pytest.raises(AssertionError, match="Non-existent key: SOLVER.MAX_ITERS"):
        load_slowfast_cfg(config_file, ["SOLVER.MAX_ITERS", "3"])
    with pytest.raises(KeyError, match="SLOWFAST"):  # a plain config has no slowfast_det keys
        load_slowfast_cfg(values={"MODEL.SLOWFAST.ALPHA": 4}, slowfast_keys=False)


def test_benchmarks_helper_is_the_builders():
    import benchmarks.random_weights

    assert benchmarks.random_weights.set_cfg_values is set_cfg_values
    cfg = load_slowfast_cfg(freeze=False)
    assert (
        set_cfg_values(cfg, {"MODEL.SLOWFAST.ARCH": "slow"}) is cfg
        and cfg.MODEL.SLOWFAST.ARCH == "slow"
    )
