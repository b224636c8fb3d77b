"""A non-finite loss stops training with an error naming the iteration and the last good
checkpoint; nothing is saved, evaluated or updated from the diverged state; all ranks stop."""
import datetime
import os
import sys

import pytest
import torch
from detectron2.engine import HookBase
from tiny_ava_run import make_tiny_ava, one_torch_thread, tiny_cfg

from slowfast_det.checkpoint import safe_torch_load
from slowfast_det.engine.train_loop import SKIPPED_STEPS_KEY, NonFiniteLossError

TRAIN, VAL = "_nonfinite_train", "_nonfinite_val"


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from slowfast_det.data import datasets

    root = make_tiny_ava(tmp_path_factory.mktemp("nonfinite") / "ava")
    datasets.register_ava_dataset(TRAIN, root, "train")
    datasets.register_ava_dataset(VAL, root, "val")
    yield root
    for name in (TRAIN, VAL):
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
        datasets._AVA_REGISTRATIONS.pop(name, None)


def _trainer(out, bad_iter, value=float("nan"), **overrides):
    """An AVATrainer whose model's loss becomes ``value`` at iteration ``bad_iter``."""
    from slowfast_det.engine.trainer import AVATrainer

    cfg = tiny_cfg(out, train=TRAIN, test=VAL, **overrides)
    trainer = AVATrainer(cfg)
    trainer.resume_or_load(resume=False)

    def poison(module, inputs, output):
        if module.training and trainer.iter == bad_iter:
            return {k: v * value for k, v in output.items()}
        return None

    trainer.model.register_forward_hook(poison)
    return trainer


def _finite(path):
    return all(torch.isfinite(v).all() for v in safe_torch_load(str(path))["model"].values() if v.is_floating_point())


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nonfinite_loss_stops_without_saving_or_evaluating(ava, tmp_path, value):
    out = tmp_path / "out"
    # fails at the last iteration: Detectron2's EvalHook would otherwise evaluate after it
    trainer = _trainer(out, bad_iter=3, value=value, **{"SOLVER.MAX_ITER": 4, "SOLVER.CHECKPOINT_PERIOD": 1})
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(NonFiniteLossError) as e:
        trainer.train()
    msg = str(e.value)
    assert e.value.iteration == 3 and e.value.ranks == [0]
    assert "training stopped at iteration 3: non-finite loss on rank(s) [0]" in msg
    assert f"Last good checkpoint: {out / 'model_0000002.pth'}" in msg
    assert "No checkpoint was written from the diverged state" in msg
    files = sorted(os.listdir(out))
    assert [f for f in files if f.endswith(".pth")] == ["model_0000000.pth", "model_0000001.pth", "model_0000002.pth"]
    assert (out / "last_checkpoint").read_text() == "model_0000002.pth"
    assert all(_finite(out / f) for f in files if f.endswith(".pth"))
    assert not (out / "inference").exists() and not hasattr(trainer, "_last_eval_results")
    # the failed step did not update the parameters: they are those of the last checkpoint
    last = safe_torch_load(str(out / "model_0000002.pth"))["model"]
    params = dict(trainer.model.named_parameters())
    assert all(torch.equal(p.detach(), last[k]) for k, p in params.items())
    assert any(not torch.equal(before[k], p.detach()) for k, p in params.items())  # training did run


def test_failure_before_any_checkpoint_says_so(ava, tmp_path):
    trainer = _trainer(tmp_path / "out", bad_iter=0, **{"SOLVER.MAX_ITER": 2, "SOLVER.CHECKPOINT_PERIOD": 5})
    with pytest.raises(NonFiniteLossError, match=r"iteration 0: .* Last good checkpoint: none \(no checkpoint was written"):
        trainer.train()
    assert not [f for f in os.listdir(tmp_path / "out") if f.endswith(".pth")]


def test_skip_mode_drops_the_update_and_counts_it(ava, tmp_path):
    out = tmp_path / "out"
    trainer = _trainer(out, bad_iter=1, **{"SOLVER.MAX_ITER": 3, "SOLVER.CHECKPOINT_PERIOD": 1,
                                           "SOLVER.STOP_ON_NONFINITE_LOSS": False, "DATASETS.TEST": ()})
    trainer.train()
    assert trainer._trainer.skipped_steps == 1
    assert trainer.storage.history(SKIPPED_STEPS_KEY).values() == [(1, 1)]
    w0 = safe_torch_load(str(out / "model_0000000.pth"))["model"]
    w1 = safe_torch_load(str(out / "model_0000001.pth"))["model"]
    w2 = safe_torch_load(str(out / "model_0000002.pth"))["model"]
    params = [k for k, _ in trainer.model.named_parameters()]
    assert all(torch.equal(w0[k], w1[k]) for k in params)  # iteration 1: no update
    assert any(not torch.equal(w1[k], w2[k]) for k in params)  # iteration 2: updated again
    assert _finite(out / "model_final.pth")


def test_skip_mode_still_stops_when_batchnorm_statistics_went_nonfinite(ava, tmp_path):
    """A NaN input reaches the BatchNorm running statistics in the forward pass; skipping the
    update cannot undo that, so training stops."""
    trainer = _trainer(tmp_path / "out", bad_iter=-1, **{"SOLVER.MAX_ITER": 3, "SOLVER.CHECKPOINT_PERIOD": 1,
                                                        "SOLVER.STOP_ON_NONFINITE_LOSS": False, "DATASETS.TEST": ()})

    def nan_input(module, args):
        if trainer.iter == 1:
            for d in args[0]:
                d["clip"] = d["clip"] * float("nan")  # uint8 * nan -> a float NaN clip

    trainer.model.register_forward_pre_hook(nan_input)
    with pytest.raises(NonFiniteLossError, match="iteration 1: .* Last good checkpoint: .*model_0000000.pth"):
        trainer.train()
    assert not (tmp_path / "out" / "model_0000001.pth").exists()


# ----------------------------------------------------------------------------- 2 processes


class _Quadratic(torch.nn.Module):
    """loss = mean((w x)^2), NaN on rank ``bad_rank`` at iteration ``bad_iter``."""

    def __init__(self, bad_rank, bad_iter):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1, bias=False)
        self.bad_rank, self.bad_iter, self.calls = bad_rank, bad_iter, 0

    def forward(self, x):
        from detectron2.utils import comm

        loss = self.lin(x).pow(2).mean()
        if comm.get_rank() == self.bad_rank and self.calls == self.bad_iter:
            loss = loss * float("nan")
        self.calls += 1
        return {"loss": loss}


def _guarded_worker(out_dir):
    from detectron2.engine import create_ddp_model
    from detectron2.utils import comm

    from slowfast_det.engine.train_loop import GuardedSimpleTrainer

    torch.manual_seed(0)
    model = create_ddp_model(_Quadratic(bad_rank=1, bad_iter=2), broadcast_buffers=False, device_ids=None)
    data = iter(lambda: torch.ones(4, 3), None)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = GuardedSimpleTrainer(model, data, opt)
    weights = []
    trainer.register_hooks([_RecordWeights(weights)])
    try:
        trainer.train(0, 5)
        result = "finished"
    except NonFiniteLossError as e:
        result = f"{e.iteration} {e.ranks} steps={len(weights)} same={torch.equal(weights[-1], model.module.lin.weight.detach())}"
    with open(os.path.join(out_dir, f"rank{comm.get_rank()}.txt"), "w") as f:
        f.write(result)
    # After a training loop that ended in an exception, the interpreter's exit aborts this
    # spawned process in about 1 run of 3 ("terminate called without an active exception",
    # torch 2.14 + gloo; also with the process group destroyed and the ranks synchronised
    # first). The results are written: leave without the interpreter's teardown.
    comm.synchronize()
    torch.distributed.destroy_process_group()
    sys.stderr.flush()
    os._exit(0)


class _RecordWeights(HookBase):
    """Records the weights after every completed step."""

    def __init__(self, store):
        self.store = store

    def after_step(self):
        self.store.append(self.trainer.model.module.lin.weight.detach().clone())


def test_nan_on_one_rank_stops_every_rank(tmp_path):
    """Rank 1's loss is NaN at iteration 2: both ranks raise (none waits in an all-reduce), at
    the same iteration, before the update (weights = those after iteration 1)."""
    from detectron2.engine import launch

    launch(_guarded_worker, 2, dist_url="auto", args=(str(tmp_path),), timeout=datetime.timedelta(seconds=60))
    for rank in (0, 1):
        assert (tmp_path / f"rank{rank}.txt").read_text() == "2 [1] steps=2 same=True"
