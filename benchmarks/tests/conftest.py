"""The benchmarks' tests run as the package's tests do: on the CPU with tiny shapes."""

import cpu_tests  # noqa: F401  (CPU only, at most 2 torch threads)
from cpu_tests import torch_threads_as_before  # noqa: F401  (autouse fixture)
