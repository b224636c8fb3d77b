"""tools/infer_ava.py: AVA-format frames + predicted boxes -> results CSV; interrupt and resume."""

import os

import cv2
import numpy as np
import pytest
import torch
from script_modules import load_tool

from slowfast_det.ava.io import read_box_csv

infer_ava = load_tool("infer_ava")

K = 5
NUM_VIDEO_FRAMES = 100  # seconds 900..903 are keyframes inside the videos
BOXES = """\
vidA,0901,0.1,0.2,0.5,0.9,,0.95
vidA,0901,0.5,0.1,0.9,0.6,,0.90
vidA,0902,0.1,0.2,0.5,0.9,,0.99
vidA,0902,0.3,0.3,0.6,0.6,,0.30
vidA,0903,0.2,0.2,0.7,0.8,,0.85
vidB,0900,0.1,0.1,0.4,0.9,,0.99
vidB,0901
vidB,0902,0.2,0.1,0.6,0.9,,0.99
vidB,0903,0.2,0.1,0.6,0.9,,0.99
"""
KEYFRAMES = {
    "vidA,0901": 2,
    "vidA,0902": 1,
    "vidA,0903": 1,
    "vidB,0900": 1,
    "vidB,0901": 0,
    "vidB,0902": 1,
    "vidB,0903": 1,
}


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    """A tiny AVA-format folder, a tiny config and fixed random weights."""
    from detectron2.modeling import build_model

    from slowfast_det.config import load_slowfast_cfg

    root = tmp_path_factory.mktemp("ava")
    rng = np.random.default_rng(0)
    lines = ["original_video_id video_id frame_id path labels"]
    for v, vid in enumerate(("vidA", "vidB")):
        os.makedirs(root / "frames" / vid)
        for i in range(NUM_VIDEO_FRAMES):
            img = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (64, 48))
            cv2.imwrite(str(root / "frames" / vid / f"{vid}_{i + 1:06d}.jpg"), img)
            lines.append(f'{vid} {v} {i} {vid}/{vid}_{i + 1:06d}.jpg ""')
    (root / "val.csv").write_text("\n".join(lines) + "\n")
    (root / "boxes.csv").write_text(BOXES)

    cfg = load_slowfast_cfg(
        freeze=False,
        values={
            "MODEL.DEVICE": "cpu",
            "MODEL.SLOWFAST.STAGE_BLOCKS": [1, 1, 1, 1],
            "MODEL.SLOWFAST.WIDTH_PER_GROUP": 8,
            "MODEL.SLOWFAST.STEM_OUT_CHANNELS": 8,
            "MODEL.ROI_HEADS.NUM_CLASSES": K,
            "INPUT.NUM_FRAMES": 8,
            "INPUT.TEST_SIZE": 48,
            "DATALOADER.NUM_WORKERS": 0,
        },
    )
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict()}, root / "weights.pth")
    cfg.MODEL.WEIGHTS = str(root / "weights.pth")
    (root / "cfg.yaml").write_text(cfg.dump())
    return root


def run(ava, output, *extra, after_commit=None, frame_list=True):
    argv = [
        "--config-file",
        str(ava / "cfg.yaml"),
        "--frames-dir",
        str(ava / "frames"),
        "--boxes",
        str(ava / "boxes.csv"),
        "--output",
        str(output),
        "--commit-every",
        "2",
        "--no-progress",
    ]
    if frame_list:
        argv += ["--frame-list", str(ava / "val.csv")]
    return infer_ava.main(argv + list(extra), after_commit=after_commit)


class Interrupt(Exception):
    pass


def interrupt_after(n):
    def hook(done):
        if done >= n:
            raise Interrupt()

    return hook


def check_results(path):
    """Every keyframe's boxes scored once, for every class; returns the file text."""
    table = read_box_csv(str(path), kind="detections")
    rows = table.rows
    assert len(rows) == sum(KEYFRAMES.values()) * K
    keys = rows["video_id"] + "," + rows["timestamp"].map("{:04d}".format)
    for key, persons in KEYFRAMES.items():
        at = rows[keys == key]
        assert len(at) == persons * K, key
        # one row per (box, class): no duplicates
        assert not at.duplicated(["x1", "y1", "x2", "y2", "action_id"]).any()
    assert ((rows["last"] > 0) & (rows["last"] < 1)).all()
    first = rows.iloc[0]
    assert (first["video_id"], first["timestamp"], first["action_id"]) == ("vidA", 901, 1)
    np.testing.assert_allclose(
        first[["x1", "y1", "x2", "y2"]].to_numpy(float), [0.1, 0.2, 0.5, 0.9], atol=1e-6
    )
    text = path.read_text()
    assert text.startswith("vidA,0901,")  # timestamps zero-padded as the evaluator writes them
    return text


def test_interrupt_and_resume(ava, tmp_path):
    reference = run(ava, tmp_path / "ref.csv")
    assert reference["keyframes"] == len(KEYFRAMES) and reference["boxes"] == sum(
        KEYFRAMES.values()
    )
    expected = check_results(tmp_path / "ref.csv")

    out = tmp_path / "out.csv"
    with pytest.raises(Interrupt):
        run(ava, out, after_commit=interrupt_after(2))
    assert not out.exists()  # complete or absent
    assert os.path.exists(f"{out}.partial") and os.path.exists(f"{out}.progress")
    # a crash while the next chunk was written: rows without a commit and a torn record
    with open(f"{out}.partial", "a") as f:
        f.write("vidA,0903,0.200,0.200,0.700,0.800,1,0.5\nvidB,09")
    with open(f"{out}.progress", "a") as f:
        f.write('{"offset": 99999, "keys": ["vidA,09')
    with pytest.raises(Interrupt):
        run(ava, out, after_commit=interrupt_after(2))
    third = run(ava, out)
    assert third["keyframes"] == len(KEYFRAMES) - 4  # 2 keyframes per interrupted run were kept
    assert check_results(out) == expected
    assert not os.path.exists(f"{out}.partial") and not os.path.exists(f"{out}.progress")


def test_other_inputs_refuse_to_resume(ava, tmp_path):
    out = tmp_path / "out.csv"
    with pytest.raises(Interrupt):
        run(ava, out, after_commit=interrupt_after(1))
    with pytest.raises(ValueError, match="other inputs or config.*--restart"):
        run(ava, out, "AVA.DETECTION_SCORE_THRESH", "0.2")
    stats = run(ava, out, "--restart", "AVA.DETECTION_SCORE_THRESH", "0.2")
    assert stats["keyframes"] == len(KEYFRAMES)
    assert len(read_box_csv(str(out), kind="detections").rows) == (sum(KEYFRAMES.values()) + 1) * K


def test_frame_folder_without_frame_list_and_label_map(ava, tmp_path):
    run(ava, tmp_path / "a.csv")
    run(ava, tmp_path / "b.csv", frame_list=False)
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    label_map = tmp_path / "labels.pbtxt"
    label_map.write_text('item {\n  name: "x"\n  id: 5\n}\nitem {\n  name: "y"\n  id: 2\n}\n')
    run(ava, tmp_path / "c.csv", "--label-map", str(label_map))
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert (tmp_path / "c.csv").read_text().splitlines() == [
        x for x in lines if x.split(",")[6] in ("2", "5")
    ]


def test_unreadable_clips_are_left_out(ava, tmp_path):
    import shutil

    frames = tmp_path / "frames"
    shutil.copytree(ava / "frames", frames)
    for p in (frames / "vidB").iterdir():
        p.write_bytes(b"")  # vidB cannot be decoded
    out = tmp_path / "out.csv"
    argv = [
        "--config-file",
        str(ava / "cfg.yaml"),
        "--frames-dir",
        str(frames),
        "--frame-list",
        str(ava / "val.csv"),
        "--boxes",
        str(ava / "boxes.csv"),
        "--output",
        str(out),
        "--no-progress",
    ]
    stats = infer_ava.main(argv)
    assert stats["skipped"] == 4
    rows = read_box_csv(str(out), kind="detections").rows
    assert set(rows["video_id"]) == {"vidA"} and len(rows) == 4 * K


def test_refuses_random_weights(ava, tmp_path):
    cfg = ava / "cfg.yaml"
    text = cfg.read_text().replace(f"WEIGHTS: {ava / 'weights.pth'}", "WEIGHTS: ''")
    assert text != cfg.read_text()
    random_cfg = tmp_path / "random.yaml"
    random_cfg.write_text(text)
    argv = [
        "--config-file",
        str(random_cfg),
        "--frames-dir",
        str(ava / "frames"),
        "--frame-list",
        str(ava / "val.csv"),
        "--boxes",
        str(ava / "boxes.csv"),
        "--output",
        str(tmp_path / "out.csv"),
        "--no-progress",
    ]
    with pytest.raises(
        SystemExit, match=r"infer_ava: MODEL.WEIGHTS is empty.*--allow-random-weights"
    ):
        infer_ava.main(argv)
    assert not (tmp_path / "out.csv").exists()
    assert infer_ava.main(argv + ["--allow-random-weights"])["keyframes"] == len(KEYFRAMES)


def test_no_processable_keyframe_names_the_missing_videos(ava, tmp_path):
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("vidC,0901,0.1,0.2,0.5,0.9,,0.95\n-5KQ66BBWC4,0902,0.1,0.2,0.5,0.9,,0.95\n")
    argv = [
        "--config-file",
        str(ava / "cfg.yaml"),
        "--frames-dir",
        str(ava / "frames"),
        "--frame-list",
        str(ava / "val.csv"),
        "--boxes",
        str(boxes),
        "--output",
        str(tmp_path / "out.csv"),
        "--no-progress",
    ]
    with pytest.raises(SystemExit) as e:
        infer_ava.main(argv)
    msg = str(e.value.code)
    assert msg.startswith("infer_ava: no keyframe can be processed: the box CSV")
    assert (
        "not in the frame list" in msg
        and "-5KQ66BBWC4, vidC" in msg
        and "2 videos: vidA, vidB" in msg
    )
    assert not (tmp_path / "out.csv").exists()
    # keyframes outside the videos: the counted reason
    boxes.write_text("vidA,0999,0.1,0.2,0.5,0.9,,0.95\n")
    with pytest.raises(SystemExit, match=r"was left out: 1 x keyframes_outside_video"):
        infer_ava.main(argv)


OWN_BOXES = """\
own,0002,0.1,0.2,0.5,0.9,,0.95
own,0005,0.3,0.1,0.8,0.7,,0.90
own,0009,0.2,0.2,0.6,0.9,,0.99
"""


def test_own_movie_read_from_the_movie_equals_its_lossless_frames_from_second_0(ava, tmp_path):
    """Issue 26: infer_ava on own movies. A 9.5 s movie and its frames extracted losslessly
    from second 0 (frame_lists/frames.json beside the frame folder, as prepare_ava writes it):
    the frames are read from second 0 without --start-second, --videos-dir reads the movie
    through the video frame source, and both give the same results."""
    import av
    from movie_helpers import write_movie

    from slowfast_det.data.frames import write_frame_origin

    own = tmp_path / "own"
    (own / "videos").mkdir(parents=True)
    write_movie(own / "videos" / "own.mp4", 30, 285)  # frames 0..284
    (own / "frames" / "own").mkdir(parents=True)
    with av.open(str(own / "videos" / "own.mp4")) as container:
        for k, frame in enumerate(container.decode(video=0)):  # 30 fps: frame k is source frame k
            path = own / "frames" / "own" / f"own_{k + 1:06d}.png"
            cv2.imwrite(str(path), frame.to_ndarray(format="bgr24"))
    write_frame_origin(str(own / "frame_lists"), 0, 30)
    (own / "boxes.csv").write_text(OWN_BOXES)
    common = ["--config-file", str(ava / "cfg.yaml"), "--boxes", str(own / "boxes.csv")]
    common += ["--no-progress"]
    frames = infer_ava.main(
        common + ["--frames-dir", str(own / "frames"), "--output", str(tmp_path / "f.csv")]
    )
    movie = infer_ava.main(
        common + ["--videos-dir", str(own / "videos"), "--output", str(tmp_path / "v.csv")]
    )
    assert frames["keyframes"] == movie["keyframes"] == 3
    text = (tmp_path / "v.csv").read_text()
    assert text == (tmp_path / "f.csv").read_text() and len(text.splitlines()) == 3 * K
    # a box CSV naming a video without a movie: the reason names it
    (own / "other.csv").write_text("nomovie,0002,0.1,0.2,0.5,0.9,,0.95\n")
    argv = common + ["--videos-dir", str(own / "videos"), "--output", str(tmp_path / "x.csv")]
    argv[argv.index(str(own / "boxes.csv"))] = str(own / "other.csv")
    with pytest.raises(SystemExit, match=r"video ids without a movie .* nomovie"):
        infer_ava.main(argv)
