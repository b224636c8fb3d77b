"""Multigrid against standard training: the headline metric against training wall-clock.

    .venv/bin/python tools/benchmark.py --task multigrid [--config-file CFG] [--points 4]
        [--rounds 1] [--plot docs/multigrid_cls.png] [--json out.json]
        [--multigrid-opts KEY VALUE ...] [KEY VALUE ...]

Trains the config (default: the synthetic classifier,
configs/synthetic/SLOWFAST_cls_synthetic.yaml) twice per round, back to back on the same
machine: the standard schedule, then multigrid (``--multigrid-opts``, default
``SOLVER.MULTIGRID.LONG_CYCLE True SHORT_CYCLE True``) on the same config and the same
``SOLVER.MAX_ITER`` budget, which multigrid turns into fewer, larger steps. At ``--points``
evenly spaced fractions of each run (the last one at its end) the clock stops and a copy of
the model is scored as the run's final evaluation is: PreciseBN over
``TEST.PRECISE_BN.NUM_ITER`` batches of default-shape training clips, then the multi-view test
of ``DATASETS.TEST``. The training seconds exclude those evaluations (everything else counts:
data loading, the steps, the hooks). Rows: each run's final headline metric, training seconds
(and the part spent waiting for the loader, Detectron2's ``data_time``), iterations and clips;
the speed-up of multigrid's training time. ``--plot`` draws the metric against training
seconds (matplotlib).
"""

import copy
import json
import os
import tempfile
import time

import torch
from detectron2.engine import HookBase
from fvcore.nn.precise_bn import update_bn_stats

from benchmarks import REPO
from slowfast_det.config import load_slowfast_cfg
from slowfast_det.engine.classification_trainer import trainer_class
from slowfast_det.engine.multigrid import standard_cfg
from slowfast_det.engine.process_setup import prepare_data
from slowfast_det.engine.trainer import final_metric

__all__ = ["add_arguments", "main"]

MULTIGRID = ["SOLVER.MULTIGRID.LONG_CYCLE", "True", "SOLVER.MULTIGRID.SHORT_CYCLE", "True"]


def add_arguments(parser):
    parser.add_argument(
        "--config-file",
        default=os.path.join(REPO, "configs", "synthetic", "SLOWFAST_cls_synthetic.yaml"),
    )
    parser.add_argument("--points", type=int, default=4, help="evaluations per run")
    parser.add_argument("--rounds", type=int, default=1, help="standard + multigrid pairs")
    parser.add_argument("--plot", default=None, help="PNG of the metric against training seconds")
    parser.add_argument("--json", default=None, help="write the curves here")
    parser.add_argument("--workdir", default=None, help="OUTPUT_DIRs (default: a temp dir)")
    parser.add_argument(
        "--multigrid-opts",
        nargs="+",
        default=MULTIGRID,
        help="KEY VALUE overrides of the multigrid run only (default: both cycles on)",
    )
    parser.add_argument("opts", nargs="*", help="KEY VALUE config overrides for both runs")


class _ClockAndScore(HookBase):
    """Training seconds (evaluations excluded) and the score at the chosen iterations."""

    def __init__(self, trainer_cls, cfg, points):
        self.trainer_cls, self.cfg, self.points = trainer_cls, cfg, set(points)
        self.metric = None  # the task's headline metric (top1, frame-mAP@0.5IOU, ...)
        self.curve = []  # (training seconds, iteration, clips seen, metric, data wait seconds)
        self._paused = 0.0

    def before_train(self):
        self._start = time.perf_counter()

    def after_step(self):
        it = self.trainer.iter + 1
        if it not in self.points:
            return
        now = time.perf_counter()
        seconds = now - self._start - self._paused
        value = self.score(self.trainer.model)
        loader = self.trainer.data_loader
        clips = (
            loader.schedule.position(it)
            if hasattr(loader, "schedule")
            else it * (self.cfg.SOLVER.IMS_PER_BATCH)
        )
        waits = self.trainer.storage.history("data_time").values()
        self.curve.append((seconds, it, clips, value, sum(v for v, _ in waits)))
        self._paused += time.perf_counter() - now

    def score(self, model):
        cfg = standard_cfg(self.cfg)
        cfg.DATALOADER.NUM_WORKERS = 0
        model = copy.deepcopy(model)
        if cfg.TEST.PRECISE_BN.ENABLED:
            loader = iter(self.trainer_cls.build_train_loader(cfg))
            update_bn_stats(model, loader, cfg.TEST.PRECISE_BN.NUM_ITER)
        results = self.trainer_cls.test(cfg, model)
        found = final_metric(
            cfg,
            results,
            results_key=self.trainer_cls.RESULTS_KEY,
            metric_names=self.trainer_cls.HEADLINE_METRICS,
        )
        if not found:
            return float("nan")
        self.metric = found[0]
        return float(found[1])


def _run(config_file, opts, out_dir, points):
    cfg = load_slowfast_cfg(config_file, opts, freeze=False)
    cfg.OUTPUT_DIR = out_dir
    cfg.TEST.EVAL_PERIOD = 0
    prepare_data(cfg)  # the synthetic set generated if missing, the datasets registered
    precise = cfg.TEST.PRECISE_BN.ENABLED
    cfg.TEST.PRECISE_BN.ENABLED = False  # the hook scores a copy (PreciseBN there, as configured)
    trainer_cls = trainer_class(cfg)
    trainer = trainer_cls(cfg)
    trainer.resume_or_load(resume=False)
    n = trainer.max_iter
    at = sorted({max(1, round(n * (k + 1) / points)) for k in range(points)})
    score_cfg = cfg.clone()
    score_cfg.TEST.PRECISE_BN.ENABLED = precise
    hook = _ClockAndScore(trainer_cls, score_cfg, at)
    trainer.register_hooks([hook])
    trainer.train()
    return {"iterations": n, "metric": hook.metric, "curve": hook.curve}


def _plot(runs, path, metric):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (name, k), run in runs.items():
        xs = [0.0] + [p[0] for p in run["curve"]]
        ys = [float("nan")] + [p[3] for p in run["curve"]]
        ax.plot(xs, ys, "o-" if name == "multigrid" else "s--", label=f"{name} (round {k + 1})")
    ax.set_xlabel("training wall-clock (s), evaluations excluded")
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(args):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    work = args.workdir or tempfile.mkdtemp(prefix="bench_multigrid_")
    runs = {}
    for k in range(args.rounds):
        for name, extra in (("standard", []), ("multigrid", list(args.multigrid_opts))):
            out = os.path.join(work, f"{name}_{k}")
            runs[(name, k)] = _run(args.config_file, list(args.opts) + extra, out, args.points)
    metric = next(iter(runs.values()))["metric"]
    if args.plot:
        _plot(runs, args.plot, metric)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{n}_{k}": r for (n, k), r in runs.items()}, f, indent=1)
    rows = []
    for (name, k), run in runs.items():
        seconds, it, clips, value, wait = run["curve"][-1]
        tag = f"{name} round {k + 1}"
        rows += [
            [f"{tag}: final {metric}", value, ""],
            [f"{tag}: training time", seconds, "s"],
            [f"{tag}: of which waiting for data", wait, "s"],
            [f"{tag}: iterations / clips", f"{it} / {clips}", ""],
        ]
    for k in range(args.rounds):
        s, m = runs[("standard", k)]["curve"][-1][0], runs[("multigrid", k)]["curve"][-1][0]
        rows.append([f"round {k + 1}: standard / multigrid training time", s / m, "x"])
    return rows
