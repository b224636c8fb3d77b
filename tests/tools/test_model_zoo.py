"""Detectron2's model zoo in the venv, and remote weights without network.

``detectron2.model_zoo`` imports ``pkg_resources``; requirements.txt pins a setuptools that
still ships it. A weights URL (MODEL.WEIGHTS, --detector-weights, or the zoo's own URL for
a zoo config name) given while offline fails with one line saying to download the file and
pass its path: the download is replaced by one that raises as an offline machine does.
"""

import os
import urllib.error

import iopath.common.file_io
import pytest
from test_demo import BOXES_CSV, demo, tiny_demo_argv, write_video  # tools/demo.py, by test_demo

from slowfast_det.checkpoint import WeightsDownloadError, local_weights

ZOO_NAME = "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"
URL = "https://dl.fbaipublicfiles.com/detectron2/COCO-Detection/faster_rcnn_R_50_FPN_3x/137849458/model_final_280758.pkl"


def test_model_zoo_imports_and_resolves_configs():
    try:
        from detectron2 import model_zoo
    except ImportError as e:
        pytest.fail(
            f"detectron2.model_zoo does not import ({e}); "
            "requirements.txt pins setuptools==80.10.2, "
            "which ships pkg_resources: rerun bash tools/setup_env.sh"
        )
    path = model_zoo.get_config_file(ZOO_NAME)
    assert os.path.isfile(path) and path.endswith(ZOO_NAME)
    assert model_zoo.get_checkpoint_url(ZOO_NAME) == URL


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Downloads fail as without network; an empty download cache."""
    calls = []

    def no_network(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(iopath.common.file_io, "download", no_network)
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "cache"))
    return calls


def test_local_weights_offline(offline, tmp_path):
    local = tmp_path / "w.pth"
    assert local_weights(str(local)) == str(local)  # paths are not touched
    with pytest.raises(WeightsDownloadError) as e:
        local_weights(URL, "--detector-weights")
    msg = str(e.value)
    assert "\n" not in msg and offline == [URL]
    assert msg.startswith(f"cannot download --detector-weights {URL} (URLError:")
    assert msg.endswith("pass its local path: --detector-weights /path/to/model_final_280758.pkl")


def test_action_predictor_weights_url_offline(offline, cfg):
    from slowfast_det.engine.predictor import ActionPredictor

    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 1, 1, 1]
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.SLOWFAST.STEM_OUT_CHANNELS = 8
    cfg.MODEL.WEIGHTS = "https://example.org/slowfast/model_final.pth"
    with pytest.raises(
        WeightsDownloadError,
        match=r"^cannot download MODEL.WEIGHTS https://example.org/slowfast/"
        r"model_final.pth .*MODEL.WEIGHTS /path/to/model_final.pth$",
    ):
        ActionPredictor(cfg)


@pytest.mark.parametrize("weights", [URL, ""], ids=["url", "zoo-default"])
def test_demo_detector_weights_offline(offline, cfg, tmp_path, weights):
    if not weights:
        pytest.importorskip("pkg_resources")  # the zoo's URL comes from detectron2.model_zoo
    video = tmp_path / "v.mp4"
    write_video(video, n=5)
    (tmp_path / "boxes.csv").write_text(BOXES_CSV)
    flags = ["--detector-config", ZOO_NAME, "--detector-weights", weights]
    argv = [
        *tiny_demo_argv(cfg, tmp_path / "cfg.yaml", *flags),
        "--input",
        str(video),
        "--output",
        str(tmp_path / "o.mp4"),
        "--no-progress",
        "--allow-random-weights",
    ]
    with pytest.raises(SystemExit) as e:
        demo.main(argv)
    msg = str(e.value.code)
    assert "\n" not in msg and offline == [URL]
    assert msg.startswith(f"demo: cannot download --detector-weights {URL} (URLError:")
    assert "download the file where there is network access and pass its local path" in msg
