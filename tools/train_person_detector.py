#!/usr/bin/env python
"""Train (or evaluate) a Detectron2 person detector on the person boxes of an AVA-format dataset.

    # the demo's embedded default: Faster R-CNN R18-FPN on the synthetic frames (CPU, minutes)
    python tools/train_person_detector.py \
        --config-file configs/person_detector/faster_rcnn_R18_FPN_synthetic.yaml
    # box AP of a trained detector
    python tools/train_person_detector.py --config-file ... --eval-only \
        MODEL.WEIGHTS output/person_detector/model_final.pth

The detector is a plain Detectron2 model (here GeneralizedRCNN); its datasets are
detection datasets derived from AVA datasets: ``DATASETS.TRAIN / TEST`` names of the form
``<ava dataset>_person`` (e.g. ``synthetic_ava_train_person``) are registered from the
AVA dataset ``<ava dataset>``: one image per keyframe (the keyframe frame), one box per
ground-truth person (pixels), one class "person". The synthetic data is generated first
if the config uses it and it is missing. Evaluation is detectron2's COCOEvaluator (box AP).
The last line printed is ``person box AP: <AP> (AP50 <AP50>)``; the trained weights go to
``<OUTPUT_DIR>/model_final.pth`` (pass them as ``tools/demo.py --detector-weights``).
"""

import os
import time

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import DefaultTrainer, default_argument_parser, default_setup, launch
from detectron2.evaluation import COCOEvaluator
from detectron2.structures import BoxMode
from detectron2.utils import comm

import slowfast_det.data  # noqa: F401  (registers the built-in AVA datasets)
from slowfast_det.config import load_slowfast_cfg

SUFFIX = "_person"


def person_dicts(ava_name):
    """Detectron2 detection dicts of an AVA dataset's keyframes: one class, "person".

    Returns:
        list of ``{"file_name": keyframe path, "image_id": int, "height", "width",
        "annotations": [{"bbox": [x1, y1, x2, y2] pixels, "bbox_mode": XYXY_ABS,
        "category_id": 0}]}``,
        one per keyframe, one annotation per ground-truth person (not per action).
    """
    from slowfast_det.data.decode import read_frame_size

    sizes = {}  # frames of a video share one size
    out = []
    for i, d in enumerate(DatasetCatalog.get(ava_name)):
        vid = d["video_id"]
        if "keyframe_path" not in d:
            raise ValueError(
                f"dataset '{ava_name}': its frame source is {d['frame_source']['type']!r}, "
                "without keyframe image files; the person detector trains on keyframe images: "
                "use the frames dataset (without '_video')"
            )
        if vid not in sizes:
            size = read_frame_size(d["keyframe_path"])
            if size is None:
                raise FileNotFoundError(
                    f"dataset '{ava_name}': keyframe {d['image_id']} cannot be read: "
                    f"{d['keyframe_path']}"
                )
            sizes[vid] = size
        h, w = sizes[vid]
        anns = [
            {
                "bbox": [a["bbox"][0] * w, a["bbox"][1] * h, a["bbox"][2] * w, a["bbox"][3] * h],
                "bbox_mode": BoxMode.XYXY_ABS,
                "category_id": 0,
            }
            for a in d["annotations"]
        ]
        out.append(
            {
                "file_name": d["keyframe_path"],
                "image_id": i,
                "height": h,
                "width": w,
                "annotations": anns,
            }
        )
    return out


def register_person_datasets(names):
    """Register every ``<ava dataset>_person`` name of ``names`` (others are left alone)."""
    from slowfast_det.data import registered_ava_datasets

    ava = set(registered_ava_datasets())
    for name in names:
        if not name.endswith(SUFFIX) or name in DatasetCatalog:
            continue
        source = name[: -len(SUFFIX)]
        if source not in ava:
            raise KeyError(
                f"dataset '{name}': '{source}' is not a registered AVA dataset "
                f"(known: {sorted(ava)})"
            )
        DatasetCatalog.register(name, lambda source=source: person_dicts(source))
        MetadataCatalog.get(name).set(
            thing_classes=["person"], evaluator_type="coco", source_ava_dataset=source
        )


def prepare_data(cfg):
    """Generate the synthetic data if the config uses it and it is missing; register the
    datasets."""
    names = list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST)
    if any(n.startswith("synthetic_ava") for n in names):
        from slowfast_det.synthetic import default_root, ensure_synthetic_dataset

        if comm.is_main_process():
            ensure_synthetic_dataset(default_root())
        comm.synchronize()
    register_person_datasets(names)


class PersonDetectorTrainer(DefaultTrainer):
    """Detectron2's DefaultTrainer with COCO box AP as its evaluation."""

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return COCOEvaluator(
            dataset_name, tasks=("bbox",), distributed=True, output_dir=output_folder
        )


def setup(args):
    """The detector's plain Detectron2 config (the one builder, without the slowfast_det keys),
    then Detectron2's ``default_setup`` (output folder, logging, seed), as tools/train_ava.py."""
    cfg = load_slowfast_cfg(args.config_file, args.opts, slowfast_keys=False)
    default_setup(cfg, args)
    return cfg


def main(args):
    cfg = setup(args)
    prepare_data(cfg)
    start = time.perf_counter()
    if args.eval_only:
        model = PersonDetectorTrainer.build_model(cfg)
        from detectron2.checkpoint import DetectionCheckpointer

        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        results = PersonDetectorTrainer.test(cfg, model)
    else:
        trainer = PersonDetectorTrainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
        # DefaultTrainer's EvalHook evaluates after the last iteration and puts the results,
        # flattened ("bbox/AP", one test dataset), into the trainer's event storage.
        bbox = {
            k[len("bbox/") :]: v
            for k, (v, _) in trainer.storage.latest().items()
            if k.startswith("bbox/")
        }
        results = {"bbox": bbox} if bbox else None
        if comm.is_main_process():
            print(f"training and evaluation took {time.perf_counter() - start:.0f} s", flush=True)
    if comm.is_main_process() and results:
        bbox = results.get("bbox") or next(iter(results.values()))["bbox"]
        print(f"person box AP: {bbox['AP']:.2f} (AP50 {bbox['AP50']:.2f})", flush=True)
    return results


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
