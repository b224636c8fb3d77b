"""ROIAlign-3D head, built straight from ShapeSpecs: pooling semantics, batch indexing,
loss, zero-box inputs and errors."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import ROI_HEADS_REGISTRY
from detectron2.modeling.roi_heads import build_roi_heads
from detectron2.structures import Boxes, Instances

from slowfast_det.modeling import ROIAlign3DHead

SPEC = {"pathway0": ShapeSpec(channels=6, stride=16), "pathway1": ShapeSpec(channels=2, stride=16)}


def head(**kw):
    kw.setdefault("num_classes", 4)
    return ROIAlign3DHead(dict(SPEC), **kw)


def proposals(box_lists, size=(64, 64), labels=None):
    out = []
    for i, b in enumerate(box_lists):
        inst = Instances(
            size, proposal_boxes=Boxes(torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4))
        )
        if labels is not None:
            inst.gt_labels = labels[i]
        out.append(inst)
    return out


def feats(n=2, t=(2, 8), hw=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "pathway0": torch.randn(n, 6, t[0], hw, hw, generator=g),
        "pathway1": torch.randn(n, 2, t[1], hw, hw, generator=g),
    }


def test_registered_and_built_from_cfg(cfg):
    assert "ROIAlign3DHead" in ROI_HEADS_REGISTRY
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 7
    cfg.MODEL.ROI_ACTION_HEAD.ALIGNED = False
    h = build_roi_heads(cfg, SPEC)
    assert isinstance(h, ROIAlign3DHead)
    assert h.predictor.in_features == 8 and h.predictor.out_features == 7
    assert h.poolers[0].spatial_scale == 1 / 16 and h.poolers[0].aligned is False
    assert h.poolers[0].output_size == (7, 7) and h.dropout.p == 0.5


def test_temporal_average_then_spatial_max():
    h = head(dropout_rate=0.0).eval()
    f = feats()
    # Spatially constant, time-varying features: pooled value = mean over time.
    f["pathway0"] = torch.arange(2.0).view(1, 1, 2, 1, 1).expand(2, 6, 2, 4, 4) + torch.arange(
        6.0
    ).view(1, 6, 1, 1, 1)
    f["pathway1"] = torch.arange(8.0).view(1, 1, 8, 1, 1).expand(2, 2, 8, 4, 4).clone()
    x = h.box_features(f, [Boxes(torch.tensor([[0.0, 0, 30, 30]])), Boxes(torch.zeros(0, 4))])
    torch.testing.assert_close(x, torch.tensor([[0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 3.5, 3.5]]))
    # A hot 2x2 cell (feature pixels (2..3, 2..3)): the max reaches it only in boxes covering it.
    f["pathway0"] = torch.zeros(2, 6, 2, 4, 4)
    f["pathway0"][:, :, :, 2:, 2:] = 10.0
    boxes = Boxes(torch.tensor([[32.0, 32, 64, 64], [0.0, 0, 24, 24]]))  # image pixels, stride 16
    x = h.box_features(f, [boxes, Boxes(torch.zeros(0, 4))])
    assert x[0, 0] == pytest.approx(10.0) and x[1, 0] == pytest.approx(0.0)


def test_boxes_pool_from_their_own_clip():
    h = head(dropout_rate=0.0).eval()
    f = {k: torch.zeros_like(v) for k, v in feats(n=3).items()}
    for i in range(3):
        f["pathway0"][i] = i + 1.0
    box = [[8.0, 8, 40, 40]]
    x = h.box_features(f, [Boxes(torch.tensor(b).reshape(-1, 4)) for b in ([], box * 2, box)])
    torch.testing.assert_close(x[:, 0], torch.tensor([2.0, 2.0, 3.0]))


def test_pathway_strides_set_the_roi_scale():
    spec = {
        "pathway0": ShapeSpec(channels=1, stride=8),
        "pathway1": ShapeSpec(channels=1, stride=32),
    }
    h = ROIAlign3DHead(spec, num_classes=2, dropout_rate=0.0).eval()
    assert [p.spatial_scale for p in h.poolers] == [1 / 8, 1 / 32]
    f = {"pathway0": torch.zeros(1, 1, 1, 8, 8), "pathway1": torch.zeros(1, 1, 1, 2, 2)}
    f["pathway0"][..., 4:, 4:] = 1.0  # image pixels 32..64 at stride 8
    f["pathway1"][..., 1:, 1:] = 1.0  # image pixels 32..64 at stride 32
    x = h.box_features(f, [Boxes(torch.tensor([[36.0, 36, 60, 60], [2.0, 2, 12, 12]]))])
    torch.testing.assert_close(x, torch.tensor([[1.0, 1.0], [0.0, 0.0]]))


def test_inference_outputs():
    h = head().eval()
    f = feats(n=2)
    props = proposals([[[0, 0, 30, 30], [10, 10, 60, 50]], []])
    out = h(f, props)
    assert len(out) == 2
    assert out[0].scores.shape == (2, 4) and out[1].scores.shape == (0, 4)
    assert ((out[0].scores > 0) & (out[0].scores < 1)).all()
    assert torch.equal(out[0].pred_boxes.tensor, props[0].proposal_boxes.tensor)
    logits = h.predict_logits(f, [p.proposal_boxes for p in props])
    torch.testing.assert_close(out[0].scores, logits.sigmoid())
    sm = head(act="softmax").eval()
    sm.load_state_dict(h.state_dict())
    torch.testing.assert_close(sm(f, props)[0].scores.sum(1), torch.ones(2))


def test_training_loss_is_bce_mean_and_zero_boxes_work():
    h = head(dropout_rate=0.0).train()
    f = feats(n=3)
    labels = [
        torch.tensor([[1.0, 0, 1, 0]]),
        torch.zeros(0, 4),
        torch.tensor([[0.0, 0, 0, 1], [1, 1, 0, 0]]),
    ]
    props = proposals([[[0, 0, 30, 30]], [], [[5, 5, 20, 40], [30, 2, 62, 60]]], labels=labels)
    loss = h(f, props)["loss_action"]
    logits = h.predict_logits(f, [p.proposal_boxes for p in props])
    expected = F.binary_cross_entropy_with_logits(logits, torch.cat(labels))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert h.predictor.weight.grad.abs().sum() > 0
    # A batch without any box: loss 0, backward still reaches the parameters.
    h.zero_grad()
    empty = proposals([[], []], labels=[torch.zeros(0, 4)] * 2)
    f = {k: v.requires_grad_() for k, v in feats().items()}
    loss = h(f, empty)["loss_action"]
    assert loss.item() == 0.0
    loss.backward()
    assert h.predictor.weight.grad is not None and f["pathway0"].grad is not None


def test_training_errors():
    h = head().train()
    with pytest.raises(KeyError, match="gt_labels"):
        h(feats(), proposals([[[0, 0, 8, 8]], []]))
    with pytest.raises(ValueError, match=r"gt_labels must be \(R, K\)"):
        h(feats(), proposals([[[0, 0, 8, 8]], []], labels=[torch.zeros(1, 3), torch.zeros(0, 3)]))
    with pytest.raises(ValueError, match="2 box lists for a batch of 3"):
        h(
            feats(n=3),
            proposals([[[0, 0, 8, 8]], []], labels=[torch.zeros(1, 4), torch.zeros(0, 4)]),
        )
    with pytest.raises(ValueError, match="ACT"):
        head(act="relu")
