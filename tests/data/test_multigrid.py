"""Multigrid's schedule (PySlowFast's rules over iterations) and its loader: every batch has
the schedule's number of clips, frames and crop, boxes inside the crop; the stream is the same
with DataLoader workers, after a resume at any iteration, and over 2 ranks."""

import itertools
import math
import os

import pytest
from tiny_ava_run import make_tiny_ava, tiny_cfg

from slowfast_det.data.multigrid import MultigridSchedule, scaled_jitter
from slowfast_det.data.multigrid_loader import MultigridBatchSampler

R = 0.5**0.5


def kinetics_like(**kw):
    args = dict(batch=8, frames=32, crop=224, sampling_rate=2, max_iter=1000, steps=(400, 700))
    args.update(kw)
    return MultigridSchedule(**args)


def test_shapes_keep_b_t_s2_and_follow_pyslowfast_factors():
    s = kinetics_like()
    # 2 step intervals x 4 long-cycle stages + the fine-tuning stage
    assert [st.step_index for st in s.stages] == [0, 0, 0, 0, 1, 1, 1, 1, 2]
    expected = [  # (batch / B0, frames, crop) of the short cycle, the stage's base shape last
        [(16, 8, 112), (8, 8, 158), (8, 8, 158)],
        [(8, 16, 112), (4, 16, 158), (4, 16, 158)],
        [(8, 16, 112), (4, 16, 158), (2, 16, 224)],
        [(4, 32, 112), (2, 32, 158), (1, 32, 224)],
    ]
    for stage, want in zip(s.stages, expected + expected + [expected[-1]]):
        got = [(c.batch // 8, c.frames, c.crop) for c in stage.shapes]
        assert got == want
        for c in stage.shapes:  # B T S^2 within the rounding of S
            assert c.batch * c.frames * c.crop**2 == pytest.approx(8 * 32 * 224**2, rel=0.02)
            assert c.max_sampling_rate == 2 * 32 // c.frames
    # iteration j of a stage: short-cycle shape j % 3
    st = s.stages[2]
    assert [s.shape_at(st.start + j).crop for j in range(5)] == [112, 158, 224, 112, 158]


def test_stage_lengths_and_samples_follow_the_schedule_rules():
    s = kinetics_like()
    avg = [sum(c.batch for c in st.shapes) / 3 / 8 for st in s.stages[:4]]
    assert avg == pytest.approx([32 / 3, 16 / 3, 14 / 3, 7 / 3])
    # per step interval: samples per stage proportional to its mean batch, so iterations equal
    its = [st.end - st.start for st in s.stages]
    assert max(its[:4]) - min(its[:4]) <= 1 and max(its[4:8]) - min(its[4:8]) <= 1
    # interval lengths 400 : 300 (same iterations per stage, rounding aside)
    assert sum(its[4:8]) / sum(its[:4]) == pytest.approx(300 / 400, rel=0.02)
    # the fine-tuning stage saves iterations as the rest: 300 default iterations of the last
    # interval / (default iterations / multigrid iterations of the first two intervals)
    saving = 700 / (700 * 4 / sum(avg) / (sum(avg) / sum(avg)))  # = sum(avg) / 4
    assert saving == pytest.approx(sum(avg) / 4)
    ft_default = 300 / saving * (7 / 3)  # PySlowFast: in the last stage's samples
    scale = 1000 * 1.5 / (700 + ft_default)
    assert its[-1] == pytest.approx(ft_default * scale / (7 / 3), abs=1.5)
    # the whole run sees EPOCH_FACTOR x the default run's samples
    assert s.position(s.max_iter) == pytest.approx(1.5 * 1000 * 8, rel=0.02)
    assert s.max_iter < 1000 / 2  # the point: far fewer steps
    # positions are cumulative batches
    assert all(s.position(i + 1) - s.position(i) == s.shape_at(i).batch for i in range(s.max_iter))
    for i in (0, 7, 123, s.max_iter - 1):
        assert s.first_iteration_at(s.position(i)) == i


def test_learning_rates_are_rescaled_as_pyslowfast():
    s = kinetics_like()
    milestones, values = s.step_lr_factors(0.1)
    st = s.stages
    # gamma ** interval x the stage's base batch scale; the last step in the middle of the
    # fine-tuning stage, whose first half keeps the previous rate
    assert values == pytest.approx([8, 4, 2, 1, 0.8, 0.4, 0.2, 0.1, 0.01])
    assert milestones == [x.start for x in st[1:8]] + [(st[8].start + st[8].end) // 2]
    assert s.batch_scale(st[1].start) == 4 and s.batch_scale(st[8].end - 1) == 1


def test_short_cycle_only_and_long_cycle_only():
    short = kinetics_like(long_cycle=False)
    assert [[(c.batch, c.frames, c.crop) for c in st.shapes] for st in short.stages] == [
        [(32, 32, 112), (16, 32, 158), (8, 32, 224)]
    ] * 3
    assert [st.step_index for st in short.stages] == [0, 1, 2]
    assert short.position(short.max_iter) == pytest.approx(1.5 * 1000 * 8, rel=0.01)
    assert short.step_lr_factors(0.1)[1] == pytest.approx([1, 0.1, 0.01])
    long = kinetics_like(short_cycle=False)
    assert all(len(st.shapes) == 1 for st in long.stages)
    assert [st.shapes[0].batch // 8 for st in long.stages[:4]] == [8, 4, 2, 1]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="ALPHA"):
        kinetics_like(frames=8, min_frames=4)  # 8 x 0.25 = 2 frames < alpha
    with pytest.raises(ValueError, match="LONG_CYCLE and/or SHORT_CYCLE"):
        kinetics_like(long_cycle=False, short_cycle=False)
    with pytest.raises(ValueError, match="clip size"):
        kinetics_like(crop=0)


def test_jitter_range_scales_with_the_crop():
    assert scaled_jitter((256, 320), 112, 224) == (128, 320)
    assert scaled_jitter((256, 320), 224, 224) == (256, 320)
    assert scaled_jitter((256, 320), 112, 224, both_ends=True) == (128, 160)


# ---------------------------------------------------------------------- the loader

MG = {
    "SOLVER.MULTIGRID.LONG_CYCLE": True,
    "SOLVER.MULTIGRID.SHORT_CYCLE": True,
    "SOLVER.MULTIGRID.LONG_CYCLE_FACTORS": [[0.5, R], [1.0, 1.0]],
    "SOLVER.MAX_ITER": 8,
    "SOLVER.STEPS": (6,),
}


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    root = tmp_path_factory.mktemp("mg_data")
    return make_tiny_ava(root / "ava")


@pytest.fixture
def mg_train(ava, registered):
    registered("_mg_train", str(ava), "train")
    return "_mg_train"


def _cfg(ava, monkeypatch, **kw):
    return tiny_cfg(os.path.join(ava, "out"), train="_mg_train", test=None, **{**MG, **kw})


def _take(loader, n):
    return list(itertools.islice(iter(loader), n))


def test_batches_follow_the_schedule_and_workers_do_not_change_them(ava, mg_train, monkeypatch):
    from slowfast_det.data.build import build_ava_train_loader

    cfg = _cfg(ava, monkeypatch)
    loader = build_ava_train_loader(cfg)
    schedule = loader.schedule
    batches = _take(loader, schedule.max_iter + 2)
    for i, batch in enumerate(batches):
        shape = schedule.shape_at(i)
        assert len(batch) == shape.batch, i
        for x in batch:
            assert tuple(x["clip"].shape) == (3, shape.frames, shape.crop, shape.crop), i
            assert x["instances"].image_size == (shape.crop, shape.crop)
            boxes = x["instances"].proposal_boxes.tensor
            assert len(boxes) and float(boxes.min()) >= 0 and float(boxes.max()) <= shape.crop
    assert {b[0]["clip"].shape[1] for b in batches} == {4, 8}  # both long-cycle stages
    cfg.DATALOADER.NUM_WORKERS = 2
    again = _take(build_ava_train_loader(cfg), len(batches))
    for a, b in zip(batches, again):
        assert [x["image_id"] for x in a] == [x["image_id"] for x in b]
        assert all(bool((x["clip"] == y["clip"]).all()) for x, y in zip(a, b))


def test_resume_at_any_iteration_continues_the_stream(ava, monkeypatch):
    schedule = MultigridSchedule.from_config(_cfg(ava, monkeypatch))
    full = list(itertools.islice(iter(MultigridBatchSampler(schedule, 6, seed=3)), 12))
    for k in (1, 2, 4, 7):  # mid short cycle, stage starts, past the end
        s = MultigridBatchSampler(schedule, 6, seed=3)
        s.start_at_iteration(k, 999)
        assert list(itertools.islice(iter(s), 12 - k)) == full[k:]


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_take_contiguous_slices_of_the_one_process_batch(ava, monkeypatch, world):
    from detectron2.utils import comm

    schedule = MultigridSchedule.from_config(_cfg(ava, monkeypatch, **{"SOLVER.IMS_PER_BATCH": 4}))

    def take(rank, w):
        monkeypatch.setattr(comm, "get_rank", lambda: rank)
        monkeypatch.setattr(comm, "get_world_size", lambda: w)
        return list(itertools.islice(iter(MultigridBatchSampler(schedule, 6, seed=3)), 9))

    single = take(0, 1)
    shards = [take(r, world) for r in range(world)]
    for t in range(9):
        assert sum((shards[r][t][0] for r in range(world)), []) == single[t][0]
        assert all(shards[r][t][1] == single[t][1] for r in range(world))
    assert math.isclose(len(single[0][0]), schedule.shape_at(0).batch)


def test_whole_frames_scale_the_short_side(ava, mg_train, monkeypatch):
    """INPUT.TRAIN_CROP_SIZE 0 (no crop): the factors scale the short side's jitter range."""
    from slowfast_det.data.build import build_ava_train_loader

    cfg = _cfg(
        ava, monkeypatch, **{"INPUT.TRAIN_CROP_SIZE": 0, "INPUT.TRAIN_JITTER_SCALES": [40, 44]}
    )
    loader = build_ava_train_loader(cfg)
    schedule = loader.schedule
    assert schedule.whole_frames and schedule.default_crop == 40
    for i, batch in enumerate(_take(loader, 6)):
        shape = schedule.shape_at(i)
        low, high = scaled_jitter((40, 44), shape.crop, 40, both_ends=True)
        assert len(batch) == shape.batch and high == round(44 * shape.crop / 40)
        for x in batch:
            t, h, w = x["clip"].shape[1:]  # the tiny frames are 64 x 48 (landscape)
            assert t == shape.frames and low <= h <= high and w > h
            boxes = x["instances"].proposal_boxes.tensor
            assert float(boxes[:, 2].max()) <= w and float(boxes[:, 3].max()) <= h
