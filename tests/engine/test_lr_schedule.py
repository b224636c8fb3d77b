"""AVATrainer's learning-rate schedule: SOLVER.WARMUP_ITERS beyond SOLVER.MAX_ITER (issue 26)."""

import logging

import pytest
import torch

from slowfast_det.engine.trainer import AVATrainer


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings():
    handler, log = _Records(), logging.getLogger("slowfast_det.engine.trainer")
    log.addHandler(handler)
    yield handler.messages
    log.removeHandler(handler)


def lrs(cfg, iters):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.SOLVER.BASE_LR)
    scheduler = AVATrainer.build_lr_scheduler(cfg, optimizer)
    out = []
    for _ in range(iters):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_warmup_longer_than_training_warns_once_with_what_to_set(cfg, warnings):
    """The issue's run: 20 iterations with the AVA recipe's warm-up (16455 iterations, factor
    0.00125): the learning rate never leaves warm-up; one warning says so and what to set."""
    cfg.SOLVER.merge_from_list(["MAX_ITER", 20, "WARMUP_ITERS", 16455, "WARMUP_FACTOR", 0.00125])
    cfg.SOLVER.merge_from_list(["BASE_LR", 0.1, "STEPS", ()])
    got = lrs(cfg, 20)
    assert max(got) < 0.1  # never the base learning rate
    assert warnings == [
        "SOLVER.WARMUP_ITERS 16455 > SOLVER.MAX_ITER 20: the learning rate never leaves warm-up "
        "(it rises from 0.00125 x SOLVER.BASE_LR over the whole run and never reaches the "
        "schedule's value); set SOLVER.WARMUP_ITERS below MAX_ITER (e.g. 2)"
    ]


def test_warmup_within_training_or_without_effect_is_silent(cfg, warnings):
    cfg.SOLVER.merge_from_list(["MAX_ITER", 20, "WARMUP_ITERS", 5, "BASE_LR", 0.1, "STEPS", ()])
    assert lrs(cfg, 20)[-1] == pytest.approx(0.1)
    cfg.SOLVER.merge_from_list(["WARMUP_ITERS", 100, "WARMUP_FACTOR", 1.0])  # no warm-up at all
    lrs(cfg, 1)
    assert warnings == []
