#!/usr/bin/env python
"""One entry point for every slowfast_det benchmark.

    .venv/bin/python tools/benchmark.py --task TASK [task options]

TASK: loader, eval, model, train, soak, stream, tracking, cls_views, cls_model, cls_loader,
multigrid.

Each task lives in its own module of the checkout's ``benchmarks/`` folder (``eval``:
``evaluation``) exposing ``add_arguments(parser)`` and ``main(args) -> list of (metric,
value, unit) rows``; this script parses the options and prints the rows as a summary table.
The benchmarks are not part of the installed package: they run from a source checkout.
"""

import os
import sys

# benchmarks/ sits beside tools/ in the checkout and is not installed with slowfast_det.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from slowfast_det.utils.cpu_env import configure_cpu_threads  # noqa: E402

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from benchmarks.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
