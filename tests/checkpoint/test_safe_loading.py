"""Safe loading: crafted pickles that would run code are refused, by the Caffe2 reader,
by torch.load(weights_only=True) and by the checkpointer; legitimate files still load."""

import os
import pickle

import numpy as np
import pytest
import torch

from slowfast_det.checkpoint import (
    CheckpointMismatchError,
    SlowFastCheckpointer,
    UnsafePickleError,
    load_caffe2_pickle,
    load_source_weights,
    safe_torch_load,
)


class RunsCode:
    """Unpickling this calls os.system (the classic __reduce__ payload)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_caffe2_reader_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": RunsCode(marker)}}, f, protocol=2)
    with pytest.raises(UnsafePickleError) as e:
        load_caffe2_pickle(str(path))
    msg = str(e.value)
    assert "evil.pkl" in msg and f"refused to load global '{os.system.__module__}.system'" in msg
    assert not marker.exists()
    # The converter goes through the same reader.
    with pytest.raises(UnsafePickleError):
        load_source_weights(str(path), "pyslowfast-caffe2")
    assert not marker.exists()


def test_caffe2_reader_refuses_other_globals_and_object_arrays(tmp_path):
    path = tmp_path / "cls.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": {"x": pickle.PickleError}}, f, protocol=2)
    with pytest.raises(UnsafePickleError, match="_pickle.PickleError|pickle.PickleError"):
        load_caffe2_pickle(str(path))
    path = tmp_path / "obj.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": {"x": np.array([1, "a"], dtype=object)}}, f, protocol=2)
    with pytest.raises(UnsafePickleError, match="object dtype"):
        load_caffe2_pickle(str(path))


def test_caffe2_reader_loads_numpy_blobs(tmp_path):
    blobs = {
        "conv1_w": np.random.rand(2, 3, 1, 7, 7).astype(np.float32),
        "lr": np.float32(0.1),
        "model_iter": np.array(5, dtype=np.int64),
    }
    for protocol in (2, 4):
        path = tmp_path / f"ok{protocol}.pkl"
        with open(path, "wb") as f:
            pickle.dump({"blobs": blobs}, f, protocol=protocol)
        data = load_caffe2_pickle(str(path))
        np.testing.assert_array_equal(data["blobs"]["conv1_w"], blobs["conv1_w"])
        assert data["blobs"]["lr"] == np.float32(0.1)


def test_truncated_pickle_names_the_file(tmp_path):
    path = tmp_path / "cut.pkl"
    with open(path, "wb") as f:
        f.write(pickle.dumps({"blobs": {"a": np.zeros(100)}}, protocol=2)[:50])
    with pytest.raises(pickle.UnpicklingError, match="cut.pkl: not a readable pickle"):
        load_caffe2_pickle(str(path))


def test_torch_files_are_loaded_weights_only(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pyth"
    torch.save({"model_state": {"w": torch.zeros(1)}, "extra": RunsCode(marker)}, path)
    with pytest.raises(pickle.UnpicklingError, match="evil.pyth.*weights_only=True"):
        safe_torch_load(str(path))
    with pytest.raises(pickle.UnpicklingError):
        load_source_weights(str(path), "pyslowfast")
    with pytest.raises(pickle.UnpicklingError):
        SlowFastCheckpointer(torch.nn.Linear(1, 1)).load(str(path))
    assert not marker.exists()
    ok = tmp_path / "ok.pyth"
    torch.save({"model_state": {"w": torch.ones(2)}, "epoch": 3, "cfg": "MODEL: {}"}, ok)
    assert torch.equal(load_source_weights(str(ok), "pyslowfast")["w"], torch.ones(2))


def test_checkpointer_refuses_pkl_and_unconverted_files(tmp_path):
    pkl = tmp_path / "model.pkl"
    with open(pkl, "wb") as f:
        pickle.dump({"blobs": {}}, f)
    with pytest.raises(
        CheckpointMismatchError, match="convert_checkpoint.py --from pyslowfast-caffe2"
    ):
        SlowFastCheckpointer(torch.nn.Linear(1, 1)).load(str(pkl))
    raw = tmp_path / "raw.pyth"
    torch.save({"model_state": {"w": torch.ones(1)}}, raw)
    with pytest.raises(CheckpointMismatchError, match="unconverted PySlowFast / pytorchvideo"):
        SlowFastCheckpointer(torch.nn.Linear(1, 1)).load(str(raw))
