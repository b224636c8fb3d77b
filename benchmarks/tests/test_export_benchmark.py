"""benchmarks.model --parts export on a tiny clip (a smoke test of the measurement
code: PyTorch eager vs onnxruntime, side by side; no speed targets)."""

import argparse
import os

import pytest

from benchmarks import model as bm

pytest.importorskip(
    "onnxruntime",
    reason="onnxruntime cannot be imported on this platform (pinned in requirements.txt)",
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_export_part_tiny():
    parser = argparse.ArgumentParser()
    bm.add_arguments(parser)
    args = parser.parse_args(
        [
            "--parts",
            "export",
            "--iters",
            "1",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--config-file",
            os.path.join(REPO, "configs", "synthetic", "SLOWFAST_synthetic.yaml"),
            "--input-size",
            "8",
            "48",
            "64",
        ]
    )
    rows = {r[0]: r[1] for r in bm.main(args)}

    def find(prefix):
        hits = [v for k, v in rows.items() if k.startswith(prefix)]
        assert len(hits) == 1, (prefix, list(rows))
        return hits[0]

    assert find("export: max abs score difference") <= 1e-4
    eager, ort = find("export: PyTorch eager latency"), find("export: onnxruntime")
    same_layout = find("export: PyTorch in the exported layout")
    assert eager > 0 and ort > 0 and same_layout > 0
    assert find("export: speed ratio onnxruntime / PyTorch eager") == pytest.approx(eager / ort)
    assert find(
        "export: speed ratio onnxruntime / PyTorch in the exported layout"
    ) == pytest.approx(same_layout / ort)
    assert find("export: ONNX file size") > 0
