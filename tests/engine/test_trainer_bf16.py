"""The trainer's evaluation warns about TEST.BF16 on a CPU without native bfloat16, as the
predictors do (the check itself: tests/utils/test_cpu_features.py)."""

import logging

from detectron2.engine import DefaultTrainer

from slowfast_det.engine import trainer


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
