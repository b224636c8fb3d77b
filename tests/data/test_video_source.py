"""Frame source "video": clips read straight from real encoded movies (made here with PyAV).

For movies at 30, 25 and 29.97 fps (H.264 mp4, MPEG-4 Matroska) the mapper's clip read from
the movie is compared with the clip built from frames of the same movie:

- frames written by ``datasets/prepare_ava.py`` (``extract_pyav``: by time, JPEG at -q:v 1):
  equal up to the JPEG re-encoding, measured;
- lossless PNG frames written here with the same time rule (``movie_frames``): identical.

Every clip frame is also checked to be the source frame the time rule names (the frames
carry their source index in binary, see ``movie_helpers``). Truncated and unreadable movies
get the mapper's counted recovery.
"""

import math
import os
from collections import Counter
from fractions import Fraction

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from movie_helpers import image_index, index_image, load_prepare_ava, write_movie

from slowfast_det.data import datasets as ds_mod
from slowfast_det.data import video_reader
from slowfast_det.data.frames import FrameTable, frames_source
from slowfast_det.data.mapper import ISSUE_MISSING_FRAMES, ISSUE_SKIPPED_CLIPS, AVADatasetMapper
from slowfast_det.data.movie_frames import iter_frames_by_time
from slowfast_det.data.video_reader import VideoReader, index_time, probe_video_source, video_source

W, H = 64, 48
START, DURATION, SECONDS = 1, 3, 4  # frames of movie seconds [1, 4) = AVA frame index 0..89
NUM_FRAMES, SAMPLING_RATE = 8, 4
KEYFRAMES = (1, 2, 3)  # clips clamped at the start, inside, clamped at the end
MOVIES = {  # name: (rate, file, codec); H.264 with B-frames (x264 preset fast), one key frame
    "m30": (Fraction(30), "m30.mp4", "libx264"),
    "m25": (Fraction(25), "m25.mkv", "mpeg4"),
    "m2997": (Fraction(30000, 1001), "m2997.mp4", "libx264"),
    "b25": (Fraction(25), "b25.mp4", "libx264"),
    "m23976": (Fraction(24000, 1001), "m23976.webm", "libvpx"),  # VP8 in WebM (1 ms time base)
}
# mean / 99th percentile / max absolute difference (0-255) of the movie clip to the prepare_ava
# JPEG clip. Measured on these movies: mean 2.85-2.95, p99 13-16, max 30-58 (the max at the
# hard edges of the index bands: JPEG ringing, 4:2:0 chroma and its full-range YUV).
JPEG_MEAN_BOUND, JPEG_P99_BOUND, JPEG_MAX_BOUND = 4.0, 24, 96


def textured(i):
    """Frame i: its index in binary in the top 16 rows, a moving smooth texture below."""
    img = index_image(i, W, H)
    y, x = np.mgrid[0 : H - 16, 0:W].astype(np.float32)
    for c in range(3):
        img[16:, :, c] = (
            128 + 80 * np.sin((x + 2 * i) / (5 + 2 * c)) * np.cos(y / (4 + c))
        ).astype(np.uint8)
    return img


def frame_count(rate):
    """Source frames of a movie of at least SECONDS seconds."""
    return math.ceil(SECONDS * rate)


def shown_index(bgr):
    return image_index(bgr[:16])


def expected_source(k, rate):
    """Source frame shown at AVA index k (movie time START + k / 30)."""
    return math.floor((START + Fraction(k, 30)) * rate)


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    d = tmp_path_factory.mktemp("movies")
    out = {}
    for name, (rate, fname, codec) in MOVIES.items():
        opts = {"libx264": {"crf": "18", "preset": "fast"}, "libvpx": {"b": "2M"}}.get(codec)
        write_movie(
            d / fname, rate, frame_count(rate), W, H, codec=codec, frame_fn=textured, options=opts
        )
        out[name] = str(d / fname)
    return out


@pytest.fixture(scope="module")
def extracted(movies, tmp_path_factory):
    """name -> (JPEG frame paths from prepare_ava, PNG frame paths by the same rule)."""
    prepare = load_prepare_ava()
    out = {}
    for name, path in movies.items():
        jdir, pdir = tmp_path_factory.mktemp(f"{name}_jpg"), tmp_path_factory.mktemp(f"{name}_png")
        n, _ = prepare.extract_pyav(path, str(jdir), name, START, DURATION, 30, 1)
        pngs = []
        for k, frame in iter_frames_by_time(path, START, DURATION, 30):
            pngs.append(str(pdir / f"{name}_{k + 1:06d}.png"))
            assert cv2.imwrite(pngs[-1], frame.to_ndarray(format="bgr24"))
        jpgs = [str(jdir / f"{name}_{k + 1:06d}.jpg") for k in range(n)]
        assert n == len(pngs) == DURATION * 30
        out[name] = (jpgs, pngs)
    return out


def keyframe_dict(name, ts, source):
    return {
        "video_id": name,
        "timestamp": ts,
        "image_id": f"{name},{ts:04d}",
        "frame_source": source,
        "annotations": [{"bbox": [0.1, 0.1, 0.6, 0.9], "labels": [1], "person_id": 0}],
        "proposals": {
            "boxes": np.array([[0.1, 0.1, 0.6, 0.9]], np.float32),
            "scores": np.array([0.9], np.float32),
        },
    }


def make_mapper(**kw):
    args = dict(
        augmentations=[],
        num_frames=NUM_FRAMES,
        sampling_rate=SAMPLING_RATE,
        reduced_decode=False,
        detection_score_thresh=0.5,
    )
    args.update(kw)
    return AVADatasetMapper(False, **args)


def clip_of(mapper, d):
    out = mapper(d)
    assert out is not None and not out["data_issues"], out and out["data_issues"]
    return out["clip"].numpy()  # (3, T, H, W) RGB


@pytest.mark.parametrize("name", sorted(MOVIES))
def test_clip_equals_extracted_frames(name, movies, extracted, capsys):
    rate = MOVIES[name][0]
    src_video = probe_video_source(movies[name], 30, START)
    assert (src_video["height"], src_video["width"]) == (H, W)
    # the movie covers AVA indices 0..89 (0..90 when it lasts a little longer than 4 s)
    assert src_video["num_frames"] == math.ceil((Fraction(frame_count(rate)) / rate - START) * 30)
    jpgs, pngs = extracted[name]
    m = make_mapper()
    diffs = []
    for ts in KEYFRAMES:
        video = clip_of(m, keyframe_dict(name, ts, src_video))
        png = clip_of(m, keyframe_dict(name, ts, frames_source(FrameTable(pngs), 30, START)))
        jpg = clip_of(m, keyframe_dict(name, ts, frames_source(FrameTable(jpgs), 30, START)))
        np.testing.assert_array_equal(video, png)  # lossless frames: the very same pixels
        idx = m.clip_frame_indices(keyframe_dict(name, ts, src_video))
        assert [shown_index(video[::-1, t].transpose(1, 2, 0)) for t in range(NUM_FRAMES)] == [
            expected_source(k, rate) for k in idx
        ]
        assert [shown_index(jpg[::-1, t].transpose(1, 2, 0)) for t in range(NUM_FRAMES)] == [
            expected_source(k, rate) for k in idx
        ]
        diffs.append(np.abs(video.astype(np.int16) - jpg.astype(np.int16)))
    d = np.concatenate([x.ravel() for x in diffs])
    with capsys.disabled():
        print(
            f"\n[video vs prepare_ava JPEG frames] {name}: mean |diff| {d.mean():.3f}, "
            f"p99 {np.percentile(d, 99):.0f}, "
            f"max {d.max()} (0-255); vs PNG frames: 0"
        )
    assert (
        d.mean() < JPEG_MEAN_BOUND
        and np.percentile(d, 99) <= JPEG_P99_BOUND
        and d.max() <= JPEG_MAX_BOUND
    )


def test_reduced_decode_matches_dct_scaled_geometry(movies):
    """At 1/2 size (the JPEG reduced decode's counterpart) the clip stays close to the
    full-size one."""
    src = probe_video_source(movies["m30"], 30, START)
    d = keyframe_dict("m30", 2, src)
    small = [T.ResizeTransform(H, W, H // 2, W // 2)]
    full = clip_of(make_mapper(augmentations=small, reduced_decode=False), d).astype(np.int16)
    half = clip_of(make_mapper(augmentations=small, reduced_decode=True), d).astype(np.int16)
    assert full.shape == half.shape == (3, NUM_FRAMES, H // 2, W // 2)
    assert np.abs(full - half).mean() < 4


def test_reader_seeks_cache_and_end(movies):
    r = VideoReader(cache_size=2)
    rate = MOVIES["m2997"][0]
    times = [
        index_time(k, 30, START) for k in (75, 60, 61, 89)
    ]  # any order, a repeat of a source frame
    frames, err = r.read(movies["m2997"], times)
    assert err is None and [shown_index(f) for f in frames] == [
        expected_source(k, rate) for k in (75, 60, 61, 89)
    ]
    for name in ("m30", "m25", "m2997"):
        r.read(movies[name], [Fraction(2)])
    assert list(r._open) == [movies["m25"], movies["m2997"]]  # the last two containers stay open
    frames, err = r.read(movies["m25"], [Fraction(SECONDS) + Fraction(1, 10)])
    assert frames == [None] and "no frame at" in err


@pytest.mark.parametrize("margin", [Fraction(1), Fraction(0)])
def test_preroll_skipping_gives_the_same_frames(movies, monkeypatch, margin):
    """Non-reference frames dropped before the clip change no clip frame; with no margin the
    frame showing the clip's first time often comes from the skipped part, which the reader
    detects and decodes again without skipping."""
    monkeypatch.setattr(video_reader, "PREROLL_MARGIN", margin)
    rate = MOVIES["b25"][0]
    for first in (0, 13, 31, 47, 66, 81):
        times = [index_time(k, 30, START) for k in range(first, min(90, first + 16), 2)]
        got = [VideoReader(skip_preroll=skip).read(movies["b25"], times) for skip in (True, False)]
        assert got[0][1] is None and got[1][1] is None
        for a, b in zip(got[0][0], got[1][0]):
            np.testing.assert_array_equal(a, b)
        assert [shown_index(f) for f in got[0][0]] == [
            expected_source(k, rate) for k in range(first, min(90, first + 16), 2)
        ]


def truncated_copy(src, dst, fraction=0.5):
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[: int(len(data) * fraction)])
    return str(dst)


def test_truncated_and_unreadable_movies_counted(movies, tmp_path):
    cut = truncated_copy(movies["m25"], tmp_path / "cut.mkv")
    decoded = sum(1 for _ in iter_frames_by_time(cut, START, DURATION, 30))
    assert 0 < decoded < DURATION * 30  # the cut movie gives its first frames only
    src = probe_video_source(cut, 30, START)
    m = make_mapper()
    # a clip crossing the cut: its frames past the cut are replaced by the last decoded one
    ts = next(
        t
        for t in KEYFRAMES
        if any(k >= decoded for k in m.clip_frame_indices(keyframe_dict("cut", t, src)))
    )
    d = keyframe_dict("cut", ts, src)
    idx = m.clip_frame_indices(d)
    out = m(d)
    missing = sum(k >= decoded for k in idx)
    if missing == len(idx):
        assert out is None and m.take_issues() == {ISSUE_SKIPPED_CLIPS: 1}
    else:
        assert out["data_issues"] == {ISSUE_MISSING_FRAMES: missing}
        clip = out["clip"].numpy()
        last = max(k for k in idx if k < decoded)
        shown = [shown_index(clip[::-1, t].transpose(1, 2, 0)) for t in range(NUM_FRAMES)]
        assert shown == [expected_source(min(k, last), MOVIES["m25"][0]) for k in idx]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a movie" * 100)
    assert m(keyframe_dict("junk", 2, video_source(str(junk), 30, START, 90, H, W))) is None
    assert m.take_issues() == {ISSUE_SKIPPED_CLIPS: 1}


def write_video_root(root, movies):
    """An AVA-format folder with videos/ only (no frames, no frame lists)."""
    os.makedirs(root / "videos")
    os.makedirs(root / "annotations")
    os.link(movies["m30"], root / "videos" / "m30.mp4")
    os.link(movies["m25"], root / "videos" / "m25.mkv")
    (root / "videos" / "junk.webm").write_bytes(b"junk")
    gt = [
        "m30,0002,0.1,0.1,0.6,0.9,1,0",
        "m30,0009,0.1,0.1,0.6,0.9,1,0",
        "m25,0003,0.1,0.1,0.6,0.9,2,0",
        "gone,0002,0.1,0.1,0.6,0.9,1,0",
        "junk,0002,0.1,0.1,0.6,0.9,1,0",
    ]
    (root / "annotations" / "ava_train_v2.2.csv").write_text("\n".join(gt) + "\n")
    (root / "annotations" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(
        'item {\n  name: "a"\n  id: 1\n}\n'
    )
    return root


def test_video_dataset_registration(movies, tmp_path, registered):
    root = write_video_root(tmp_path / "ava", movies)
    registered("_vid_train", str(root), "train", frame_source="video", start_second=START)
    stats = Counter()
    assert MetadataCatalog.get("_vid_train").frame_source == "video"
    dicts = DatasetCatalog.get("_vid_train")
    by_id = {d["image_id"]: d for d in dicts}
    assert sorted(by_id) == [
        "junk,0002",
        "m25,0003",
        "m30,0002",
    ]  # gone: no movie; m30,0009: after its end
    s = by_id["m30,0002"]["frame_source"]
    assert (
        s["type"] == "video"
        and s["path"] == str(root / "videos" / "m30.mp4")
        and s["num_frames"] == 90
    )
    assert by_id["m25,0003"]["frame_source"]["path"].endswith("m25.mkv")
    assert (
        by_id["junk,0002"]["frame_source"]["num_frames"] is None
    )  # kept for the mapper's recovery
    assert "keyframe_path" not in by_id["m30,0002"]
    ds_mod.load_ava_dicts(
        None,
        None,
        str(root / "annotations" / "ava_train_v2.2.csv"),
        None,
        None,
        "train",
        frame_source="video",
        videos_dir=str(root / "videos"),
        start_second=START,
        stats=stats,
    )
    assert stats["keyframes_video_not_found"] == 1 and stats["keyframes_outside_video"] == 1
    assert stats["videos_unreadable_header"] == 1


def test_the_registration_decides_the_source(registered, tmp_path):
    """The built-ins are registered both ways; a name reads its own source, no config key
    renames it; public removal; an old config's AVA.FRAME_SOURCE names what to do instead."""
    from slowfast_det.config import load_slowfast_cfg

    assert MetadataCatalog.get("ava_v2.2_val").frame_source == "frames"
    assert MetadataCatalog.get("ava_v2.2_val_video").frame_source == "video"
    names = set(ds_mod.registered_ava_datasets())
    assert {"ava_v2.2_val", "ava_v2.2_val_video", "synthetic_ava_train_video"} <= names
    registered("_only_frames", str(tmp_path), "val")
    assert "_only_frames" in ds_mod.registered_ava_datasets()
    assert "_only_frames_video" not in DatasetCatalog
    ds_mod.unregister_ava_dataset("_only_frames")
    assert "_only_frames" not in DatasetCatalog and "_only_frames" not in MetadataCatalog.list()
    assert "_only_frames" not in ds_mod.registered_ava_datasets()
    ds_mod.unregister_ava_dataset("_only_frames")  # a name not registered: nothing to do
    config = os.path.join(
        os.path.dirname(__file__), "..", "..", "configs", "synthetic", "SLOWFAST_synthetic.yaml"
    )
    with pytest.raises(
        KeyError,
        match=r"AVA.FRAME_SOURCE .*DATASETS.TRAIN / DATASETS.TEST.*"
        r"ava_v2.2_val_video",
    ):
        load_slowfast_cfg(config, ["AVA.FRAME_SOURCE", "video"])
    with pytest.raises(ValueError, match="frame_source 'jpeg' is not one of"):
        ds_mod.register_ava_dataset("_jpeg", str(tmp_path), "val", frame_source="jpeg")
    assert "_jpeg" not in DatasetCatalog
