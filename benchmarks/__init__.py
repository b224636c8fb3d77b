"""The benchmarks of ``tools/benchmark.py --task <task>``, one module per task.

This folder lives beside ``tools/`` in the source checkout; the installed ``slowfast_det``
package never imports it.

Each task module exposes ``add_arguments(parser)`` and ``main(args) -> list of (metric, value,
unit) rows``; :func:`benchmarks.cli.main` parses the options and prints the rows
as a summary table. The tool calls ``slowfast_det.utils.cpu_env.configure_cpu_threads()`` first
(``OMP_WAIT_POLICY`` must be set before torch loads, and this package imports torch).
"""

import os

__all__ = ["REPO", "TASKS"]

#: The checkout holding this folder (configs/ and tools/ are read from it).
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: ``--task`` name -> module of this package.
TASKS = {
    "loader": "loader",
    "eval": "evaluation",
    "model": "model",
    "train": "train",
    "soak": "soak",
    "stream": "stream",
    "tracking": "tracking",
    "cls_views": "cls_views",
    "cls_model": "cls_model",
    "cls_loader": "cls_loader",
    "multigrid": "multigrid",
}
