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
        make_input(
            32,
            48,
            [[2, 3, 20, 30], [10, 0, 47, 31]],
            labels=[[1, 0, 0, 1, 0], [0, 1, 0, 0, 0]],
            seed=1,
        ),
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
        make_input(40, 40, [], height=80, width=80, seed=2),  # other size: padded in the batch
        make_input(32, 48, boxes[:1], seed=3),  # no height/width: clip size
    ]
    with torch.no_grad():
        out = model(batch)
    assert [list(o) for o in out] == [["instances"]] * 3
    a, b, c = (o["instances"] for o in out)
    assert a.image_size == (64, 192) and b.image_size == (80, 80) and c.image_size == (32, 48)
    torch.testing.assert_close(
        a.pred_boxes.tensor, torch.tensor(boxes) * torch.tensor([4.0, 2, 4, 2])
    )
    assert a.scores.shape == (3, 5) and b.scores.shape == (0, 5) and len(b.pred_boxes) == 0
    assert ((a.scores > 0) & (a.scores < 1)).all()
    torch.testing.assert_close(c.pred_boxes.tensor, torch.tensor(boxes[:1]))
    # Same clip and boxes in a batch of equal sizes -> same scores, independent of position.
    with torch.no_grad():
        pair = model([make_input(32, 48, boxes, seed=1), make_input(32, 48, boxes, seed=1)])
    torch.testing.assert_close(pair[0]["instances"].scores, pair[1]["instances"].scores)


def test_preprocess_normalises_pads_and_splits_on_the_device(tiny_cfg, make_input):
    tiny_cfg.MODEL.PIXEL_MEAN, tiny_cfg.MODEL.PIXEL_STD = [100.0, 110.0, 120.0], [50.0, 60.0, 70.0]
    model = build_model(tiny_cfg)
    small, large = make_input(24, 40, [], seed=1), make_input(32, 32, [], seed=2)
    slow, fast = model.preprocess_clips([small, large])
    assert fast.shape == (2, 3, 8, 32, 40) and slow.shape == (2, 3, 2, 32, 40)
    assert fast.dtype == torch.float32 and fast.device == model.device
    mean = torch.tensor([100.0, 110.0, 120.0]).view(3, 1, 1, 1)
    std = torch.tensor([50.0, 60.0, 70.0]).view(3, 1, 1, 1)
    torch.testing.assert_close(fast[0, :, :, :24, :40], (small["clip"].float() - mean) / std)
    # zero padding after normalisation (bottom / right), as Detectron2's ImageList
    assert fast[0, :, :, 24:].abs().sum() == 0 and fast[1, :, :, :, 32:].abs().sum() == 0
    # Slow pathway: torch.linspace(0, T - 1, T // alpha).long() of the Fast frames
    torch.testing.assert_close(slow, fast[:, :, [0, 7]])
    t32 = model.preprocess_clips([make_input(8, 8, [], t=32)])
    torch.testing.assert_close(t32[0], t32[1][:, :, [0, 4, 8, 13, 17, 22, 26, 31]])


@pytest.mark.parametrize("channels_last", [False, True])
def test_preprocess_of_one_size_batch_is_the_formula_exactly(tiny_cfg, make_input, channels_last):
    """Clips of one size are normalised straight into the batch (no padding): bit for bit
    ``(clip.float() - mean) / std``, in the backbone's layout; uint8 and float clips alike."""
    tiny_cfg.MODEL.PIXEL_MEAN, tiny_cfg.MODEL.PIXEL_STD = [100.0, 110.0, 120.0], [50.0, 60.0, 70.0]
    tiny_cfg.MODEL.SLOWFAST.CHANNELS_LAST = channels_last
    model = build_model(tiny_cfg)
    a, b = make_input(24, 40, [], seed=1), make_input(24, 40, [], seed=2)
    b["clip"] = b["clip"].double() + 0.25  # converted to float32 first, as before
    slow, fast = model.preprocess_clips([a, b])
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    assert fast.is_contiguous(memory_format=fmt) and slow.is_contiguous(memory_format=fmt)
    for i, x in enumerate((a, b)):
        assert torch.equal(fast[i], (x["clip"].float() - model.pixel_mean) / model.pixel_std)
    assert torch.equal(slow, fast[:, :, [0, 7]])


def test_preprocess_passes_the_gradient_to_clips_that_require_it(tiny_cfg, make_input):
    model = build_model(tiny_cfg)
    x = make_input(16, 16, [], seed=4)
    clip = x["clip"].float().requires_grad_(True)
    fast = model.preprocess_clips([dict(x, clip=clip), make_input(16, 16, [], seed=5)])[1]
    fast[0].sum().backward()
    torch.testing.assert_close(clip.grad, (1 / model.pixel_std).expand_as(clip))


def test_pixel_statistics_are_buffers_saved_with_the_model(tiny_cfg, make_input):
    model = build_model(tiny_cfg)
    sd = model.state_dict()
    torch.testing.assert_close(sd["pixel_mean"].flatten(), torch.full((3,), 0.45 * 255))
    torch.testing.assert_close(sd["pixel_std"].flatten(), torch.full((3,), 0.225 * 255))
    # the same input as the former mapper's (x / 255 - 0.45) / 0.225, so older checkpoints see
    # no change
    x = make_input(8, 8, [], t=4)
    (fast,) = model.preprocess_clips([x])[1:]
    torch.testing.assert_close(fast[0], (x["clip"].float() / 255 - 0.45) / 0.225, rtol=0, atol=1e-5)


def test_float_input_is_not_modified_by_jitter(tiny_cfg, make_input):
    model = build_model(tiny_cfg).train()
    x = make_input(16, 16, [], seed=3)
    x["clip"] = x["clip"].float()
    before = x["clip"].clone()
    x["color_jitter"] = [("brightness", 1.5), ("contrast", 0.5)]
    jittered = model.preprocess_clips([x])[1]
    assert torch.equal(x["clip"], before)
    plain = model.preprocess_clips([dict(x, color_jitter=None)])[1]
    assert (jittered - plain).abs().mean() > 0.1


def test_gt_actions_become_multi_hot(tiny_cfg, make_input):
    model = build_model(tiny_cfg).train()
    x = make_input(32, 32, [[0, 0, 16, 16], [8, 8, 30, 30]], seed=4)
    x["instances"].gt_actions = torch.tensor([[1, 5], [3, 0]])
    props = model._proposals([x])
    assert props[0].gt_labels.tolist() == [[1, 0, 0, 0, 1], [0, 0, 1, 0, 0]]
    assert torch.isfinite(model([x])["loss_action"])
    x["instances"].gt_actions = torch.tensor([[1, 6], [3, 0]])
    with pytest.raises(ValueError, match=r"vid,0004: action id 6 outside 1..5"):
        model([x])


def test_a_few_steps_fit_a_batch(tiny_cfg, make_input):
    """The detector learns: SGD on one fixed batch lowers the training loss a lot."""
    torch.manual_seed(0)
    tiny_cfg.MODEL.ROI_ACTION_HEAD.DROPOUT_RATE = 0.0
    model = build_model(tiny_cfg).train()
    batch = [
        make_input(
            32,
            32,
            [[0, 0, 16, 32], [16, 0, 32, 32]],
            labels=[[1, 0, 0, 0, 1], [0, 1, 1, 0, 0]],
            seed=1,
        ),
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
