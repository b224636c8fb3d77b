"""INPUT.TRAIN_JITTER_PER_BATCH: all clips of a training step share one short-side size, a
function of (seed, iteration) only: the same with DataLoader workers, after a resume and over
2 ranks; under multigrid the size is drawn in each step's scaled range."""

import itertools
import os

import pytest
import torch
from detectron2.data import transforms as T
from tiny_ava_run import make_tiny_ava, tiny_cfg

from slowfast_det.data.batch_scale import PerBatchScale, batch_short_side
from slowfast_det.data.clip_ops import train_augmentations
from slowfast_det.data.multigrid import scaled_jitter

JITTER = (40, 52)  # the tiny frames are 64 x 48: short sides 40..52, never padded per step
PER_BATCH = {
    "INPUT.TRAIN_CROP_SIZE": 0,
    "INPUT.TRAIN_JITTER_SCALES": list(JITTER),
    "INPUT.TRAIN_JITTER_PER_BATCH": True,
    "SOLVER.IMS_PER_BATCH": 4,
    "SEED": 5,
}


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    return make_tiny_ava(tmp_path_factory.mktemp("bs_data") / "ava")


@pytest.fixture
def bs_train(ava, registered):
    registered("_bs_train", str(ava), "train")
    return "_bs_train"


def _cfg(ava, **kw):
    return tiny_cfg(os.path.join(ava, "out"), train="_bs_train", test=None, **{**PER_BATCH, **kw})


def _take(loader, n):
    return list(itertools.islice(iter(loader), n))


def _sizes(batch):
    return {tuple(x["clip"].shape[-2:]) for x in batch}


def test_batch_short_side_is_a_function_of_seed_and_iteration():
    sizes = [batch_short_side(3, i, 104, 128) for i in range(200)]
    assert sizes == [batch_short_side(3, i, 104, 128) for i in range(200)]
    assert min(sizes) == 104 and max(sizes) == 128  # both ends drawn
    assert len(set(sizes)) > 20
    assert sizes != [batch_short_side(4, i, 104, 128) for i in range(200)]
    assert {batch_short_side(3, i, 7, 7) for i in range(10)} == {7}


class _Mapper:
    def __init__(self, augs):
        self.augmentations = T.AugmentationList(augs)
        self.pending = 0

    def take_issues(self):
        self.pending = 0


def test_copies_change_only_the_resize_and_need_a_range_resize():
    mapper = _Mapper(train_augmentations((40, 52), 32, 0.5))
    scales = PerBatchScale(mapper)
    assert scales.range == (40, 52)
    copy = scales.for_size(44)
    resize, crop, flip = copy.augmentations.augs
    assert resize.short_edge_length == (44, 44) and resize.max_size == 2**63 - 1
    assert crop is mapper.augmentations.augs[1] and flip is mapper.augmentations.augs[2]
    assert mapper.augmentations.augs[0].short_edge_length == (40, 52)  # the original is kept
    assert scales.for_size(44) is copy
    for augs in (
        [T.RandomCrop("absolute", (8, 8))],
        [T.ResizeShortestEdge((40, 52), sample_style="choice")],
    ):
        with pytest.raises(ValueError, match="TRAIN_JITTER_PER_BATCH"):
            PerBatchScale(_Mapper(augs))


def test_every_step_has_its_iterations_size_and_workers_do_not_change_it(ava, bs_train):
    from slowfast_det.data.build import build_ava_train_loader

    cfg = _cfg(ava)
    batches = _take(build_ava_train_loader(cfg), 12)
    for i, batch in enumerate(batches):
        side = batch_short_side(5, i, *JITTER)
        assert len(batch) == 4 and _sizes(batch) == {(side, round(side * 64 / 48))}, i
        for x in batch:
            h, w = x["instances"].image_size
            boxes = x["instances"].proposal_boxes.tensor
            assert len(boxes) and float(boxes[:, 2].max()) <= w and float(boxes[:, 3].max()) <= h
    assert len({_sizes(b).pop() for b in batches}) > 3
    cfg.DATALOADER.NUM_WORKERS = 2
    again = _take(build_ava_train_loader(cfg), len(batches))
    for a, b in zip(batches, again):
        assert [x["image_id"] for x in a] == [x["image_id"] for x in b]
        assert all(torch.equal(x["clip"], y["clip"]) for x, y in zip(a, b))


def test_per_clip_sizes_without_the_option(ava, bs_train):
    from slowfast_det.data.build import build_ava_train_loader

    batches = _take(build_ava_train_loader(_cfg(ava, **{"INPUT.TRAIN_JITTER_PER_BATCH": False})), 6)
    assert any(len(_sizes(b)) > 1 for b in batches)


def test_resume_continues_the_sizes(ava, bs_train):
    from slowfast_det.data.build import build_ava_train_loader

    cfg = _cfg(ava)
    full = _take(build_ava_train_loader(cfg), 9)
    for k in (1, 5):
        loader = build_ava_train_loader(cfg)
        loader.sampler.start_at_iteration(k, cfg.SOLVER.IMS_PER_BATCH)
        for a, b in zip(full[k:], _take(loader, 9 - k)):
            assert [x["image_id"] for x in a] == [x["image_id"] for x in b]
            assert all(torch.equal(x["clip"], y["clip"]) for x, y in zip(a, b))


def test_two_ranks_map_the_one_process_steps(ava, bs_train, monkeypatch):
    import detectron2.data.build as d2_build
    from detectron2.utils import comm

    from slowfast_det.data.build import build_ava_train_loader

    cfg = _cfg(ava)
    single = _take(build_ava_train_loader(cfg), 6)
    monkeypatch.setattr(comm, "get_world_size", lambda: 2)
    monkeypatch.setattr(d2_build, "get_world_size", lambda: 2)  # its per-rank batch size
    shards = []
    for rank in (0, 1):
        monkeypatch.setattr(comm, "get_rank", lambda rank=rank: rank)
        shards.append(_take(build_ava_train_loader(cfg), 6))
    for t in range(6):
        clips = {x["image_id"]: x["clip"] for x in single[t]}
        for rank in (0, 1):
            assert len(shards[rank][t]) == 2 and _sizes(shards[rank][t]) == _sizes(single[t])
            for x in shards[rank][t]:
                assert torch.equal(x["clip"], clips[x["image_id"]])


def test_multigrid_steps_draw_in_their_scaled_range(ava, bs_train):
    from slowfast_det.data.build import build_ava_train_loader

    r = 0.5**0.5
    cfg = _cfg(
        ava,
        **{
            "SOLVER.MULTIGRID.SHORT_CYCLE": True,
            "SOLVER.MULTIGRID.LONG_CYCLE": True,
            "SOLVER.MULTIGRID.LONG_CYCLE_FACTORS": [[0.5, r], [1.0, 1.0]],
            "SOLVER.MAX_ITER": 8,
            "SOLVER.STEPS": (6,),
        },
    )
    loader = build_ava_train_loader(cfg)
    schedule = loader.schedule
    full = _take(loader, 8)
    for i, batch in enumerate(full):
        shape = schedule.shape_at(i)
        low, high = scaled_jitter(JITTER, shape.crop, JITTER[0], both_ends=True)
        side = batch_short_side(5, i, low, high)
        assert len(batch) == shape.batch and {s[0] for s in _sizes(batch)} == {side}, i
        assert {x["clip"].shape[1] for x in batch} == {shape.frames}
    resumed = build_ava_train_loader(cfg)
    resumed.sampler.start_at_iteration(3)
    for a, b in zip(full[3:], _take(resumed, 5)):
        assert [x["image_id"] for x in a] == [x["image_id"] for x in b]
        assert all(torch.equal(x["clip"], y["clip"]) for x, y in zip(a, b))
