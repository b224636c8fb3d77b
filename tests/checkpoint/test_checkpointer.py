"""SlowFastCheckpointer: strict loading with every mismatch listed, untouched model on
failure, FrozenBN / BN interchange, atomic save and resume."""

import os
import time

import pytest
import torch

from slowfast_det.checkpoint import CheckpointMismatchError, SlowFastCheckpointer


def save_weights(path, state_dict):
    torch.save({"model": state_dict, "__author__": "test", "matching_heuristics": False}, path)
    return str(path)


def test_load_exact_checkpoint(tmp_path, tiny_model):
    src = tiny_model(seed=1)
    path = save_weights(tmp_path / "w.pth", src.state_dict())
    dst = tiny_model(seed=2)
    extra = SlowFastCheckpointer(dst).load(path)
    assert extra.get("__author__") == "test"
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_pixel_statistics_are_saved_and_old_checkpoints_keep_the_config_values(
    tmp_path, tiny_model, caplog
):
    import logging

    src = tiny_model(seed=1)
    assert "pixel_mean" in src.state_dict() and "pixel_std" in src.state_dict()
    dst = tiny_model(seed=2)
    SlowFastCheckpointer(dst).load(save_weights(tmp_path / "new.pth", src.state_dict()))
    assert torch.equal(dst.pixel_mean, src.pixel_mean) and torch.equal(dst.pixel_std, src.pixel_std)
    # a checkpoint from before the statistics were saved (or a converted one): config values kept
    old = {k: v for k, v in src.state_dict().items() if k not in ("pixel_mean", "pixel_std")}
    dst = tiny_model(seed=3)
    mean, std = dst.pixel_mean.clone(), dst.pixel_std.clone()
    with caplog.at_level(logging.INFO, logger="slowfast_det.checkpoint.checkpointer"):
        SlowFastCheckpointer(dst).load(save_weights(tmp_path / "old.pth", old))
    assert "old.pth has no clip statistics (pixel_mean, pixel_std)" in caplog.text
    assert torch.equal(dst.pixel_mean, mean) and torch.equal(dst.pixel_std, std)
    assert torch.equal(
        dst.backbone.stem.pathway0.conv.weight, src.backbone.stem.pathway0.conv.weight
    )


def test_mismatches_are_all_listed_and_model_is_untouched(tmp_path, tiny_model):
    sd = tiny_model(seed=1).state_dict()
    sd["backbone.res9.pathway0.0.conv1.weight"] = torch.zeros(1)
    sd.pop("backbone.res3.pathway1.1.conv2.weight")
    sd["backbone.stem.fuse.conv.weight"] = torch.zeros(3, 1, 7, 1, 1)
    path = save_weights(tmp_path / "bad.pth", sd)
    dst = tiny_model(seed=2)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as e:
        SlowFastCheckpointer(dst).load(path)
    msg = str(e.value)
    assert "bad.pth does not fit the model" in msg
    assert "1 name(s) not in the model:\n    backbone.res9.pathway0.0.conv1.weight" in msg
    assert (
        "1 model name(s) not in the checkpoint:\n    backbone.res3.pathway1.1.conv2.weight" in msg
    )
    assert (
        "backbone.stem.fuse.conv.weight: checkpoint (3, 1, 7, 1, 1) vs model (2, 1, 7, 1, 1)" in msg
    )
    for k, v in dst.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_head_with_other_class_count_fails(tmp_path, tiny_model):
    path = save_weights(tmp_path / "k.pth", tiny_model(num_classes=80).state_dict())
    with pytest.raises(
        CheckpointMismatchError,
        match=r"roi_heads.predictor.weight: checkpoint \(80, 288\) vs model \(5, 288\)",
    ):
        SlowFastCheckpointer(tiny_model(num_classes=5)).load(path)


def test_bn_checkpoint_into_frozen_bn_model(tmp_path, tiny_model, make_clip):
    bn_model = tiny_model(seed=1)
    path = save_weights(tmp_path / "bn.pth", bn_model.state_dict())
    frozen = tiny_model(norm="FrozenBN", seed=2)
    SlowFastCheckpointer(frozen).load(path)  # num_batches_tracked: not kept by FrozenBN
    x = make_clip()
    with torch.no_grad():
        a = bn_model.backbone([t.clone() for t in x])
        b = frozen.backbone([t.clone() for t in x])
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-4)
    # ... and back: a FrozenBN checkpoint has no counters; the BN model keeps its own.
    path = save_weights(tmp_path / "frozen.pth", frozen.state_dict())
    SlowFastCheckpointer(tiny_model(seed=3)).load(path)


def test_atomic_save_and_resume(tmp_path, tiny_model):
    model = tiny_model(seed=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = sum(p.sum() for p in model.parameters())
    loss.backward()
    opt.step()
    ckpt = SlowFastCheckpointer(model, str(tmp_path), optimizer=opt)
    ckpt.save("model_0000009", iteration=9)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    fresh = tiny_model(seed=2)
    fresh_opt = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    resumed = SlowFastCheckpointer(fresh, str(tmp_path), optimizer=fresh_opt).resume_or_load(
        "", resume=True
    )
    assert resumed["iteration"] == 9
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    mom = [s["momentum_buffer"] for s in opt.state_dict()["state"].values()]
    mom_fresh = [s["momentum_buffer"] for s in fresh_opt.state_dict()["state"].values()]
    assert all(torch.equal(a, b) for a, b in zip(mom, mom_fresh)) and len(mom) == len(mom_fresh) > 0


def test_failed_save_leaves_no_partial_file(tmp_path, tiny_model, monkeypatch):
    model = tiny_model(seed=1)
    ckpt = SlowFastCheckpointer(model, str(tmp_path))
    ckpt.save("good")

    def broken_save(obj, path):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save("good")
    assert sorted(os.listdir(tmp_path)) == ["good.pth", "last_checkpoint"]
    monkeypatch.undo()
    SlowFastCheckpointer(tiny_model(seed=2)).load(str(tmp_path / "good.pth"))


def test_saving_checkpointer_removes_temporaries_of_a_killed_save(tmp_path, tiny_model):
    stale = tmp_path / ".model_0000009.pth.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    SlowFastCheckpointer(tiny_model(seed=1), str(tmp_path), save_to_disk=False)
    assert stale.exists()  # a process that does not save leaves the folder alone
    SlowFastCheckpointer(tiny_model(seed=1), str(tmp_path), save_to_disk=True)
    assert not stale.exists()
