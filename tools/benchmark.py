#!/usr/bin/env python
"""One entry point for every slowfast_det benchmark.

    .venv/bin/python tools/benchmark.py --task {loader,eval,model,train,soak,stream,tracking} [task options]

Each task lives in its own module ``tools/benchmark_<task>.py`` exposing
``add_arguments(parser)`` and ``main(args) -> list of (metric, value, unit) rows``; this
script parses the options and prints the rows as a summary table.
"""
import argparse
import importlib
import os
import sys

TASKS = ["loader", "eval", "model", "train", "soak", "stream", "tracking"]


def main(argv=None):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", choices=TASKS, required=True)
    known, _ = pre.parse_known_args(argv)
    module = importlib.import_module(f"benchmark_{known.task}")
    parser = argparse.ArgumentParser(description=f"slowfast_det benchmark: {known.task}")
    parser.add_argument("--task", choices=TASKS, required=True)
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    rows = module.main(args)
    from tabulate import tabulate

    from slowfast_det.utils.machine import machine_rows

    rows = machine_rows() + list(rows)

    print(f"\nSummary ({known.task}):")
    print(tabulate(rows, headers=["metric", "value", "unit"], tablefmt="github", floatfmt=".4g"))


if __name__ == "__main__":
    main()
