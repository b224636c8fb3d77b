"""``tools/benchmark.py``: ``--task`` picks the module, which adds its options and returns its
rows; the machine's rows come first in the printed summary."""

import argparse
import importlib

from tabulate import tabulate

from benchmarks import TASKS
from benchmarks.machine import machine_rows

__all__ = ["main"]


def main(argv=None):
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", choices=list(TASKS))
    known, _ = pre.parse_known_args(argv)
    if known.task is None:  # --help without a task (exit 0), else the "--task is required" error
        top = argparse.ArgumentParser(description="slowfast_det benchmarks (--task T --help: T's)")
        top.add_argument("--task", choices=list(TASKS), required=True)
        top.parse_args(argv)
    module = importlib.import_module(f"benchmarks.{TASKS[known.task]}")
    parser = argparse.ArgumentParser(description=f"slowfast_det benchmark: {known.task}")
    parser.add_argument("--task", choices=list(TASKS), required=True)
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    rows = list(module.main(args))
    rows = machine_rows() + rows  # after the task: it may set the torch threads

    print(f"\nSummary ({known.task}):")
    print(tabulate(rows, headers=["metric", "value", "unit"], tablefmt="github", floatfmt=".4g"))
