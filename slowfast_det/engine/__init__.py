"""Training, inference and demo entry points."""

from .trainer import METRIC_NAME, AVATrainer, write_final_metrics  # noqa: F401
