"""Shared pytest fixtures: everything runs on the CPU with tiny shapes."""

import cpu_tests  # noqa: F401  (CPU only, at most 2 torch threads)
import pytest
from cpu_tests import torch_threads_as_before  # noqa: F401  (autouse fixture)


@pytest.fixture
def cfg():
    """A Detectron2 config with the slowfast_det keys added (defaults, not merged, not frozen)."""
    from slowfast_det.config import load_slowfast_cfg

    return load_slowfast_cfg(freeze=False)


@pytest.fixture(autouse=True)
def _loggers_as_before():
    """Undo the log handlers a test's tool added (Detectron2's ``setup_logger``).

    Such a handler holds the stream of the test that ran the tool (pytest's capture, closed
    afterwards): a later test's log record would print "--- Logging error ---" into its own
    captured stderr. ``setup_logger`` is cached, so its cache is cleared as well: the next
    tool run in the same process adds a fresh handler on the stream of its own test.
    """
    import logging

    def handlers():
        loggers = [logging.getLogger()] + [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ]
        return {logger: list(logger.handlers) for logger in loggers}

    before = handlers()
    yield
    added = False
    for logger, now in handlers().items():
        for handler in now:
            if handler not in before.get(logger, []):
                logger.removeHandler(handler)
                added = True
    if added:
        from detectron2.utils.logger import setup_logger

        setup_logger.cache_clear()
