"""ClassificationMapper on tiny movies (25 and 30 fps) and frame folders made here: the training
clip shows the frames of its times, the test views are PySlowFast's (V = N * C, starts
``delta * i / N``, crops along the long side), the video is opened once for all its views,
bad videos are counted."""

from fractions import Fraction

import cv2
import numpy as np
import pytest
from movie_helpers import image_index, index_image, write_movie

from slowfast_det.data import video_reader
from slowfast_det.data.classification_mapper import ClassificationMapper, crop_offsets
from slowfast_det.data.movie_frames import probe_movie
from slowfast_det.data.video_reader import VideoReader


def _mapper(is_train, **kw):
    args = dict(num_frames=4, sampling_rate=5, jitter_scales=(64, 64), crop_size=64, flip_prob=0)
    args.update(kw)
    return ClassificationMapper(is_train, **args)


def _shown(times, fps, count):
    """The source frame shown at each time (frame i covers [i / fps, (i + 1) / fps))."""
    return [min(int(Fraction(t) * fps), count - 1) for t in times]


def _indices(clip):
    """Source frame index shown by each frame of a (3, T, H, W) clip (index_image frames)."""
    return [image_index(clip[:, j].permute(1, 2, 0).numpy()) for j in range(clip.shape[1])]


def _row_bands(i, w, h):
    """``index_image`` with horizontal bands (a crop along x keeps them all)."""
    return np.ascontiguousarray(index_image(i, h, w).transpose(1, 0, 2))


def _row_indices(clip):
    """Source frame index of each frame of a (3, T, H, W) clip of :func:`_row_bands` frames."""
    return [image_index(clip[:, j].permute(2, 1, 0).numpy()) for j in range(clip.shape[1])]


@pytest.mark.parametrize("fps", [25, 30])
def test_train_clip_shows_the_frames_of_its_times(tmp_path, fps):
    path = str(tmp_path / "m.mp4")
    write_movie(path, fps, 60, width=64, height=64)
    d = {"video_id": "m", "file_name": path, "label": 3, "line": 1}
    mapper = _mapper(True)
    duration = probe_movie(path)["duration"]
    for seed in range(3):
        np.random.seed(seed)
        start = mapper.train_clip_start(duration)  # the mapper's first draw of the sample
        assert 0 <= start <= duration - mapper.clip_span
        np.random.seed(seed)
        out = mapper(d)
        times = [start + Fraction(5 * j, 30) for j in range(4)]
        assert out["clip"].shape == (3, 4, 64, 64) and out["label"] == 3
        assert _indices(out["clip"]) == _shown(times, fps, 60)
        assert out["video_id"] == "m" and out["data_issues"] == {}


def test_train_clip_times_past_a_short_video_take_its_last_frame(tmp_path):
    path = str(tmp_path / "short.mp4")
    write_movie(path, 25, 10, width=64, height=64)  # 0.4 s, shorter than the 32 / 30 s clip
    out = _mapper(True, sampling_rate=8)({"video_id": "s", "file_name": path, "label": 0})
    # times 0, 8/30, 16/30, 24/30 s; the last frame with a time of the 30 fps grid is 11/30 s
    assert _indices(out["clip"]) == [0, 6, 9, 9] and out["data_issues"] == {}


def test_train_augmentation_and_colour_jitter(tmp_path):
    path = str(tmp_path / "m.mp4")
    write_movie(path, 30, 30, width=96, height=64)
    mapper = _mapper(True, jitter_scales=(40, 48), crop_size=32, flip_prob=0.5, color_jitter=0.4)
    d = {"video_id": "m", "file_name": path, "labels": [1, 4]}
    shapes, jitters = set(), []
    for seed in range(4):
        np.random.seed(seed)
        out = mapper(d)
        shapes.add(tuple(out["clip"].shape))
        jitters.append(out["color_jitter"])
        assert out["labels"] == [1, 4] and "label" not in out
    assert shapes == {(3, 4, 32, 32)}
    assert {name for j in jitters for name, _ in j} == {"brightness", "contrast", "saturation"}
    assert all(0.6 <= f <= 1.4 for j in jitters for _, f in j)
    with pytest.raises(ValueError, match="INPUT.TRAIN_CROP_SIZE in 1..40"):
        _mapper(True, jitter_scales=(40, 48), crop_size=48)


@pytest.mark.parametrize("fps", [25, 30])
def test_test_views_are_pyslowfast_starts_times_crops(tmp_path, fps):
    path = str(tmp_path / "m.mp4")
    write_movie(path, fps, 2 * fps, width=96, height=64, frame_fn=lambda i: _row_bands(i, 96, 64))
    mapper = _mapper(
        False, sampling_rate=2, test_size=32, num_temporal_clips=3, num_spatial_crops=3
    )
    out = mapper({"video_id": "m", "file_name": path, "label": 1, "video_index": 7})
    assert out["clips"].shape == (9, 3, 4, 32, 32) and str(out["clips"].dtype) == "torch.uint8"
    assert (out["video_id"], out["video_index"], out["label"]) == ("m", 7, 1)
    duration = probe_movie(path)["duration"]
    delta = duration - Fraction(8, 30)
    starts = [delta * i / 3 for i in range(3)]
    assert mapper.test_clip_starts(duration) == starts
    for v, (i, c) in enumerate(mapper.views):
        assert v == 3 * i + c
        times = [starts[i] + Fraction(2 * j, 30) for j in range(4)]
        assert _row_indices(out["clips"][v]) == _shown(times, fps, 2 * fps)


@pytest.mark.parametrize("width, height", [(96, 64), (64, 96)])
def test_test_crops_along_the_long_side(tmp_path, width, height):
    ramp = np.zeros((height, width, 3), np.uint8)
    ramp[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    ramp[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    path = str(tmp_path / "r.mp4")
    write_movie(path, 30, 30, width=width, height=height, frame_fn=lambda i: ramp)
    mapper = _mapper(False, test_size=32, num_temporal_clips=1, num_spatial_crops=3)
    out = mapper({"video_id": "r", "file_name": path, "label": 0})
    # the reader's frame at the mapper's reduced decode (64 -> 32: half size), BGR
    (frame,), _ = VideoReader().read(path, [Fraction(0)], 2)
    assert frame.shape[:2] == (height // 2, width // 2)
    for c, o in enumerate([0, 8, 16]):
        crop = frame[:, o : o + 32] if width > height else frame[o : o + 32, :]
        got = out["clips"][c, :, 0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(got, crop[..., ::-1])
    one = _mapper(False, test_size=32, num_temporal_clips=1, num_spatial_crops=1)
    centre = one({"video_id": "r", "file_name": path, "label": 0})["clips"]
    np.testing.assert_array_equal(centre[0], out["clips"][1])


def test_crop_offsets():
    assert crop_offsets(48, 32, 3) == [0, 8, 16]
    assert crop_offsets(49, 32, 1) == [9]  # ceil, as PySlowFast's uniform_crop
    assert crop_offsets(49, 32, 3) == [0, 9, 17]
    assert crop_offsets(32, 32, 3) == [0, 0, 0]
    assert crop_offsets(50, 32, 2) == [0, 18]


def test_video_opened_once_for_all_views(tmp_path, monkeypatch):
    path = str(tmp_path / "m.mp4")
    write_movie(path, 25, 50, width=96, height=64)
    opened = []

    class CountingMovie(video_reader.Movie):
        def __init__(self, *a, **kw):
            opened.append(a[0])
            super().__init__(*a, **kw)

    monkeypatch.setattr(video_reader, "Movie", CountingMovie)
    mapper = _mapper(False, test_size=32, num_temporal_clips=4, num_spatial_crops=3)
    d = {"video_id": "m", "file_name": path, "label": 0}
    out = mapper(d)
    assert out["clips"].shape[0] == 12 and opened == [path]
    # per view (as PySlowFast's test loader: every view opens the video): the same pixels
    mapper.reader.close()
    for v, view in enumerate(mapper.views):
        one = mapper.map_views(d, [view])
        mapper.reader.close()
        np.testing.assert_array_equal(one["clips"][0], out["clips"][v])
    assert len(opened) == 1 + 12


def test_unreadable_and_truncated_videos(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a movie")
    for is_train in (True, False):
        mapper = _mapper(is_train, test_size=32, num_temporal_clips=2, num_spatial_crops=1)
        assert mapper({"video_id": "junk", "file_name": str(junk), "label": 0}) is None
        assert (
            mapper({"video_id": "gone", "file_name": str(tmp_path / "no.mp4"), "label": 0}) is None
        )
        assert mapper.take_issues() == {"unreadable_videos": 2}
    path = tmp_path / "cut.mkv"
    write_movie(path, 30, 60, width=64, height=64)  # 2 s
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still says 2 s
    mapper = _mapper(
        False, sampling_rate=2, test_size=32, num_temporal_clips=2, num_spatial_crops=1
    )
    out = mapper({"video_id": "cut", "file_name": str(path), "label": 0})
    # clip 1 (from 26/30 s) lies past the decoded end: its frames are the last decoded one
    missing = out["data_issues"]["missing_frames"]
    assert 0 < missing <= 4 and out["clips"].shape == (2, 3, 4, 32, 32)
    assert len(set(_indices(out["clips"][1])[-missing:])) == 1


def _frame_folder(folder, count):
    folder.mkdir()
    for i in range(count):  # img_00001.jpg ... as MMAction2's raw frames
        cv2.imwrite(str(folder / f"img_{i + 1:05d}.jpg"), index_image(i, 64, 64)[..., ::-1])
    return str(folder)


def test_frame_folders_by_frame_units_offset_and_missing_frames(tmp_path):
    folder = _frame_folder(tmp_path / "v", 25)
    mapper = _mapper(
        False, sampling_rate=2, test_size=64, num_temporal_clips=2, num_spatial_crops=1
    )
    d = {"video_id": "v", "frame_dir": folder, "num_frames": 20, "first_frame": 3, "label": 2}
    out = mapper(d)
    # 20 frames = 20/30 s; span 8/30 s; starts 0 and 6/30 s -> frames 0 2 4 6, 6 8 10 12 (+3)
    assert [_indices(c) for c in out["clips"]] == [[3, 5, 7, 9], [9, 11, 13, 15]]
    assert out["data_issues"] == {}
    (tmp_path / "v" / "img_00006.jpg").unlink()  # frame 2 of the dict (file position 5)
    out = mapper(d)
    assert out["data_issues"] == {"missing_frames": 1}
    assert _indices(out["clips"][0])[:2] == [3, 3]  # nearest decoded frame, the earlier on ties


def test_read_frames_public_rule(tmp_path):
    """``read_frames`` (the mapper's clips and ``classify_video``'s windows): times in any order,
    each missing frame the nearest decoded one, ``replaced`` None for an unreadable video."""
    folder = _frame_folder(tmp_path / "v", 10)  # the list says 12 frames: 10 and 11 missing
    mapper = _mapper(False, test_size=64, num_temporal_clips=1, num_spatial_crops=1)
    d = {"video_id": "v", "frame_dir": folder, "num_frames": 12, "label": 0}
    times = [Fraction(11, 30), Fraction(3, 30), Fraction(0), Fraction(11, 30), Fraction(9, 30)]
    frames, replaced, error = mapper.read_frames(d, times)
    assert replaced == 2 and "missing" in error  # time 11/30 twice: the nearest read, frame 9
    assert [image_index(f[..., ::-1]) for f in frames] == [9, 3, 0, 9, 9]
    gone = {"video_id": "gone", "file_name": str(tmp_path / "no.mp4"), "label": 0}
    frames, replaced, error = mapper.read_frames(gone, [Fraction(0)])
    assert replaced is None and frames == [None] and error


def test_charades_frame_table_and_train_clip(tmp_path):
    from slowfast_det.data.frames import FrameTable

    folder = _frame_folder(tmp_path / "c", 12)
    table = FrameTable([f"{folder}/img_{i + 1:05d}.jpg" for i in range(12)])
    d = {"video_id": "c", "frame_dir": folder, "num_frames": 12, "frames": table, "labels": [5]}
    mapper = _mapper(True, sampling_rate=3)
    np.random.seed(0)
    start = mapper.train_clip_start(Fraction(12, 30))
    np.random.seed(0)
    out = mapper(d)
    want = [min(int((start + Fraction(3 * j, 30)) * 30), 11) for j in range(4)]
    assert _indices(out["clip"]) == want and out["labels"] == [5]
