"""The synthetic classification set (tiny sizes): its files, that it is a pure function of
the seed, that the mp4s hold the rendered frames, and the rule that makes it a test of the
Fast pathway: waving arms look held still in frames 10 apart (the Slow pathway's spacing)
and have the held arm's single-frame distribution, while frames 2 apart tell them apart."""

import copy
import json
import os

import av
import numpy as np
import pytest
from script_modules import load_script

from slowfast_det.synthetic import classification as cls_mod
from slowfast_det.synthetic.classification import (
    CLASS_NAMES,
    RAISE_CLS,
    WALK_LEFT_CLS,
    WALK_RIGHT_CLS,
    WAVE_FAST_CLS,
    WAVE_SLOW_CLS,
    ClassificationSpec,
    build_clip,
    clip_labels,
    clip_room,
    ensure_synthetic_classification,
    generate_classification,
    read_classification_manifest,
    room_background,
    x264_options,
)
from slowfast_det.synthetic.pose import raised_arm_angle
from slowfast_det.synthetic.render import render_frame
from slowfast_det.synthetic.scene import ARM_RAISE

TINY = dict(train_per_class=1, val_per_class=1, duration_s=1.1, width=48, height=48)
FAST = range(0, 32, 2)  # 16 frames at stride 2
SLOW = [FAST[i] for i in np.linspace(0, 15, 4).astype(int)]  # 0, 10, 20, 30
SLOW_ONLY = range(0, 40, 10)  # 4 frames at stride 10


def _tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                out[os.path.relpath(os.path.join(d, f), root)] = fh.read()
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("syncls") / "synthetic_cls")
    return root, generate_classification(root, seed=3, workers=2, progress=False, **TINY)


def test_files_lists_and_manifest(dataset):
    root, manifest = dataset
    assert sorted(os.listdir(root)) == [
        "classnames.json",
        "synthetic_cls.json",
        "train.csv",
        "val.csv",
        "videos",
    ]
    assert json.load(open(os.path.join(root, "classnames.json"))) == {
        name: i for i, name in enumerate(CLASS_NAMES)
    }
    for split in ("train", "val"):
        lines = open(os.path.join(root, f"{split}.csv")).read().splitlines()
        assert lines == [
            f"videos/{v}.mp4 {c}" for v, c in clip_labels(manifest_spec(manifest), split)
        ]
        assert [int(line.split()[1]) for line in lines] == list(range(6))
        for line in lines:
            assert os.path.isfile(os.path.join(root, line.split()[0]))
    assert manifest["summary"]["train"] == {"videos": 6, "per_class": [1] * 6}
    assert read_classification_manifest(root)["spec"] == manifest["spec"]


def manifest_spec(manifest):
    return ClassificationSpec(**manifest["spec"])


def test_videos_are_the_rendered_frames(dataset):
    root, manifest = dataset
    spec = manifest_spec(manifest)
    for index in (1, 3):  # raise arm, wave fast
        video, background, camera, rng, label = build_clip(spec, "val", index)
        assert label == index
        want = [render_frame(video, background, f, rng, camera) for f in range(video.num_frames)]
        with av.open(os.path.join(root, "videos", f"{video.video_id}.mp4")) as c:
            stream = c.streams.video[0]
            assert float(stream.average_rate) == 30.0
            got = [f.to_ndarray(format="bgr24") for f in c.decode(stream)]
        assert len(got) == spec.num_frames == 33
        err = [np.abs(g.astype(int) - w.astype(int)).mean() for g, w in zip(got, want)]
        # lossy coding (4:2:0 chroma at 48x48, camera noise smoothed) vs the same scene in
        # another room
        other = render_frame(video, room_background(spec, 1), 0)
        assert max(err) < 8.0 < 20.0 < np.abs(got[0].astype(int) - other.astype(int)).mean()


def test_same_seed_same_bytes(dataset, tmp_path):
    root, _ = dataset
    again = str(tmp_path / "again")
    generate_classification(again, seed=3, workers=1, progress=False, **TINY)
    assert _tree(again) == _tree(root)
    other = str(tmp_path / "other")
    generate_classification(other, seed=4, workers=1, progress=False, **TINY)
    assert _tree(other)["videos/synclsval00000.mp4"] != _tree(root)["videos/synclsval00000.mp4"]


def _person_frames(person, frames, size=48):
    from slowfast_det.synthetic.scene import Video

    video = Video("v", 60, size, size, people=[person])
    background = np.zeros((size, size, 3), np.uint8)
    return {f: render_frame(video, background, f) for f in frames}


@pytest.mark.parametrize("label", [WAVE_SLOW_CLS, WAVE_FAST_CLS])
def test_waves_look_held_still_at_the_slow_spacing(label):
    spec = ClassificationSpec(width=48, height=48)
    for index in range(label, 6 * 4, 6):  # a few clips of the class
        person = build_clip(spec, "train", index)[0].people[0]
        frames = _person_frames(person, range(0, 60))
        for start in range(0, 20):  # any clip start
            # the Slow pathway and the Slow-only model see one arm position ...
            for offsets in (SLOW, SLOW_ONLY):
                assert all(np.array_equal(frames[start], frames[start + k]) for k in offsets)
            # ... while the Fast pathway sees it in several (a held arm: in one)
            assert len({frames[start + k].tobytes() for k in FAST}) >= 3
        # a held arm at the wave's angle of that frame is the same image
        held = copy.deepcopy(person)
        held.arm[:] = ARM_RAISE
        for f in (0, 7, 13):
            held.arm_phase[:] = person.arm_phase[0] + 2 * np.pi * (f % person.wave_period) / (
                person.wave_period
            )
            assert np.array_equal(_person_frames(held, [f])[f], frames[f])


def _ks_stat(a, b):
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    ca = np.searchsorted(a, grid, side="right") / len(a)
    return np.max(np.abs(ca - np.searchsorted(b, grid, side="right") / len(b)))


def test_single_frame_arm_angle_has_one_distribution():
    """Over many clips, the raised arm's angle in a random frame has one distribution for the
    three arm classes (two-sample Kolmogorov-Smirnov test at the 1 % level)."""
    rng = np.random.default_rng(0)
    angles = {RAISE_CLS: [], WAVE_SLOW_CLS: [], WAVE_FAST_CLS: []}
    for i in range(300):
        label = (RAISE_CLS, WAVE_SLOW_CLS, WAVE_FAST_CLS)[i % 3]
        person = cls_mod._person(np.random.default_rng(i), label, 60, 64, 64)
        angles[label].append(raised_arm_angle(person, 0, int(rng.integers(60))))
    n = 100
    for label in (WAVE_SLOW_CLS, WAVE_FAST_CLS):
        assert _ks_stat(np.array(angles[label]), np.array(angles[RAISE_CLS])) < 1.63 * np.sqrt(
            2 / n
        )


def test_every_room_shows_every_class_equally():
    spec = ClassificationSpec(train_per_class=8, rooms=4, width=48, height=48)
    counts = np.zeros((4, 6), int)
    for index, (_, label) in enumerate(clip_labels(spec, "train")):
        counts[clip_room(spec, index), label] += 1
    assert (counts == 2).all()
    # clips of one room share its background, in both splits; other rooms differ
    same = [build_clip(spec, split, i)[1] for split, i in (("train", 1), ("train", 3), ("val", 5))]
    assert all(np.array_equal(same[0], b) for b in same[1:])
    assert not np.array_equal(same[0], build_clip(spec, "train", 6)[1])


def test_walkers_differ_only_in_direction():
    xs = {WALK_LEFT_CLS: [], WALK_RIGHT_CLS: []}
    for i in range(200):
        label = (WALK_LEFT_CLS, WALK_RIGHT_CLS)[i % 2]
        person = cls_mod._person(np.random.default_rng(i), label, 60, 64, 64)
        step = np.diff(person.x)
        assert (step < 0).all() if label == WALK_LEFT_CLS else (step > 0).all()
        xs[label].extend(person.x[::7])
    # where a walker is in a single frame: one distribution for both directions
    assert _ks_stat(np.array(xs[WALK_LEFT_CLS]), np.array(xs[WALK_RIGHT_CLS])) < 0.1


def test_ensure_is_a_noop_when_complete(dataset, tmp_path, monkeypatch):
    root = str(tmp_path / "syn")
    small = dict(TINY, train_per_class=1, val_per_class=1)
    m = ensure_synthetic_classification(root, seed=1, workers=1, progress=False, **small)

    def fail(*a, **k):
        raise AssertionError("generate must not run for a complete dataset")

    monkeypatch.setattr(cls_mod, "generate_classification", fail)
    m.pop("seconds")  # generation time, not written
    assert ensure_synthetic_classification(root, seed=1, progress=False, **small) == m
    monkeypatch.undo()
    os.remove(os.path.join(root, "videos", "synclstrain00002.mp4"))
    ensure_synthetic_classification(root, seed=1, workers=1, progress=False, **small)
    assert os.path.isfile(os.path.join(root, "videos", "synclstrain00002.mp4"))
    other = tmp_path / "kinetics"
    (other / "videos").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a synthetic classification dataset"):
        ensure_synthetic_classification(str(other), progress=False, **small)
    with pytest.raises(ValueError, match="duration_s must give >= 32 frames"):
        generate_classification(str(tmp_path / "x"), progress=False, **dict(TINY, duration_s=1))


def test_command_line(tmp_path, capsys):
    prepare = load_script("datasets/prepare_synthetic_classification.py")
    root = str(tmp_path / "syn")
    args = ["--root", root, "--train-per-class", "1", "--val-per-class", "1", "--duration", "1.1"]
    assert prepare.main(args + ["--width", "48", "--height", "48", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "6 train / 6 val videos" in out and root in out
    assert sorted(os.listdir(os.path.join(root, "videos")))[0] == "synclstrain00000.mp4"


def test_rendering_workers_start_fresh():
    """Not forked: a forked worker of a process whose OpenCV thread pool had started (the
    tests of a model before) hung in its first cv2.setNumThreads."""
    from slowfast_det.synthetic import folder

    assert folder._mp_context().get_start_method() in ("forkserver", "spawn")


def test_x264_assembly_capped_at_avx2_on_avx512_cpus(tmp_path):
    """libx264's AVX-512 code gave different bytes for the same frames from run to run."""
    avx512, avx2 = tmp_path / "avx512", tmp_path / "avx2"
    avx512.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    assert x264_options(str(avx512))["x264-params"] == "asm=AVX2"
    assert "x264-params" not in x264_options(str(avx2))
    assert "x264-params" not in x264_options(str(tmp_path / "absent"))
    assert x264_options(str(avx2))["preset"] == "medium"
