"""VideoClassifier on tiny configs: the input / output contract, PySlowFast's basic head (its
pool kernel, the fully convolutional test path, written out here by hand), the training
targets and losses, the shared preprocessing, and that a few optimiser steps fit a batch."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import META_ARCH_REGISTRY, build_model

import slowfast_det.modeling  # noqa: F401  (registers the model components)
from slowfast_det.modeling import VideoClassificationHead, VideoClassifier, classification_loss
from slowfast_det.modeling.preprocess import pathway_indices
from slowfast_det.modeling.video_head import head_pool_sizes


def classifier_cfg(cfg, *, arch="slowfast", act="softmax", num_classes=5, crop=64, frames=8):
    """A tiny classifier: 1 block per stage, width 8, res5 stride 2 (output stride 32)."""
    cfg.MODEL.META_ARCHITECTURE = "VideoClassifier"
    cfg.MODEL.DEVICE = "cpu"
    sf = cfg.MODEL.SLOWFAST
    sf.ARCH = arch
    sf.STAGE_BLOCKS = [1, 1, 1, 1]
    sf.WIDTH_PER_GROUP = sf.STEM_OUT_CHANNELS = 8
    sf.SPATIAL_STRIDES, sf.SPATIAL_DILATIONS = [1, 2, 2, 2], [1, 1, 1, 1]
    cfg.MODEL.VIDEO_HEAD.NUM_CLASSES = num_classes
    cfg.MODEL.VIDEO_HEAD.ACT = act
    cfg.INPUT.NUM_FRAMES = frames
    cfg.INPUT.TRAIN_CROP_SIZE = crop
    return cfg


def build(cfg, seed=0, **kw):
    torch.manual_seed(seed)
    model = build_model(classifier_cfg(cfg, **kw))
    with torch.no_grad():  # non-trivial BN statistics and head, so that every term matters
        g = torch.Generator().manual_seed(seed + 1)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.rand(b.shape, generator=g) * 0.2 - 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 0.5 + 0.75)
        for name, p in model.named_parameters():
            if p.dim() == 1 and "norm" in name:
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.5)
        model.cls_head.predictor.weight.normal_(0, 0.05, generator=g)
    return model


def clip(t=8, h=64, w=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, t, h, w), generator=g, dtype=torch.uint8)


def test_registered_and_eval_output_contract(cfg):
    assert "VideoClassifier" in META_ARCH_REGISTRY
    model = build(cfg).eval()
    assert isinstance(model, VideoClassifier)
    assert isinstance(model.cls_head, VideoClassificationHead)
    assert model.cls_head.predictor.in_features == 256 + 32 and model.num_classes == 5
    with torch.no_grad():
        out = model([{"clip": clip(seed=1), "video_id": "a"}, {"clip": clip(seed=2).float()}])
    assert [list(o) for o in out] == [["scores"], ["scores"]]
    for o in out:
        assert o["scores"].shape == (5,) and o["scores"].dtype == torch.float32
        torch.testing.assert_close(o["scores"].sum(), torch.tensor(1.0))
    assert (out[0]["scores"] - out[1]["scores"]).abs().max() > 1e-3  # the clip matters
    # same clip, batch of one or of two: same scores
    with torch.no_grad():
        single = model([{"clip": clip(seed=1)}])[0]["scores"]
    torch.testing.assert_close(single, out[0]["scores"])


def test_sigmoid_head_returns_independent_probabilities(cfg):
    model = build(cfg, act="sigmoid").eval()
    with torch.no_grad():
        scores = model([{"clip": clip(seed=3)}])[0]["scores"]
    assert scores.shape == (5,) and ((scores > 0) & (scores < 1)).all()
    assert abs(scores.sum().item() - 1.0) > 1e-3


def test_head_pool_kernel_is_the_training_clips_feature_map(cfg):
    assert head_pool_sizes([2, 8], 224, [32, 32]) == [[2, 7, 7], [8, 7, 7]]
    assert head_pool_sizes([8], 0, [32]) == [None]  # whole-frame training: a global average
    with pytest.raises(ValueError, match="head pool kernel"):
        head_pool_sizes([8], 16, [32])
    assert build(cfg).cls_head.pool_sizes == [(2, 2, 2), (8, 2, 2)]
    assert build(cfg.clone(), arch="slow", crop=96).cls_head.pool_sizes == [(8, 3, 3)]


def hand_scores(model, x, act):
    """PySlowFast's test-time head written out: per pathway the mean over each
    ``pool``-sized window (stride 1), concatenation, linear, activation per window, mean."""
    with torch.no_grad():
        feats = model.backbone(model.preprocess_clips([{"clip": x}]))
        pooled = []
        for name, (kt, kh, kw) in zip(sorted(feats), model.cls_head.pool_sizes):
            f = feats[name][0].double()  # (C, T, h, w)
            kt, kh, kw = min(kt, f.shape[1]), min(kh, f.shape[2]), min(kw, f.shape[3])
            windows = []
            for t in range(f.shape[1] - kt + 1):
                for i in range(f.shape[2] - kh + 1):
                    for j in range(f.shape[3] - kw + 1):
                        windows.append(f[:, t : t + kt, i : i + kh, j : j + kw].mean(dim=(1, 2, 3)))
            pooled.append(torch.stack(windows))  # (P, C)
        w = model.cls_head.predictor.weight.double()
        b = model.cls_head.predictor.bias.double()
        logits = torch.cat(pooled, dim=1) @ w.T + b  # (P, K)
        probs = logits.softmax(dim=1) if act == "softmax" else logits.sigmoid()
        return probs.mean(dim=0).float(), len(windows)


@pytest.mark.parametrize("act", ["softmax", "sigmoid"])
@pytest.mark.parametrize("h,w,positions", [(64, 64, 1), (96, 128, 6), (32, 32, 1)])
def test_head_is_fully_convolutional_beyond_the_training_crop(cfg, act, h, w, positions):
    """Training crop 64 (2x2 features): at 96x128 (3x4 features) the 2x2 pool leaves 2x3
    positions, each classified; at 32x32 (1x1 features) the kernel is clipped (global mean)."""
    model = build(cfg, act=act).eval()
    x = clip(h=h, w=w, seed=4)
    with torch.no_grad():
        got = model([{"clip": x}])[0]["scores"]
    want, n = hand_scores(model, x, act)
    assert n == positions
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    if positions > 1:  # not the same as activating the averaged logits
        with torch.no_grad():
            features = model.backbone(model.preprocess_clips([{"clip": x}]))
            logits = model.cls_head.position_logits(features)
        assert logits.shape == (1, positions, 5)
        mean_first = logits.mean(1).softmax(-1) if act == "softmax" else logits.mean(1).sigmoid()
        assert (mean_first[0] - got).abs().max() > 1e-6


def test_single_label_training_loss_is_cross_entropy_of_the_labels(cfg):
    model = build(cfg).train()
    model.cls_head.dropout = None  # deterministic: compare with the same forward written out
    batch = [{"clip": clip(seed=5), "label": 3}, {"clip": clip(seed=6), "label": torch.tensor(0)}]
    losses = model(batch)
    assert set(losses) == {"loss_cls"} and losses["loss_cls"].dim() == 0
    logits = model.cls_head(model.backbone(model.preprocess_clips(batch)))
    assert logits.shape == (2, 5)
    torch.testing.assert_close(losses["loss_cls"], F.cross_entropy(logits, torch.tensor([3, 0])))
    losses["loss_cls"].backward()
    assert model.backbone.stem.pathway1.conv.weight.grad.abs().sum() > 0
    assert model.cls_head.predictor.weight.grad.abs().sum() > 0


def test_multi_label_targets_indices_or_multi_hot(cfg):
    model = build(cfg, act="sigmoid").train()
    model.cls_head.dropout = None
    clips = [clip(seed=7), clip(seed=8), clip(seed=9)]
    want = torch.tensor([[0, 1, 0, 0, 1], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.float32)
    as_lists = [{"clip": c, "labels": lab} for c, lab in zip(clips, [[1, 4], [], (0,)])]
    as_int_tensors = [
        {"clip": c, "labels": torch.tensor(lab, dtype=torch.int64)}
        for c, lab in zip(clips, [[1, 4], [], [0]])
    ]
    as_multi_hot = [{"clip": c, "labels": t} for c, t in zip(clips, want)]
    for batch in (as_lists, as_int_tensors, as_multi_hot):
        assert torch.equal(model.targets(batch), want)
    # an integer tensor is always a list of indices, never a multi-hot vector
    indices = model.targets([{"clip": clips[0], "labels": torch.tensor([1, 0, 0, 0, 1])}])
    assert torch.equal(indices[0], torch.tensor([1.0, 1, 0, 0, 0]))
    loss = model(as_multi_hot)["loss_cls"]
    logits = model.cls_head(model.backbone(model.preprocess_clips(as_multi_hot)))
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, want))
    torch.testing.assert_close(loss, classification_loss(logits, want, "sigmoid"))


@pytest.mark.parametrize(
    "act,x,error",
    [
        ("softmax", {}, "has no 'label'"),
        ("softmax", {"label": 5}, r"label 5 outside 0..4"),
        ("softmax", {"label": -1}, r"label -1 outside 0..4"),
        ("softmax", {"label": torch.tensor(1.0)}, "must be one integer class index"),
        ("softmax", {"label": torch.tensor([1, 2])}, "must be one integer class index"),
        ("softmax", {"label": "3"}, "must be an int class index"),
        ("sigmoid", {}, "has no 'labels'"),
        ("sigmoid", {"labels": [1, 5]}, r"class index 5 outside 0..4"),
        ("sigmoid", {"labels": torch.ones(4)}, r"multi-hot 'labels' must be \(5,\)"),
        ("sigmoid", {"labels": torch.full((5,), 2.0)}, r"must lie in \[0, 1\]"),
        ("sigmoid", {"labels": [0.5]}, "list of int class indices"),
    ],
)
def test_bad_targets_name_the_input(cfg, act, x, error):
    model = build(cfg, act=act).train()
    with pytest.raises((KeyError, ValueError), match=error) as e:
        model([dict(x, clip=clip(seed=1), image_id="vid_7")])
    assert "vid_7" in str(e.value)


def test_preprocessing_is_the_detectors(cfg):
    """Normalisation with the model's buffers, the Slow frames, colour jitter on a copy; clips
    of a batch must share T, H, W (no padding: it would enter the head's average)."""
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = [100.0, 110.0, 120.0], [50.0, 60.0, 70.0]
    model = build(cfg).train()
    x = clip(t=8, h=40, w=48, seed=2)
    slow, fast = model.preprocess_clips([{"clip": x}])
    mean = torch.tensor([100.0, 110.0, 120.0]).view(3, 1, 1, 1)
    std = torch.tensor([50.0, 60.0, 70.0]).view(3, 1, 1, 1)
    torch.testing.assert_close(fast[0], (x.float() - mean) / std)
    torch.testing.assert_close(slow, fast[:, :, pathway_indices(8, 4)])
    xf = x.float()
    jittered = model.preprocess_clips([{"clip": xf, "color_jitter": [("brightness", 1.5)]}])[1]
    assert torch.equal(xf, x.float())  # the input is not modified
    torch.testing.assert_close(jittered[0], ((xf * 1.5).clamp(0, 255) - mean) / std)
    with pytest.raises(ValueError, match=r"differ in H, W within the batch: \(40, 48\) and \("):
        model.preprocess_clips([{"clip": x}, {"clip": clip(t=8, h=40, w=40)}])
    with pytest.raises(ValueError, match="differ in T"):
        model.preprocess_clips([{"clip": x}, {"clip": clip(t=4, h=40, w=48)}])
    with pytest.raises(ValueError, match=r"VideoClassifier: input #0: 'clip' must be one tensor"):
        model([{"clip": [x[:, ::4], x], "label": 0}])
    with pytest.raises(ValueError, match="empty batch"):
        model([])


def test_bf16_inference_returns_float32_probabilities(cfg):
    model = build(cfg).eval()
    x = clip(seed=11)
    with torch.no_grad():
        fp32 = model([{"clip": x}])[0]["scores"]
        model.bf16_inference = True
        bf16 = model([{"clip": x}])[0]["scores"]
    assert bf16.dtype == torch.float32 and (bf16 - fp32).abs().max() < 0.05


@pytest.mark.parametrize("arch,act", [("slowfast", "softmax"), ("slow", "sigmoid")])
def test_a_few_steps_fit_a_batch(cfg, arch, act):
    """The classifier learns: SGD on one fixed batch lowers the training loss a lot."""
    frames = 8 if arch == "slowfast" else 4  # the Slow pathway takes 2 of the 8 frames
    model = build(cfg, arch=arch, act=act, crop=32, frames=frames).train()
    model.cls_head.dropout = None
    key = "label" if act == "softmax" else "labels"
    targets = [1, 3, 4] if act == "softmax" else [[1, 2], [3], [0, 4]]
    batch = [
        {"clip": clip(t=frames, h=32, w=32, seed=20 + i), key: t} for i, t in enumerate(targets)
    ]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    first = None
    for _ in range(8):
        loss = model(batch)["loss_cls"]
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


@pytest.mark.parametrize("method,act", [("mean", "softmax"), ("max", "sigmoid")])
@pytest.mark.parametrize("per_chunk", [1, 2, 5])
def test_views_of_a_video_equal_the_views_run_one_by_one(cfg, method, act, per_chunk):
    """A ``"clips"`` input (V views) gives each view's scores as that view alone does, in
    chunks of any size, and their mean / per-class max as the video's scores."""
    cfg.TEST.ENSEMBLE_METHOD = method
    model = build(cfg, act=act).eval()
    assert model.ensemble_method == method
    model.views_per_chunk = per_chunk
    views = torch.stack([clip(seed=30 + v) for v in range(5)])  # (5, 3, 8, 64, 64)
    with torch.no_grad():
        out = model([{"clips": views, "video_id": "v"}])
        one_by_one = torch.stack([model([{"clip": c}])[0]["scores"] for c in views])
    assert set(out[0]) == {"scores", "view_scores"}
    assert out[0]["view_scores"].shape == (5, 5) and out[0]["scores"].shape == (5,)
    torch.testing.assert_close(out[0]["view_scores"], one_by_one, rtol=0, atol=1e-6)
    by_hand = one_by_one.mean(0) if method == "mean" else one_by_one.max(0).values
    torch.testing.assert_close(out[0]["scores"], by_hand, rtol=0, atol=1e-6)
    assert (one_by_one[0] - one_by_one[1]).abs().max() > 1e-4  # the views differ
    if method == "max":  # per class from different views, not one view's row
        assert not any(torch.equal(out[0]["scores"], row) for row in one_by_one)


def test_views_mixed_with_clips_keep_the_input_order(cfg):
    model = build(cfg).eval()
    views = torch.stack([clip(seed=40), clip(seed=41)])
    with torch.no_grad():
        out = model([{"clip": clip(seed=42)}, {"clips": views}, {"clip": clip(seed=43)}])
        alone = [model([{"clip": clip(seed=s)}])[0]["scores"] for s in (42, 43)]
    assert [sorted(o) for o in out] == [["scores"], ["scores", "view_scores"], ["scores"]]
    torch.testing.assert_close(out[0]["scores"], alone[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(out[2]["scores"], alone[1], rtol=0, atol=1e-6)


def test_views_bad_input_and_bad_method(cfg):
    model = build(cfg).eval()
    with pytest.raises(
        ValueError, match=r"input vid7: 'clips' must be one tensor \(V, 3, T, H, W\)"
    ):
        model([{"clips": clip(), "video_id": "vid7"}])  # 4-D: one clip, not views
    with pytest.raises(ValueError, match="training takes one 'clip'"):
        model.train()([{"clips": clip()[None], "label": 1}])
    cfg.TEST.ENSEMBLE_METHOD = "median"
    with pytest.raises(ValueError, match="TEST.ENSEMBLE_METHOD must be one of"):
        build(cfg)
