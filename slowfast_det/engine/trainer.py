"""The AVA trainer: Detectron2's DefaultTrainer wired to slowfast_det's data, model and evaluator."""
import json
import logging
import os
import weakref

import torch
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, TrainerBase, create_ddp_model
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

__all__ = ["AVATrainer", "METRIC_NAME", "write_final_metrics"]

logger = logging.getLogger(__name__)

#: Key of the frame mAP in the evaluator's results (``results["ava"][METRIC_NAME]``).
METRIC_NAME = "frame-mAP@0.5IOU"


class AVATrainer(DefaultTrainer):
    """DefaultTrainer for video action detection.

    Differences from Detectron2's DefaultTrainer:

    * data: ``build_train_loader`` / ``build_test_loader`` use the AVA clip mapper;
    * evaluation: ``build_evaluator`` returns the official-metric :class:`AVAEvaluator`;
    * DDP also works on the CPU (gloo, no ``device_ids``), so ``--num-gpus 2`` runs two
      CPU processes where there is no GPU;
    * checkpoints go through :func:`build_checkpointer` (atomic writes, safe loading).
    """

    def __init__(self, cfg):
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())

        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)

        on_cpu = cfg.MODEL.DEVICE == "cpu"
        model = create_ddp_model(
            model,
            broadcast_buffers=False,
            device_ids=None if on_cpu else [comm.get_local_rank()],
        )
        trainer_cls = AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer
        self._trainer = trainer_cls(model, data_loader, optimizer)

        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = self.build_checkpointer(cfg, model, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def build_hooks(self):
        """DefaultTrainer's hooks plus the per-epoch data-problem summary (missing frames etc.)."""
        from slowfast_det.data.issues import DataIssuesHook

        hooks = super().build_hooks()
        loader = self._trainer.data_loader
        if getattr(loader, "issue_tracker", None) is not None and loader.iters_per_epoch:
            # before the PeriodicWriter (last), so the epoch's counts are written with it
            hooks.insert(len(hooks) - 1, DataIssuesHook.from_loader(loader))
        return hooks

    @classmethod
    def build_checkpointer(cls, cfg, model, **checkpointables):
        """The checkpointer used for MODEL.WEIGHTS, --resume and periodic saves."""
        from slowfast_det.checkpoint import SlowFastCheckpointer

        return SlowFastCheckpointer(model, cfg.OUTPUT_DIR, **checkpointables)

    @classmethod
    def build_train_loader(cls, cfg):
        from slowfast_det.data.build import build_ava_train_loader

        return build_ava_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        from slowfast_det.data.build import build_ava_test_loader

        return build_ava_test_loader(cfg, dataset_name)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        from slowfast_det.evaluation import AVAEvaluator

        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return AVAEvaluator(
            dataset_name,
            output_dir=output_folder,
            capacity=cfg.AVA.EVAL_CAPACITY,
            plots=cfg.AVA.EVAL_PLOTS,
        )


def write_final_metrics(cfg, results):
    """Write ``<OUTPUT_DIR>/final_metrics.json`` atomically and return the frame mAP.

    Args:
        results: ``{dataset_name: {"ava": {METRIC_NAME: float, ...}}}`` as returned by
            ``DefaultTrainer.test`` (or the single-dataset dict it flattens to).
    Returns:
        The frame mAP of the last test dataset, or None when nothing was evaluated.
    """
    if not results:
        return None
    per_dataset = results if all(isinstance(v, dict) and "ava" in v for v in results.values()) else None
    if per_dataset is None:  # DefaultTrainer.test flattens a single dataset's results
        per_dataset = {cfg.DATASETS.TEST[-1]: results}
    out = {name: r["ava"] for name, r in per_dataset.items() if "ava" in r}
    if not out:
        return None
    value = out[cfg.DATASETS.TEST[-1]][METRIC_NAME] if cfg.DATASETS.TEST[-1] in out else next(iter(out.values()))[METRIC_NAME]
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    path = os.path.join(cfg.OUTPUT_DIR, "final_metrics.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({METRIC_NAME: value, "datasets": out}, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return value


def default_device():
    """"cuda" when a GPU is visible, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"
