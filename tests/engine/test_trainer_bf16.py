"""bfloat16 in the trainer: its evaluation warns about TEST.BF16 on a CPU without native
bfloat16, as the predictors do (the check itself: tests/utils/test_cpu_features.py), and
SOLVER.AMP.ENABLED on a CPU trains under the model's bfloat16 autocast with Detectron2's
SimpleTrainer (AMPTrainer needs CUDA), warning likewise."""

import logging

import pytest
import torch
from detectron2.engine import DefaultTrainer, SimpleTrainer
from tiny_ava_run import make_tiny_ava, one_torch_thread, tiny_cfg

from slowfast_det.engine import trainer

TRAIN = "_bf16_train"


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    from slowfast_det.data import datasets

    root = make_tiny_ava(tmp_path_factory.mktemp("bf16") / "ava")
    datasets.register_ava_dataset(TRAIN, root, "train")
    yield root
    datasets.unregister_ava_dataset(TRAIN)


def test_test_warns_about_bf16_then_runs_detectron2s_test(cfg, monkeypatch, caplog):
    seen = []
    monkeypatch.setattr(
        trainer,
        "bf16_cpu_warning",
        lambda bf16, device: f"bf16 warning for {device}" if bf16 else None,
    )
    monkeypatch.setattr(
        DefaultTrainer,
        "test",
        classmethod(lambda cls, cfg, model, evaluators=None: seen.append(model) or {"r": 1}),
    )
    cfg.MODEL.DEVICE = "cpu"
    cfg.TEST.BF16 = False
    with caplog.at_level(logging.WARNING, logger="slowfast_det.engine.trainer"):
        assert trainer.AVATrainer.test(cfg, "model-0") == {"r": 1}
    assert "bf16 warning" not in caplog.text
    cfg.TEST.BF16 = True
    with caplog.at_level(logging.WARNING, logger="slowfast_det.engine.trainer"):
        assert trainer.AVATrainer.test(cfg, "model-1") == {"r": 1}
    assert "bf16 warning for cpu" in caplog.text
    assert seen == ["model-0", "model-1"]  # Detectron2's test ran both times


def test_amp_on_a_cpu_trains_in_bf16_with_the_simple_trainer(ava, tmp_path, monkeypatch, caplog):
    calls = []

    def warning(bf16, device, key="TEST.BF16"):
        calls.append((bf16, device, key))
        return f"{key} warning for {device}" if bf16 else None

    monkeypatch.setattr(trainer, "bf16_cpu_warning", warning)
    cfg = tiny_cfg(tmp_path / "out", train=TRAIN, test=None, **{"SOLVER.AMP.ENABLED": True})
    cfg.SOLVER.MAX_ITER = 2
    with one_torch_thread(), caplog.at_level(logging.WARNING, logger=trainer.__name__):
        t = trainer.AVATrainer(cfg)
        assert type(t._trainer) is SimpleTrainer  # not AMPTrainer: no CUDA, no grad scaler
        assert t.model.bf16_training and t.nonfinite_guard.check_grads
        dtypes = []
        t.model.backbone.register_forward_hook(
            lambda m, i, out: dtypes.append(out["pathway0"].dtype)
        )
        before = {k: p.detach().clone() for k, p in t.model.named_parameters()}
        t.train()
    assert [c for c in calls if c[2] != "TEST.BF16"] == [(True, "cpu", "SOLVER.AMP.ENABLED")]
    assert "SOLVER.AMP.ENABLED warning for cpu" in caplog.text
    assert dtypes == [torch.bfloat16, torch.bfloat16]  # both iterations autocast
    params = dict(t.model.named_parameters())
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in params.values())
    assert any(not torch.equal(before[k], p.detach()) for k, p in params.items())


def test_amp_on_a_cpu_with_multigrid_groups_trains(ava, tmp_path):
    """Multigrid's BN over fixed groups of clips (GroupedBatchNorm3d) under bfloat16 autocast:
    the short-cycle shapes and larger batches train, with float32, finite weights."""
    from test_multigrid_training import MG

    overrides = {**MG, "SOLVER.AMP.ENABLED": True, "SOLVER.MAX_ITER": 4}
    cfg = tiny_cfg(tmp_path / "out", train=TRAIN, test=None, **overrides)
    with one_torch_thread():
        t = trainer.AVATrainer(cfg)
        assert t.model.bf16_training and t.multigrid is not None
        shapes = []
        t.model.backbone.register_forward_pre_hook(
            lambda m, args: shapes.append(tuple(args[0][-1].shape))
        )
        t.train()
    assert len(set(shapes)) > 1  # the multigrid shapes varied
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in t.model.parameters())
