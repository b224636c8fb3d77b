"""The video-list check lists every bad line and every missing, unreadable or truncated video
(check_video_list and tools/check_ava_dataset.py --video-list)."""

import cv2
from movie_helpers import index_image, write_movie
from script_modules import load_script

from slowfast_det.data.checker_video_list import check_video_list


def _movies(tmp_path):
    write_movie(tmp_path / "ok.mp4", 25, 30)
    (tmp_path / "junk.mp4").write_bytes(b"not a movie")
    write_movie(tmp_path / "cut.mkv", 30, 60)
    data = (tmp_path / "cut.mkv").read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])


def test_every_bad_line_and_bad_video_listed(tmp_path):
    _movies(tmp_path)
    (tmp_path / "names.txt").write_text("run\nwalk\njump\n")
    lst = tmp_path / "train.csv"
    lst.write_text("ok.mp4 0\nbad.mp4,1\njunk.mp4 1\ngone.mp4 1\ncut.mkv 0\nok.mp4 x\nx.mp4 7\n")
    report = check_video_list(
        str(lst), fmt="pyslowfast", label_names=str(tmp_path / "names.txt"), verify_images="all"
    )
    assert not report.ok
    text = report.format()
    assert report.problems["bad_row"] == 3
    assert f"{lst}:2: field 'label' missing: the line is separated by ','" in text
    assert f"{lst}:6: field 'label' not an integer label: 'x'" in text
    assert f"{lst}:7: field 'label' label 7 outside the 3 label names" in text
    assert report.problems["missing_listed_video"] == 1 and f"{lst}:4: gone.mp4" in text
    assert report.problems["unreadable_video"] == 1 and f"{lst}:3: junk.mp4: cannot open" in text
    assert report.problems["truncated_video"] == 1 and f"{lst}:5: cut.mkv: frames up to" in text
    assert report.warnings["class_without_videos"] == 1 and "2 jump" in text
    assert report.info["list"]["videos"] == 4 and report.info["list"]["classes"] == 3
    assert text.startswith(f"Video list check: {lst}") and "Result: FAILED" in text
    # headers only: the truncated movie is not decoded to its end
    quick = check_video_list(str(lst), fmt="pyslowfast", verify_images="keyframes")
    assert quick.problems["truncated_video"] == 0 and quick.problems["unreadable_video"] == 1


def test_frame_folders_and_a_clean_list(tmp_path):
    for name, count in (("v1", 6), ("v2", 3)):
        (tmp_path / name).mkdir()
        for i in range(count):
            path = str(tmp_path / name / f"img_{i + 1:05d}.jpg")
            cv2.imwrite(path, index_image(i)[..., ::-1])
    (tmp_path / "v1" / "img_00006.jpg").write_bytes(b"broken")
    lst = tmp_path / "frames.txt"
    lst.write_text("v1 6 0\nv2 5 1\nv3 4 1\n")
    report = check_video_list(str(lst), fmt="mmaction_rawframes", verify_images="all")
    assert report.problems["missing_frame_files"] == 1
    assert f"{lst}:2: v2: 2 of its 5 frames missing (first: frame 3)" in report.format()
    assert report.problems["missing_listed_video"] == 1 and report.problems["bad_row"] == 0
    assert report.problems["unreadable_frame_files"] == 1
    write_movie(tmp_path / "a.mp4", 30, 20)
    (tmp_path / "ok.txt").write_text("a.mp4 0\n")
    clean = check_video_list(str(tmp_path / "ok.txt"), fmt="pyslowfast")
    assert clean.ok and clean.format().endswith("Result: OK")


def test_tool_checks_a_video_list(tmp_path, capsys):
    _movies(tmp_path)
    (tmp_path / "l.csv").write_text("ok.mp4 0\ngone.mp4 1\n")
    tool = load_script("tools/check_ava_dataset.py")
    assert tool.main(["--video-list", str(tmp_path / "l.csv"), "--format", "pyslowfast"]) == 1
    out = capsys.readouterr().out
    assert "missing_listed_video: 1" in out and f"{tmp_path / 'l.csv'}:2: gone.mp4" in out
    (tmp_path / "classes" / "run").mkdir(parents=True)
    write_movie(tmp_path / "classes" / "run" / "a.mp4", 30, 10)
    assert tool.main([str(tmp_path / "classes"), "--format", "folders"]) == 0
    assert "Result: OK" in capsys.readouterr().out
