"""VideoActionDetector on tiny configs: the DATAFLOW.md input / output contract, padding,
zero-box inputs, errors, and that a few optimiser steps fit a batch."""
import pytest
import torch
from detectron2.modeling import META_ARCH_REGISTRY, build_model

from slowfast_det.modeling import VideoActionDetector


def test_registered_and_built(tiny_cfg):
    assert "VideoActionDetector" in META_ARCH_REGISTRY
    model = build_model(tiny_cfg)
    assert isinstance(model, VideoActionDetector)
    assert model.roi_heads.predictor.in_features == 256 + 32


def test_training_returns_loss_and_handles_zero_boxes(tiny_cfg, make_input):
    model = build_model(tiny_cfg).train()
    batch = [
        make_input(32, 48, [[2, 3, 20, 30], [10, 0, 47, 31]], labels=[[1, 0, 0, 1, 0], [0, 1, 0, 0, 0]], seed=1),
        make_input(32, 48, [], labels=torch.zeros(0, 5), seed=2),
    ]
    losses = model(batch)
    assert set(losses) == {"loss_action"} and losses["loss_action"].dim() == 0
    assert torch.isfinite(losses["loss_action"])
    losses["loss_action"].backward()
    assert model.backbone.stem.pathway1.conv.weight.grad.abs().sum() > 0
    # Only empty clips: loss 0 and backward works.
    model.zero_grad()
    loss = model([make_input(32, 32, [], labels=torch.zeros(0, 5))])["loss_action"]
    assert loss.item() == 0.0
    loss.backward()


def test_inference_rescales_boxes_and_keeps_order(tiny_cfg, make_input):
    model = build_model(tiny_cfg).eval()
    boxes = [[2.0, 3, 20, 30], [10, 0, 47, 31], [0, 0, 48, 32]]
    batch = [
        make_input(32, 48, boxes, height=64, width=192, seed=1),
        make_input(40, 40, [], height=80, width=80, seed=2),   # other size: padded in the batch
        make_input(32, 48, boxes[:1], seed=3),                  # no height/width: clip size
    ]
    with torch.no_grad():
        out = model(batch)
    assert [list(o) for o in out] == [["instances"]] * 3
    a, b, c = (o["instances"] for o in out)
    assert a.image_size == (64, 192) and b.image_size == (80, 80) and c.image_size == (32, 48)
    torch.testing.assert_close(a.pred_boxes.tensor, torch.tensor(boxes) * torch.tensor([4.0, 2, 4, 2]))
    assert a.scores.shape == (3, 5) and b.scores.shape == (0, 5) and len(b.pred_boxes) == 0
    assert ((a.scores > 0) & (a.scores < 1)).all()
    torch.testing.assert_close(c.pred_boxes.tensor, torch.tensor(boxes[:1]))
    # Same clip and boxes in a batch of equal sizes -> same scores, independent of position.
    with torch.no_grad():
        pair = model([make_input(32, 48, boxes, seed=1), make_input(32, 48, boxes, seed=1)])
    torch.testing.assert_close(pair[0]["instances"].scores, pair[1]["instances"].scores)


def test_padding_to_largest_clip(tiny_cfg, make_input):
    model = build_model(tiny_cfg)
    small, large = make_input(24, 40, [], seed=1), make_input(32, 32, [], seed=2)
    slow, fast = model._pathway_batches([small, large])
    assert fast.shape == (2, 3, 8, 32, 40) and slow.shape == (2, 3, 2, 32, 40)
    torch.testing.assert_close(fast[0, :, :, :24, :40], small["clip"][1])
    assert fast[0, :, :, 24:].abs().sum() == 0 and fast[1, :, :, :, 32:].abs().sum() == 0


def test_slow_only_model(tiny_cfg, make_input):
    tiny_cfg.MODEL.SLOWFAST.ARCH = "slow"
    model = build_model(tiny_cfg).eval()
    with torch.no_grad():
        out = model([make_input(32, 32, [[0, 0, 16, 16]], pathways=1, t=4)])
    assert out[0]["instances"].scores.shape == (1, 5)


def test_input_errors(tiny_cfg, make_input):
    model = build_model(tiny_cfg).eval()
    bad = make_input(32, 32, [[0, 0, 8, 8]], seed=7)
    bad["instances"]._image_size = (64, 64)
    with pytest.raises(ValueError, match="vid,0007.*image_size"):
        model([bad])
    with pytest.raises(ValueError, match="list of 2 pathway"):
        model([make_input(32, 32, [], seed=1), make_input(32, 32, [], pathways=1, seed=2)])
    odd = make_input(32, 32, [], seed=1)
    odd["clip"][0] = odd["clip"][0][:, :, :16]
    with pytest.raises(ValueError, match="same H, W"):
        model([odd])
    with pytest.raises(ValueError, match=r"differ in \(C, T\)"):
        model([make_input(32, 32, [], seed=1), make_input(32, 32, [], t=16, seed=2)])
    model.train()
    with pytest.raises(KeyError, match="gt_labels"):
        model([make_input(32, 32, [[0, 0, 8, 8]])])


def test_a_few_steps_fit_a_batch(tiny_cfg, make_input):
    """The detector learns: SGD on one fixed batch lowers the training loss a lot."""
    torch.manual_seed(0)
    tiny_cfg.MODEL.ROI_ACTION_HEAD.DROPOUT_RATE = 0.0
    model = build_model(tiny_cfg).train()
    batch = [
        make_input(32, 32, [[0, 0, 16, 32], [16, 0, 32, 32]], labels=[[1, 0, 0, 0, 1], [0, 1, 1, 0, 0]], seed=1),
        make_input(32, 32, [[4, 4, 28, 28]], labels=[[0, 0, 0, 1, 0]], seed=2),
    ]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(8):
        loss = model(batch)["loss_action"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], losses
