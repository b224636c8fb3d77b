"""Multigrid training (SOLVER.MULTIGRID) through tools/train_ava.py and tools/train_net.py on
the CPU: the learning rate of every iteration is PySlowFast's rescaled one; a run resumed from
a checkpoint in the middle of a stage and of a short cycle reaches the uninterrupted run's
weights; two processes (BN groups within a process and across the two) give the one-process
weights; the classifier trains with it too."""

import os
import shutil

import pytest
import torch
from test_classification_training import CONFIG, OVERRIDES, TINY_SET, run_tool
from tiny_ava_run import (
    load_weights,
    make_tiny_ava,
    max_weight_diff,
    run_train,
    tiny_cfg,
    write_cfg,
)

from slowfast_det.config import load_slowfast_cfg
from slowfast_det.data.multigrid import MultigridSchedule
from slowfast_det.engine.trainer import AVATrainer
from slowfast_det.synthetic.classification import generate_classification

R = 0.5**0.5
MG = {
    "SOLVER.MULTIGRID.LONG_CYCLE": True,
    "SOLVER.MULTIGRID.SHORT_CYCLE": True,
    "SOLVER.MULTIGRID.LONG_CYCLE_FACTORS": [[0.5, R], [1.0, 1.0]],
    "SOLVER.MULTIGRID.BN_BASE_SIZE": 4,
    "MODEL.ROI_ACTION_HEAD.DROPOUT_RATE": 0.0,
    "SOLVER.IMS_PER_BATCH": 4,
    "SOLVER.MAX_ITER": 10,
    "SOLVER.STEPS": (7,),
    "SOLVER.CHECKPOINT_PERIOD": 1,
}


def _lrs(cfg):
    schedule = MultigridSchedule.from_config(cfg)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.SOLVER.BASE_LR)
    scheduler = AVATrainer.build_lr_scheduler(cfg, optimizer)
    lrs = []
    for _ in range(schedule.max_iter):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return schedule, lrs


def test_learning_rate_of_every_iteration():
    values = {**MG, "SOLVER.BASE_LR": 0.1, "SOLVER.WARMUP_ITERS": 0, "SOLVER.GAMMA": 0.1}
    cfg = load_slowfast_cfg(values=values)
    schedule, lrs = _lrs(cfg)
    ft = schedule.stages[-1]
    for i, lr in enumerate(lrs):
        stage = schedule.stage_at(i)
        gamma = 0.1**stage.step_index
        if stage is ft and i < (ft.start + ft.end) // 2:
            gamma = 0.1 ** (stage.step_index - 1)  # first half of the fine-tuning stage
        assert lr == pytest.approx(0.1 * gamma * stage.shapes[-1].batch / 4), i
    # square-root scaling (LR_SCALE_POWER 0.5, for AdamW)
    cfg = load_slowfast_cfg(values={**values, "SOLVER.MULTIGRID.LR_SCALE_POWER": 0.5})
    _, sqrt_lrs = _lrs(cfg)
    scales = [schedule.batch_scale(i) for i in range(schedule.max_iter)]
    assert sqrt_lrs == pytest.approx([lr / s**0.5 for lr, s in zip(lrs, scales)])
    # warm-up: as many samples as WARMUP_ITERS default steps (4 x 4 = 16 clips: 1 step of 16)
    cfg = load_slowfast_cfg(values={**values, "SOLVER.WARMUP_ITERS": 4})
    _, warm = _lrs(cfg)
    assert warm[0] < lrs[0] and warm[1:] == pytest.approx(lrs[1:])
    # cosine: Detectron2's cosine at the fraction of samples seen, x the batch scale
    cfg = load_slowfast_cfg(values={**values, "SOLVER.LR_SCHEDULER_NAME": "WarmupCosineLR"})
    schedule, lrs = _lrs(cfg)
    total = schedule.position(schedule.max_iter)
    for i, lr in enumerate(lrs):
        import math

        cos = 0.5 * (1 + math.cos(math.pi * schedule.position(i) / total))
        assert lr == pytest.approx(0.1 * cos * schedule.batch_scale(i)), i


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mg_train")
    make_tiny_ava(tmp / "datasets" / "ava")
    return tmp


def test_resume_mid_cycle_reaches_the_uninterrupted_weights(ava):
    cfg = tiny_cfg(ava / "ref", test=None, **MG)
    schedule = MultigridSchedule.from_config(cfg)
    cfg_file = write_cfg(cfg, ava / "resume.yaml")
    run_train(cfg_file, ava / "datasets")
    reference = load_weights(ava / "ref" / "model_final.pth")
    # the checkpoint after iteration k: k + 1 inside a stage and inside its short cycle
    k = next(
        i
        for i in range(schedule.max_iter - 2)
        if schedule.stage_at(i + 1).start < i + 1 and (i + 1 - schedule.stage_at(i + 1).start) % 3
    )
    resumed = ava / "resumed"
    resumed.mkdir()
    name = f"model_{k:07d}.pth"
    shutil.copy(ava / "ref" / name, resumed / name)
    (resumed / "last_checkpoint").write_text(name)
    out = run_train(cfg_file, ava / "datasets", "--resume", "OUTPUT_DIR", resumed)
    assert f"Starting training from iteration {k + 1}" in out.stdout, out.stdout[-3000:]
    assert max_weight_diff(load_weights(resumed / "model_final.pth"), reference) == 0.0


def test_two_processes_give_the_one_process_weights(ava):
    cfg = tiny_cfg(ava / "one", test=None, **{**MG, "SOLVER.CHECKPOINT_PERIOD": 100})
    schedule = MultigridSchedule.from_config(cfg)
    # per rank 2 clips at the default batch (BN across both ranks) and >= 4 elsewhere (within)
    assert {s.batch // 2 for st in schedule.stages for s in st.shapes} >= {2, 4}
    cfg_file = write_cfg(cfg, ava / "ddp.yaml")
    run_train(cfg_file, ava / "datasets", "DATALOADER.NUM_WORKERS", 2)
    two = run_train(
        cfg_file, ava / "datasets", "--num-gpus", 2, "--dist-url", "auto", "OUTPUT_DIR", ava / "two"
    )
    assert "World size: 2" in two.stdout, two.stdout[-3000:]
    one_w = load_weights(ava / "one" / "model_final.pth")
    two_w = load_weights(ava / "two" / "model_final.pth")
    assert max_weight_diff(one_w, two_w) < 1e-5


def test_the_classifier_trains_with_multigrid(tmp_path):
    datasets = tmp_path / "datasets"
    generate_classification(str(datasets / "synthetic_cls"), workers=2, progress=False, **TINY_SET)
    out = tmp_path / "run"
    mg = [
        "SOLVER.MULTIGRID.LONG_CYCLE", "True",
        "SOLVER.MULTIGRID.SHORT_CYCLE", "True",
        "SOLVER.MULTIGRID.LONG_CYCLE_FACTORS", f"[[0.5, {R}], [1.0, 1.0]]",
        "SOLVER.MAX_ITER", "6",
        "SOLVER.STEPS", "(4,)",
    ]  # fmt: skip
    log = run_tool(
        "train_net.py", datasets, "--config-file", CONFIG, *OVERRIDES, *mg, "OUTPUT_DIR", out
    )
    assert "Multigrid: " in log and "x8x24" in log, log[-3000:]  # 16 x 0.5 frames, 48 x 0.5 crop
    assert log.strip().splitlines()[-1].startswith("top1: ")
    assert os.path.isfile(out / "model_final.pth")
