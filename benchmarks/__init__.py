"""The benchmarks of ``tools/benchmark.py --task <task>``, one module per task.

This folder lives beside ``tools/`` in the source checkout; the installed ``slowfast_det``
package never imports it.

Each task module exposes ``add_arguments(parser)`` and ``main(args) -> list of (metric, value,
unit) rows``; :func:`benchmarks.cli.main` parses the options and prints the rows
as a summary table. :func:`in_workdir` and :func:`print_rows` are the plumbing shared by the
tasks that write files. The tool calls ``slowfast_det.utils.cpu_env.configure_cpu_threads()``
first (``OMP_WAIT_POLICY`` must be set before torch loads, and this package imports torch).
"""

import os
import tempfile

__all__ = ["REPO", "TASKS", "in_workdir", "print_rows"]

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


def in_workdir(run, args, prefix):
    """``run(args, workdir)`` in ``args.workdir`` (created if missing) or, without one, in a
    temporary directory named ``<prefix>...`` that is removed afterwards; returns its rows."""
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        return run(args, args.workdir)
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as workdir:
        return run(args, workdir)


def print_rows(tag, rows):
    """Print ``(metric, value, unit)`` rows as they are measured: ``[tag] metric: value unit``,
    numbers to 3 significant digits, strings as they are."""
    for name, value, unit in rows:
        print(f"[{tag}] {name}: {value if isinstance(value, str) else f'{value:.3g}'} {unit}")
