"""The AVA trainer: Detectron2's DefaultTrainer wired to slowfast_det's data, model and
evaluator."""

import json
import logging
import os
import weakref

from detectron2.engine import (
    AMPTrainer,
    DefaultTrainer,
    SimpleTrainer,
    TrainerBase,
    create_ddp_model,
    hooks,
)
from detectron2.evaluation import verify_results
from detectron2.utils import comm
from detectron2.utils.logger import log_first_n, setup_logger

from slowfast_det.checkpoint import SlowFastCheckpointer
from slowfast_det.data.build import build_ava_test_loader, build_ava_train_loader
from slowfast_det.data.custom import check_num_classes
from slowfast_det.data.issues import DataIssuesHook
from slowfast_det.data.samplers import ResumableTrainingSampler
from slowfast_det.evaluation import AVAEvaluator
from slowfast_det.utils.cpu_features import bf16_cpu_warning
from slowfast_det.utils.file_io import atomic_path

from .hooks import IterationSeedHook
from .multigrid import (
    build_multigrid_lr_scheduler,
    log_schedule,
    multigrid_schedule,
    prepare_multigrid_model,
    standard_cfg,
)
from .optim import build_optimizer
from .train_loop import NonFiniteGuard, NonFiniteLossError, UpdateSkipped

__all__ = ["AVATrainer", "METRIC_NAME", "final_metric", "write_final_metrics"]

logger = logging.getLogger(__name__)

#: Key of the frame mAP in the evaluator's results (``results["ava"][METRIC_NAME]``).
METRIC_NAME = "frame-mAP@0.5IOU"


class AVATrainer(DefaultTrainer):
    """DefaultTrainer for video action detection.

    Differences from Detectron2's DefaultTrainer:

    * data: ``build_train_loader`` / ``build_test_loader`` use the AVA clip mapper;
    * evaluation: ``build_evaluator`` returns the official-metric :class:`AVAEvaluator`; the
      results of the last evaluation during training are kept in :attr:`eval_results` (and
      returned by :meth:`train`);
    * DDP also works on the CPU (gloo, no ``device_ids``), so ``--num-gpus 2`` runs two
      CPU processes where there is no GPU;
    * checkpoints go through :func:`build_checkpointer` (atomic writes, safe loading);
    * reproducible and resumable: the data stream and every clip's augmentation depend only
      on the run seed and the clip's global position, and the training process's RNGs are
      re-seeded from (seed, iteration, rank) before every step
      (:class:`~slowfast_det.engine.hooks.IterationSeedHook`). The run seed (``cfg.SEED``, or
      a random one shared by the ranks) is saved in every checkpoint; ``resume_or_load``
      restores it and starts the stream at ``start_iter * SOLVER.IMS_PER_BATCH``, so a
      resumed run reaches the uninterrupted run's weights, and N processes with B / N clips
      each see the same clips per step as one process with B;
    * a NaN / infinite loss (or fp32 gradient) stops every rank with
      :class:`~slowfast_det.engine.train_loop.NonFiniteLossError` naming the iteration and
      the last good checkpoint, before the optimizer step; no checkpoint, evaluation or
      PreciseBN runs from that state (``SOLVER.STOP_ON_NONFINITE_LOSS False`` skips such
      updates instead, counted in ``nonfinite_guard.skipped_steps``;
      :class:`~slowfast_det.engine.train_loop.NonFiniteGuard`).

    Why ``__init__`` does not call ``DefaultTrainer.__init__``: that one wraps the model
    with ``create_ddp_model(model, broadcast_buffers=False)``, which passes
    ``device_ids=[local_rank]`` when none is given, and torch's DDP rejects ``device_ids``
    for a CPU module (``ValueError``), so multi-process CPU training
    (tests/engine/test_distributed.py) cannot be built there; it also makes a plain
    ``DetectionCheckpointer`` (no overridable builder) and hands it to the
    ``PeriodicCheckpointer`` in ``build_hooks`` before a subclass could replace it. So the
    same objects are built here, in DefaultTrainer's order and through its overridable
    builders (``build_model``, ``build_optimizer``, ``build_train_loader``,
    ``build_lr_scheduler``, ``build_hooks``), with ``device_ids`` only on GPUs, our
    checkpointer, and the step trainer's model wrapped by the non-finite guard; the rest
    (``run_step``, ``resume_or_load``, ``state_dict``, ``test``, the hooks) is DefaultTrainer's.
    """

    #: The evaluator's key in the results, and the headline metric(s) (:func:`final_metric`).
    RESULTS_KEY = "ava"
    HEADLINE_METRICS = (METRIC_NAME,)

    def __init__(self, cfg):
        TrainerBase.__init__(self)
        self.registered_hooks = []  # every hook of this trainer, in order (register_hooks)
        #: Results of the last evaluation during training (None: none yet).
        self.eval_results = None
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = self.auto_scale_workers(cfg, comm.get_world_size())
        if (
            cfg.MODEL.DEVICE == "cpu"
            and comm.get_world_size() > 1
            and cfg.MODEL.SLOWFAST.NORM == "SyncBN"
        ):
            raise ValueError(
                "MODEL.SLOWFAST.NORM='SyncBN' needs GPUs (torch's SyncBatchNorm); in multi-process "
                "CPU training use 'FrozenBN' (or 'BN', statistics per process)"
            )

        #: The multigrid schedule (``SOLVER.MULTIGRID``), None for the default training.
        self.multigrid = multigrid_schedule(cfg)
        # (the BN groups replace modules: before the optimizer takes their parameters)
        model = prepare_multigrid_model(cfg, self.build_model(cfg))
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)

        on_cpu = cfg.MODEL.DEVICE == "cpu"
        model = create_ddp_model(
            model,
            broadcast_buffers=False,
            device_ids=None if on_cpu else [comm.get_local_rank()],
        )
        # SOLVER.AMP on a GPU: Detectron2's AMPTrainer (float16 autocast, gradient scaler); on
        # a CPU the model autocasts its forward to bfloat16 itself (no scaler needed).
        scaled_amp = cfg.SOLVER.AMP.ENABLED and not on_cpu
        warning = bf16_cpu_warning(
            cfg.SOLVER.AMP.ENABLED, cfg.MODEL.DEVICE, key="SOLVER.AMP.ENABLED"
        )
        if warning:
            logger.warning(warning)
        self.nonfinite_guard = NonFiniteGuard(
            stop=cfg.SOLVER.STOP_ON_NONFINITE_LOSS, check_grads=not scaled_amp
        )
        step_trainer = AMPTrainer if scaled_amp else SimpleTrainer
        self._trainer = step_trainer(self.nonfinite_guard.wrap(model), data_loader, optimizer)
        self._trainer.register_hooks([self.nonfinite_guard])
        self._diverged = False
        if self.train_sampler is None:  # a custom loader: still one seed for IterationSeedHook
            self._fallback_seed = cfg.SEED if cfg.SEED >= 0 else comm.shared_random_seed()

        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = self.build_checkpointer(cfg, model, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        if self.multigrid is not None:
            self.max_iter = self.multigrid.max_iter
            log_schedule(self.multigrid, cfg.SOLVER.MAX_ITER)
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @property
    def model(self):
        """The model being trained (DDP in a multi-process run), as DefaultTrainer's ``model``:
        the step trainer's model without the guard's :class:`LossCheck` around it. Evaluation,
        PreciseBN and the checkpointer use this one."""
        return self._trainer.model.module

    @model.setter
    def model(self, value):
        self._trainer.model = self.nonfinite_guard.wrap(value)

    def register_hooks(self, hooks):
        """TrainerBase.register_hooks; the hooks are also listed in :attr:`registered_hooks`."""
        hooks = [h for h in hooks if h is not None]
        super().register_hooks(hooks)
        self.registered_hooks.extend(hooks)

    @property
    def train_sampler(self):
        """The training loader's :class:`ResumableTrainingSampler` (None for another loader)."""
        sampler = getattr(self.data_loader, "sampler", None)
        return sampler if isinstance(sampler, ResumableTrainingSampler) else None

    @property
    def seed(self):
        """The run seed: the data stream's seed (else cfg.SEED or one shared random seed),
        also used by :class:`IterationSeedHook`."""
        sampler = self.train_sampler
        return sampler.seed if sampler is not None else self._fallback_seed

    def build_hooks(self):
        """DefaultTrainer's hooks, with its evaluation hook replaced by one that keeps the
        results in :attr:`eval_results` (same period, also after the last iteration); the
        per-step RNG seeding (first) and the per-epoch data-problem summary (missing frames
        etc.)."""
        ret = [IterationSeedHook()] + [
            hooks.EvalHook(self.cfg.TEST.EVAL_PERIOD, self._evaluate)
            if isinstance(h, hooks.EvalHook)
            else self._precise_bn_hook(h)
            if isinstance(h, hooks.PreciseBN) and self.multigrid is not None
            else h
            for h in super().build_hooks()
        ]
        loader = self.data_loader
        if getattr(loader, "issue_tracker", None) is not None and loader.iters_per_epoch:
            # before the PeriodicWriter (last), so the epoch's counts are written with it
            ret.insert(len(ret) - 1, DataIssuesHook.from_loader(loader))
        return ret

    def _precise_bn_hook(self, hook):
        """Multigrid: PreciseBN over clips of the default shape (those of the last stage and
        of testing), not over the first stage's."""
        cfg = standard_cfg(self.cfg)
        cfg.DATALOADER.NUM_WORKERS = 0  # as DefaultTrainer's hook
        return hooks.PreciseBN(
            cfg.TEST.EVAL_PERIOD,
            self.model,
            self.build_train_loader(cfg),
            cfg.TEST.PRECISE_BN.NUM_ITER,
        )

    def resume_or_load(self, resume=True):
        """DefaultTrainer's resume_or_load, then start the data stream where the checkpointed
        run left it (``start_iter * SOLVER.IMS_PER_BATCH``; multigrid: the schedule's position
        of ``start_iter``) with the checkpoint's seed."""
        super().resume_or_load(resume=resume)
        sampler = self.train_sampler
        if sampler is not None:
            sampler.start_at_iteration(self.start_iter, self.cfg.SOLVER.IMS_PER_BATCH)
            if self.start_iter:
                logger.info(
                    "Resuming the data stream at sample %d (seed %d)", sampler.start, sampler.seed
                )

    def state_dict(self):
        ret = super().state_dict()
        sampler = self.train_sampler
        if sampler is not None:
            ret["data_sampler"] = sampler.state_dict()
        return ret

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        sampler = self.train_sampler
        if sampler is not None:
            if "data_sampler" in state_dict:
                sampler.load_state_dict(state_dict["data_sampler"])
            else:
                logger.warning(
                    "The checkpoint has no data-stream state: the resumed data order differs from "
                    "the original run's"
                )

    def _evaluate(self):
        self.eval_results = self.test(self.cfg, self.model)
        return self.eval_results

    def train(self):
        """Run training; returns :attr:`eval_results` (None without evaluation), checked
        against ``TEST.EXPECTED_RESULTS`` on the main process when that is set.

        (TrainerBase's loop, as DefaultTrainer.train, which reads the results from the
        evaluation hook that :meth:`build_hooks` replaces.)
        """
        TrainerBase.train(self, self.start_iter, self.max_iter)
        if len(self.cfg.TEST.EXPECTED_RESULTS) and comm.is_main_process():
            verify_results(self.cfg, self.eval_results)
        return self.eval_results

    def run_step(self):
        try:
            super().run_step()
        except UpdateSkipped:
            pass  # the guard dropped this step's update (logged and counted); training goes on
        except NonFiniteLossError as e:
            self._diverged = True
            e.last_checkpoint = self.last_checkpoint()
            raise

    def last_checkpoint(self):
        """Path of the last complete checkpoint of this run's OUTPUT_DIR, or None."""
        if not self.checkpointer.has_checkpoint():
            return None
        return self.checkpointer.get_checkpoint_file()

    def after_train(self):
        """After a diverged step, skip the hooks that would save, evaluate or update the
        model from that state (checkpointers, evaluation, PreciseBN); the others (writers,
        timers, data summary) still finish."""
        if not self._diverged:
            return super().after_train()
        skipped = (
            hooks.PeriodicCheckpointer,
            hooks.BestCheckpointer,
            hooks.EvalHook,
            hooks.PreciseBN,
        )
        self.storage.iter = self.iter
        for h in self.registered_hooks:
            if not isinstance(h, skipped):
                h.after_train()

    @classmethod
    def build_checkpointer(cls, cfg, model, **checkpointables):
        """The checkpointer used for MODEL.WEIGHTS, --resume and periodic saves."""
        return SlowFastCheckpointer(model, cfg.OUTPUT_DIR, **checkpointables)

    @classmethod
    def build_optimizer(cls, cfg, model):
        """SGD or AdamW (``SOLVER.OPTIMIZER``) over Detectron2's parameter groups."""
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        """Detectron2's scheduler (multigrid: rescaled over its iterations,
        :func:`~.multigrid.build_multigrid_lr_scheduler`); a warning when
        ``SOLVER.WARMUP_ITERS`` exceeds
        ``SOLVER.MAX_ITER`` (the warm-up then spans the whole run: the learning rate never
        reaches ``SOLVER.BASE_LR`` on its schedule)."""
        schedule = multigrid_schedule(cfg)
        if schedule is not None:
            return build_multigrid_lr_scheduler(cfg, optimizer, schedule)
        warmup, max_iter = cfg.SOLVER.WARMUP_ITERS, cfg.SOLVER.MAX_ITER
        if warmup > max_iter and cfg.SOLVER.WARMUP_FACTOR < 1.0:
            logger.warning(
                "SOLVER.WARMUP_ITERS %d > SOLVER.MAX_ITER %d: the learning rate never leaves "
                "warm-up (it rises from %g x SOLVER.BASE_LR over the whole run and never reaches "
                "the schedule's value); set SOLVER.WARMUP_ITERS below MAX_ITER (e.g. %d)",
                warmup,
                max_iter,
                cfg.SOLVER.WARMUP_FACTOR,
                max(0, max_iter // 10),
            )
        return super().build_lr_scheduler(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg):
        """The AVA training loader, after checking that ``MODEL.ROI_HEADS.NUM_CLASSES`` covers
        the training datasets' label maps (:func:`~slowfast_det.data.custom.check_num_classes`)."""
        check_num_classes(cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.DATASETS.TRAIN)
        return build_ava_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        """The AVA inference loader of one dataset, after the same label-map check."""
        check_num_classes(cfg.MODEL.ROI_HEADS.NUM_CLASSES, [dataset_name])
        return build_ava_test_loader(cfg, dataset_name)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        """Detectron2's ``test``, warning first (once) when ``TEST.BF16`` is set for a CPU
        without native bfloat16, where bf16 is emulated and far slower than float32."""
        warning = bf16_cpu_warning(cfg.TEST.BF16, cfg.MODEL.DEVICE)
        if warning:
            log_first_n(logging.WARNING, warning, name=__name__)
        return super().test(cfg, model, evaluators)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return AVAEvaluator(cfg, dataset_name, output_dir=output_folder)  # configurable: AVA.EVAL_*


def final_metric(cfg, results, *, results_key="ava", metric_names=(METRIC_NAME,)):
    """The headline metric of a run's evaluation results.

    Args:
        results: ``{dataset_name: {results_key: {metric: float, ...}}}`` as returned by
            ``DefaultTrainer.test`` (or the single-dataset dict it flattens to).
        results_key: the evaluator's key (``"ava"``; ``"classification"``).
        metric_names: candidates, the first one the results have is the headline.
    Returns:
        ``(name, value, {dataset_name: metrics})``: the headline of the last test dataset
        (else of the first dataset evaluated), or None when nothing was evaluated.
    """
    if not results:
        return None
    per_dataset = (
        results if all(isinstance(v, dict) and results_key in v for v in results.values()) else None
    )
    if per_dataset is None:  # DefaultTrainer.test flattens a single dataset's results
        per_dataset = {cfg.DATASETS.TEST[-1]: results}
    out = {name: r[results_key] for name, r in per_dataset.items() if results_key in r}
    if not out:
        return None
    main = out[cfg.DATASETS.TEST[-1]] if cfg.DATASETS.TEST[-1] in out else next(iter(out.values()))
    name = next((n for n in metric_names if n in main), None)
    if name is None:
        return None
    return name, main[name], out


def write_final_metrics(cfg, results, *, results_key="ava", metric_names=(METRIC_NAME,)):
    """Write ``<OUTPUT_DIR>/final_metrics.json`` (``{<headline>: value, "datasets": {name:
    metrics}}``) atomically and return the headline value (:func:`final_metric`; the frame
    mAP with the defaults), or None when nothing was evaluated."""
    found = final_metric(cfg, results, results_key=results_key, metric_names=metric_names)
    if found is None:
        return None
    name, value, out = found
    with atomic_path(os.path.join(cfg.OUTPUT_DIR, "final_metrics.json")) as tmp:
        with open(tmp, "w") as f:
            json.dump({name: value, "datasets": out}, f, indent=2)
    return value
