"""Tests of the synthetic AVA-format dataset generator (tiny sizes: a few seconds)."""

import copy
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from script_modules import load_script

from slowfast_det.ava.io import read_box_csv, read_exclusions, read_frame_list, read_label_map
from slowfast_det.synthetic import (
    CLASSES,
    MOTION_CLASS_IDS,
    SyntheticSpec,
    ensure_synthetic_dataset,
    generate,
)
from slowfast_det.synthetic import writer as gen_mod
from slowfast_det.synthetic.pose import pose_at, raised_arm_angle
from slowfast_det.synthetic.render import draw_person, render_frame, visible_boxes
from slowfast_det.synthetic.sampling import sample_video
from slowfast_det.synthetic.scene import (
    ARM_RAISE,
    ARM_WAVE,
    EV_HOP,
    EV_KICK,
    EV_NONE,
    EVENT_LEN,
    EVENT_START_RANGE,
    FPS,
    MIN_VISIBLE_FRACTION,
    STAND,
    WAVE_PERIOD,
    keyframe_index,
    labels_at,
    slot_of_frame,
)
from slowfast_det.synthetic.spec import build_video, keyframe_seconds, video_ids
from slowfast_det.synthetic.writer import read_manifest

TINY = dict(
    num_train_videos=2,
    num_val_videos=2,
    duration_s=8,
    width=96,
    height=72,
    min_persons=2,
    max_persons=3,
)
# Clip offsets (frames from the keyframe) of the default configs: Fast = 16 frames at
# stride 2; Slow = linspace(0, 15, 4) of those; Slow-only = 4 frames at stride 10.
FAST = list(range(-16, 15, 2))
SLOW = [FAST[i] for i in np.linspace(0, 15, 4).astype(int)]
SLOW_ONLY = [-20, -10, 0, 10]
POSE_IDS = {1, 2, 3, 4}


def _tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("syn") / "synthetic_ava")
    manifest = generate(root, seed=7, workers=2, progress=False, **TINY)
    return root, SyntheticSpec(seed=7, **TINY), manifest


def _ann(root, name):
    return os.path.join(root, "annotations", name)


# ----------------------------------------------------------------------------- files
def test_same_seed_same_bytes(dataset, tmp_path):
    root, _, _ = dataset
    again = str(tmp_path / "again")
    generate(again, seed=7, workers=1, progress=False, **TINY)  # serial vs 2 workers
    a, b = _tree(root), _tree(again)
    assert sorted(a) == sorted(b)
    assert sum(k.endswith(".jpg") for k in a) == 4 * 8 * FPS
    assert [k for k in a if a[k] != b[k]] == []

    other = str(tmp_path / "other")
    generate(other, seed=8, workers=1, progress=False, **TINY)
    c = _tree(other)
    assert c["annotations/ava_train_v2.2.csv"] != a["annotations/ava_train_v2.2.csv"]
    assert (
        c["frames/syntrain0000/syntrain0000_000001.jpg"]
        != a["frames/syntrain0000/syntrain0000_000001.jpg"]
    )


def test_checker_accepts_dataset(dataset):
    from slowfast_det.data.checker import check_ava_dataset

    root, _, _ = dataset
    report = check_ava_dataset(root, splits=("train", "val"), version="v2.2")
    assert report.ok, report


def test_files_are_valid_and_consistent(dataset):
    root, spec, manifest = dataset
    names, ids = read_label_map(_ann(root, "ava_action_list_v2.2_for_activitynet_2019.pbtxt"))
    assert names == dict(CLASSES) and ids == list(range(1, 10))
    assert 3 * len(MOTION_CLASS_IDS) >= len(CLASSES)
    keyframes = keyframe_seconds(spec)
    assert keyframes == list(range(902, 900 + spec.duration_s - 1))
    num_frames = spec.duration_s * FPS
    # the last keyframe's clips (Fast/Slow and Slow-only) lie inside the video
    assert keyframe_index(keyframes[-1]) + max(FAST + SLOW_ONLY) < num_frames
    assert keyframe_index(keyframes[0]) + min(FAST + SLOW_ONLY) >= 0

    excluded = read_exclusions(_ann(root, "ava_val_excluded_timestamps_v2.2.csv"))
    assert len(excluded) == 1
    for split in ("train", "val"):
        vids = video_ids(spec, split)
        fl = read_frame_list(os.path.join(root, "frame_lists", f"{split}.csv"))
        assert list(fl["video_id"].unique()) == vids
        for vid in vids:
            rows = fl[fl["video_id"] == vid]
            assert list(rows["frame_id"]) == list(range(num_frames))
            assert list(rows["path"]) == [f"{vid}/{vid}_{f + 1:06d}.jpg" for f in range(num_frames)]
            assert sorted(os.listdir(os.path.join(root, "frames", vid))) == [
                os.path.basename(p) for p in rows["path"]
            ]
        img = cv2.imread(os.path.join(root, "frames", fl["path"].iloc[-1]))
        assert img.shape == (spec.height, spec.width, 3)

        gt = read_box_csv(_ann(root, f"ava_{split}_v2.2.csv"))
        r = gt.rows
        all_keys = {(v, t) for v in vids for t in keyframes}
        split_excluded = excluded if split == "val" else set()
        assert split_excluded <= all_keys
        assert gt.keys == all_keys - split_excluded  # every keyframe listed, exclusions left out
        assert set(r["action_id"]) <= set(ids)
        assert ((r[["x1", "y1", "x2", "y2"]] >= 0) & (r[["x1", "y1", "x2", "y2"]] <= 1)).all().all()
        assert (r["x2"] > r["x1"]).all() and (r["y2"] > r["y1"]).all()
        for (vid, t, pid), person in r.groupby(["video_id", "timestamp", "last"]):
            labels = list(person["action_id"])
            assert len(set(labels)) == len(labels)
            assert len(POSE_IDS & set(labels)) == 1, (vid, t, pid, labels)  # exactly one pose class
            assert (
                len(person[["x1", "y1", "x2", "y2"]].drop_duplicates()) == 1
            )  # one box per person
        assert manifest["summary"][split]["person_boxes"] == len(
            r.groupby(["video_id", "timestamp", "last"])
        )
        assert manifest["summary"][split]["frames"] == len(vids) * num_frames
        assert manifest["summary"][split]["keyframes"] == len(gt.keys)

        pred = read_box_csv(_ann(root, f"ava_{split}_predicted_boxes.csv"), kind="proposals")
        p = pred.rows
        assert set(p["action_id"]) == {-1}
        assert ((p["last"] > 0) & (p["last"] < 1)).all()
        assert set(zip(p["video_id"], p["timestamp"])) <= all_keys
        # detector realism: most true people found at IoU >= 0.5 with score >= 0.8, with
        # jittered boxes; false positives exist
        found = total = exact = 0
        for (vid, t, _), person in r.groupby(["video_id", "timestamp", "last"]):
            g = person.iloc[0][["x1", "y1", "x2", "y2"]].to_numpy(float)
            cand = p[(p["video_id"] == vid) & (p["timestamp"] == t) & (p["last"] >= 0.8)]
            b = cand[["x1", "y1", "x2", "y2"]].to_numpy(float)
            iw = np.clip(np.minimum(b[:, 2], g[2]) - np.maximum(b[:, 0], g[0]), 0, None)
            ih = np.clip(np.minimum(b[:, 3], g[3]) - np.maximum(b[:, 1], g[1]), 0, None)
            inter = iw * ih
            iou = inter / (
                (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
            )
            found += bool(len(iou) and iou.max() >= 0.5)
            exact += bool(len(iou) and iou.max() > 0.999)
            total += 1
        assert total >= 10 and found / total >= 0.75 and exact < total / 2
        assert len(p) > found


def test_ground_truth_matches_scene(dataset):
    """Every gt row is what the scene says: labels of the slot, box of the figure."""
    root, spec, _ = dataset
    gt = read_box_csv(_ann(root, "ava_train_v2.2.csv")).rows
    for index, vid in enumerate(video_ids(spec, "train")):
        video = build_video(spec, "train", index)[0]
        people = {p.pid: p for p in video.people}
        for t in keyframe_seconds(spec):
            c = keyframe_index(t)
            expect = {}
            for person, (box, frac) in zip(video.people, visible_boxes(video, c)):
                if box is not None and frac >= MIN_VISIBLE_FRACTION:
                    expect[person.pid] = (labels_at(person, slot_of_frame(c)), box)
            rows = gt[(gt["video_id"] == vid) & (gt["timestamp"] == t)]
            got = {int(pid): sorted(g["action_id"]) for pid, g in rows.groupby("last")}
            assert got == {pid: e[0] for pid, e in expect.items()}
            for pid, g in rows.groupby("last"):
                box = np.array(expect[int(pid)][1]) / [
                    spec.width,
                    spec.height,
                    spec.width,
                    spec.height,
                ]
                assert np.allclose(
                    g.iloc[0][["x1", "y1", "x2", "y2"]].to_numpy(float), box, atol=6e-4
                )
                assert people[int(pid)].pid == int(pid)


def test_frame_files_are_the_rendered_frames(dataset):
    """frame file k is frame index k-1: the written JPEG is closest to its own render."""
    root, spec, _ = dataset
    video, bg, camera, rng = build_video(spec, "val", 1)
    renders = [
        render_frame(video, bg, f, rng, camera).astype(np.float32) for f in range(video.num_frames)
    ]
    for t in keyframe_seconds(spec)[::2]:
        c = keyframe_index(t)
        jpg = cv2.imread(
            os.path.join(root, "frames", video.video_id, f"{video.video_id}_{c + 1:06d}.jpg")
        ).astype(np.float32)
        err = [np.abs(jpg - renders[c + k]).mean() for k in (-2, -1, 0, 1, 2)]
        assert int(np.argmin(err)) == 2, err
        assert err[2] < 8.0


def test_registration_reads_it(dataset):
    """The normal AVA registration (no special path) loads the folder."""
    from detectron2.data import DatasetCatalog

    from slowfast_det.data.datasets import register_ava_dataset

    root, spec, _ = dataset
    for split in ("train", "val"):
        name = f"_test_synthetic_{split}"
        register_ava_dataset(name, root, split, num_classes=len(CLASSES))
        try:
            dicts = DatasetCatalog.get(name)
        finally:
            DatasetCatalog.remove(name)
        gt = read_box_csv(_ann(root, f"ava_{split}_v2.2.csv")).rows
        expect = {
            (v, int(t), int(pid)): sorted(g["action_id"])
            for (v, t, pid), g in gt.groupby(["video_id", "timestamp", "last"])
        }
        got = {
            (d["video_id"], d["timestamp"], a["person_id"]): sorted(a["labels"])
            for d in dicts
            for a in d["annotations"]
        }
        assert got == expect
        d = dicts[0]
        table = d["frame_source"]["table"]
        assert (
            table.compact
            and len(table) > 16
            and all(os.path.exists(p) for p in table.paths(range(len(table))))
        )
        if split == "val":
            assert all(len(x["proposals"]["boxes"]) == len(x["proposals"]["scores"]) for x in dicts)


# ----------------------------------------------------------------------------- motion classes
def _render_person(person, f, size=(96, 128)):
    img = np.zeros((size[0], size[1], 3), np.uint8)
    draw_person(img, pose_at(person, f), person)
    return img


def _one_person(seed=3):
    video = sample_video(np.random.default_rng(seed), "v", 8, 128, 96, 1, 1)
    p = copy.deepcopy(video.people[0])
    p.x[:] = 64.0
    p.pose[:] = STAND
    p.event[:] = EV_NONE
    p.carry[:] = False
    # one arm run over the whole video
    for a in (p.arm, p.arm_side, p.arm_theta0, p.arm_amp, p.arm_phase):
        a[:] = a[0]
    return p


def test_wave_and_raise_hand_are_identical_in_single_and_sparse_frames():
    wave = _one_person()
    wave.arm[:] = ARM_WAVE
    c = 4 * FPS
    s = slot_of_frame(c)
    frames_wave = {k: _render_person(wave, c + k) for k in range(-16, 15)}
    # the waving arm repeats every 5 frames: frames 5, 10 and 15 (0.5 s) apart are identical
    for k in range(-16, 0):
        for gap in (WAVE_PERIOD, 10, 15):
            if k + gap <= 14:
                assert np.array_equal(frames_wave[k], frames_wave[k + gap])
    # ... but frames 2 apart (15 fps) differ, everywhere in the clip
    assert all(not np.array_equal(frames_wave[k], frames_wave[k + 2]) for k in FAST[:-1])
    # the Slow pathway and the Slow-only model see one arm position...
    assert all(np.array_equal(frames_wave[SLOW[0]], frames_wave[k]) for k in SLOW)
    assert all(
        np.array_equal(frames_wave[0], frames_wave[k]) for k in SLOW_ONLY if k in frames_wave
    )
    # ...which a person raising the hand at that phase shows in every frame
    for k in range(-16, 15):
        raised = copy.deepcopy(wave)
        raised.arm[:] = ARM_RAISE
        raised.arm_phase[:] = wave.arm_phase[s] + 2 * np.pi * ((c + k) % WAVE_PERIOD) / WAVE_PERIOD
        assert np.array_equal(_render_person(raised, c + k), frames_wave[k])
        assert np.array_equal(_render_person(raised, c + k + 2), _render_person(raised, c + k))


def _ks_stat(a, b):
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return np.max(
        np.abs(
            np.searchsorted(a, grid, side="right") / len(a)
            - np.searchsorted(b, grid, side="right") / len(b)
        )
    )


def test_wave_and_raise_hand_single_frame_angle_distributions_match():
    """Over generated scenes, a single frame's forearm angle has one distribution for both."""
    angles = {ARM_WAVE: [], ARM_RAISE: []}
    rng = np.random.default_rng(0)
    for seed in range(150):
        video = sample_video(np.random.default_rng(seed), "v", 12, 160, 120, 2, 4)
        for p in video.people:
            for s in range(2, 11):
                # one sample per arm run (the slots of a run share their parameters)
                new_run = p.arm_phase[s] != p.arm_phase[s - 1]
                if p.arm[s] in angles and new_run:
                    f = s * FPS + int(rng.integers(-15, 15))  # any frame of the slot
                    angles[p.arm[s]].append(raised_arm_angle(p, s, f))
    n, m = len(angles[ARM_WAVE]), len(angles[ARM_RAISE])
    assert n > 150 and m > 150
    # two-sample Kolmogorov-Smirnov test at the 1 % level
    assert _ks_stat(np.array(angles[ARM_WAVE]), np.array(angles[ARM_RAISE])) < 1.63 * np.sqrt(
        (n + m) / (n * m)
    )
    # ... while the spread of the angle within one Fast clip separates them completely
    spread = {k: [] for k in angles}
    for seed in range(20):
        video = sample_video(np.random.default_rng(seed), "v", 12, 160, 120, 2, 4)
        for p in video.people:
            for s in range(2, 11):
                if p.arm[s] in spread:
                    a = [raised_arm_angle(p, s, s * FPS + k) for k in FAST[1:]]
                    spread[p.arm[s]].append(np.ptp(a))
    assert max(spread[ARM_RAISE]) == 0.0 and min(spread[ARM_WAVE]) > np.radians(20)


def test_brief_events_are_seen_by_fast_and_mostly_missed_by_sparse_frames():
    lo, hi = EVENT_START_RANGE
    assert EVENT_LEN / FPS <= 0.3
    starts = range(lo, hi + 1)
    hits = {name: 0 for name in ("fast", "slow", "slow_only", "half_second")}
    for st in starts:
        ev = set(range(st, st + EVENT_LEN))
        hits["fast"] += bool(ev & set(FAST))
        hits["slow"] += bool(ev & set(SLOW))
        hits["slow_only"] += bool(ev & set(SLOW_ONLY))
        hits["half_second"] += bool(ev & {-15, 0, 15})
        # no neighbouring keyframe's clip (either sampling) contains the event
        for other in (-FPS, FPS):
            assert not ev & {other + k for k in FAST + SLOW_ONLY}
    assert hits["fast"] == len(starts)
    assert hits["slow"] / len(starts) < 0.4 and hits["slow_only"] / len(starts) < 0.4
    assert hits["half_second"] / len(starts) < 0.25

    # rendering: an event changes exactly its 3 frames
    for kind in (EV_KICK, EV_HOP):
        base = _one_person(5)
        c = 4 * FPS
        s = slot_of_frame(c)
        with_ev = copy.deepcopy(base)
        with_ev.event[s], with_ev.event_start[s], with_ev.event_side[s] = kind, c - 5, 1
        changed = [
            k
            for k in range(-16, 15)
            if not np.array_equal(_render_person(base, c + k), _render_person(with_ev, c + k))
        ]
        assert changed == [-5, -4, -3, -2], (kind, changed)

    # generated events respect the placement rule and only happen standing / walking
    for seed in range(10):
        for p in sample_video(np.random.default_rng(seed), "v", 12, 160, 120, 2, 4).people:
            for s in np.flatnonzero(p.event != EV_NONE):
                assert lo <= p.event_start[s] - s * FPS <= hi
                assert p.pose[s] == STAND or (p.event[s] == EV_HOP and p.pose[s] in (2, 3))


# --------------------------------------------------------------------- ensure / atomicity / CLI
def test_ensure_is_a_noop_when_complete_and_redoes_otherwise(dataset, tmp_path, monkeypatch):
    root = str(tmp_path / "syn")
    small = dict(TINY, num_train_videos=1, num_val_videos=1, duration_s=5)
    m = ensure_synthetic_dataset(root, seed=1, progress=False, workers=1, **small)
    assert read_manifest(root)["spec"] == m["spec"]

    def fail(*a, **k):
        raise AssertionError("generate must not run for a complete dataset")

    monkeypatch.setattr(gen_mod, "generate", fail)
    assert ensure_synthetic_dataset(root, seed=1, progress=False, **small)["spec"]["seed"] == 1
    monkeypatch.undo()

    # other parameters: regenerated in place
    ensure_synthetic_dataset(root, seed=2, progress=False, workers=1, **small)
    assert read_manifest(root)["spec"]["seed"] == 2
    # frames deleted: regenerated
    import shutil

    shutil.rmtree(os.path.join(root, "frames", "synval0000"))
    ensure_synthetic_dataset(root, seed=2, progress=False, workers=1, **small)
    assert os.path.isdir(os.path.join(root, "frames", "synval0000"))

    # the leftover of an interrupted run (dead process) is removed
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = f"{root}.incomplete-{dead.pid}"
    os.makedirs(os.path.join(stale, "frames"))
    ensure_synthetic_dataset(root, seed=3, progress=False, workers=1, **small)
    assert not os.path.exists(stale)

    # a folder that is not a synthetic dataset is never overwritten
    other = tmp_path / "real_ava"
    (other / "annotations").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a synthetic AVA dataset"):
        ensure_synthetic_dataset(str(other), progress=False, **small)
    assert os.path.isdir(other / "annotations")


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    root = str(tmp_path / "syn")
    calls = []
    real = gen_mod.render_video

    def flaky(job):
        calls.append(job)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(gen_mod, "render_video", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate(root, seed=0, workers=1, progress=False, **dict(TINY, duration_s=5))
    assert os.listdir(tmp_path) == []


def test_invalid_sizes_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="duration_s must be >= 4"):
        generate(str(tmp_path / "x"), progress=False, **dict(TINY, duration_s=3))
    with pytest.raises(ValueError, match="min_persons <= max_persons"):
        generate(str(tmp_path / "x"), progress=False, **dict(TINY, min_persons=3, max_persons=2))
    assert not os.path.exists(tmp_path / "x")


def test_command_line(tmp_path, capsys):
    prepare_synthetic_ava = load_script("datasets/prepare_synthetic_ava.py")
    root = str(tmp_path / "syn")
    args = [
        "--root",
        root,
        "--train-videos",
        "1",
        "--val-videos",
        "1",
        "--duration",
        "5",
        "--width",
        "64",
        "--height",
        "48",
        "--no-progress",
    ]
    assert prepare_synthetic_ava.main(args + ["--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "train: 1 videos, 150 frames, 2 keyframes" in out
    before = os.stat(os.path.join(root, "synthetic_ava.json")).st_mtime_ns
    assert prepare_synthetic_ava.main(args) == 0  # complete: nothing regenerated
    assert os.stat(os.path.join(root, "synthetic_ava.json")).st_mtime_ns == before
    assert prepare_synthetic_ava.main(args + ["--min-persons", "0"]) == 2
    assert "min_persons" in capsys.readouterr().err
