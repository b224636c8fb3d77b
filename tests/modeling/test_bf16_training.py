"""Mixed precision in CPU training: ``SOLVER.AMP.ENABLED`` on a CPU runs the models' forward
under bfloat16 autocast (``bf16_training``), with float32 losses and float32 gradients."""

import pytest
import torch
from detectron2.modeling import build_model
from test_classifier import build as build_classifier
from test_classifier import clip as cls_clip

from slowfast_det.modeling.preprocess import VideoModelBase


def _batch(make_input):
    boxes = [[2.0, 3, 40, 30], [10, 0, 63, 47], [20, 20, 30, 30]]
    return [
        make_input(48, 64, boxes, labels=torch.eye(5)[:3], seed=1),
        make_input(48, 64, boxes[:1], labels=torch.eye(5)[3:4], seed=2),
    ]


@pytest.mark.parametrize(
    "amp,device,bf16",
    [(True, "cpu", True), (False, "cpu", False), (True, "cuda", False), (True, "cuda:1", False)],
)
def test_amp_means_bf16_autocast_only_on_a_cpu(cfg, amp, device, bf16):
    # On a GPU Detectron2's AMPTrainer autocasts (float16); the model must not override it.
    cfg.SOLVER.AMP.ENABLED = amp
    cfg.MODEL.DEVICE = device
    args = VideoModelBase.clip_config(cfg)
    assert args["bf16_training"] is bf16 and args["bf16_inference"] is False


def _pathway_dtypes(model):
    seen = []
    model.backbone.register_forward_hook(lambda m, i, out: seen.append(out["pathway0"].dtype))
    return seen


def test_detector_trains_in_bf16_with_float32_losses_and_gradients(tiny_cfg, make_input):
    tiny_cfg.MODEL.ROI_ACTION_HEAD.DROPOUT_RATE = 0.0  # the same function in both runs
    torch.manual_seed(0)
    fp32 = build_model(tiny_cfg).train()
    cfg = tiny_cfg.clone()
    cfg.SOLVER.AMP.ENABLED = True
    bf16 = build_model(cfg).train()
    bf16.load_state_dict(fp32.state_dict())
    assert bf16.bf16_training and not fp32.bf16_training
    seen = _pathway_dtypes(bf16)
    batch = _batch(make_input)
    losses = {}
    grads = {}
    for name, model in (("fp32", fp32), ("bf16", bf16)):
        loss = sum(model(batch).values())
        loss.backward()
        losses[name] = loss
        grads[name] = torch.cat([p.grad.flatten() for p in model.parameters()])
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        assert all(p.grad.dtype == torch.float32 for p in model.parameters())
    assert seen == [torch.bfloat16]  # autocast was on in training
    # bfloat16 keeps ~3 significant digits: the loss and the gradient close to float32's
    assert abs(losses["bf16"].item() - losses["fp32"].item()) < 0.02 * losses["fp32"].item()
    g32, g16 = grads["fp32"], grads["bf16"]
    assert torch.isfinite(g16).all()
    assert ((g16 - g32).norm() / g32.norm()).item() < 0.1
    # Eval mode follows TEST.BF16 (off here): float32.
    bf16.eval()
    with torch.no_grad():
        bf16(batch)
    assert seen == [torch.bfloat16, torch.float32]


def test_classifier_trains_in_bf16_with_a_float32_loss(cfg):
    cfg.MODEL.VIDEO_HEAD.DROPOUT_RATE = 0.0  # the same function in both runs
    fp32 = build_classifier(cfg, seed=3).train()
    bf16 = build_classifier(cfg, seed=3).train()
    bf16.bf16_training = True
    seen = _pathway_dtypes(bf16)
    batch = [{"clip": cls_clip(seed=s), "label": s % 3} for s in range(2)]
    ref = fp32(batch)["loss_cls"]
    out = bf16(batch)["loss_cls"]
    out.backward()
    assert seen == [torch.bfloat16]
    assert out.dtype == torch.float32 and abs(out.item() - ref.item()) < 0.02 * ref.item()
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in bf16.parameters())
