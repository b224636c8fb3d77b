#!/usr/bin/env python
"""One entry point for every slowfast_det benchmark.

    .venv/bin/python tools/benchmark.py --task {loader,eval,model,train,soak,stream,tracking} [task options]

Each task lives in its own module of ``slowfast_det.benchmarks`` (``eval``: ``evaluation``)
exposing ``add_arguments(parser)`` and ``main(args) -> list of (metric, value, unit) rows``;
this script parses the options and prints the rows as a summary table.
"""
import cpu_env  # noqa: F401  (first, before torch loads: OMP_WAIT_POLICY, see tools/cpu_env.py)

from slowfast_det.benchmarks.cli import main

if __name__ == "__main__":
    main()
