"""MODEL.SLOWFAST.ACTIVATION_CHECKPOINT checkpoints every block (bottleneck, non-local, stem,
lateral fusion) and changes neither the loss, the gradients nor the BatchNorm statistics."""

import torch
from detectron2.modeling import build_backbone

from slowfast_det.modeling import resnet3d


def test_checkpoint_every_block_same_results(tiny_cfg, monkeypatch):
    sf = tiny_cfg.MODEL.SLOWFAST
    sf.STAGE_BLOCKS = [2, 1, 3, 1]
    sf.NONLOCAL_LOCATIONS = [[[], []], [[], []], [[1], []], [[], []]]
    torch.manual_seed(0)
    plain = build_backbone(tiny_cfg).train()
    sf.ACTIVATION_CHECKPOINT = True
    ckpt = build_backbone(tiny_cfg).train()
    ckpt.load_state_dict(plain.state_dict())

    calls = []
    real = resnet3d.checkpoint
    monkeypatch.setattr(
        resnet3d,
        "checkpoint",
        lambda fn, *a, **k: calls.append(type(fn).__name__) or real(fn, *a, **k),
    )
    g = torch.Generator().manual_seed(0)
    fast = torch.randn(2, 3, 8, 32, 32, generator=g)
    x = [fast[:, :, ::4].contiguous(), fast]
    losses = []
    for model in (plain, ckpt):
        out = model([t.clone() for t in x])
        loss = out["pathway0"].square().mean() + out["pathway1"].square().mean()
        loss.backward()
        losses.append(loss.detach())
    # 2 stems + 4 fusions + bottlenecks (slow 7, fast 7) + 1 non-local, each checkpointed once.
    assert sorted(set(calls)) == [
        "BottleneckBlock3d",
        "FastToSlowFusion",
        "NonLocalBlock3d",
        "Stem3d",
    ]
    assert (
        calls.count("Stem3d"),
        calls.count("FastToSlowFusion"),
        calls.count("BottleneckBlock3d"),
        calls.count("NonLocalBlock3d"),
    ) == (2, 4, 14, 1)
    torch.testing.assert_close(losses[1], losses[0])
    grads = dict((n, p.grad) for n, p in plain.named_parameters())
    for n, p in ckpt.named_parameters():
        torch.testing.assert_close(p.grad, grads[n], rtol=1e-4, atol=1e-6, msg=n)
    buffers = dict(plain.named_buffers())
    for n, b in ckpt.named_buffers():  # the recomputation did not update them a second time
        torch.testing.assert_close(b, buffers[n], msg=n)
    # Not in eval mode / without gradients.
    calls.clear()
    with torch.no_grad():
        ckpt([t.clone() for t in x])
    ckpt.eval()
    ckpt([t.clone() for t in x])
    assert calls == []
