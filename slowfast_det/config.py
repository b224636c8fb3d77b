"""Config keys added by slowfast_det.

Every key has a default and a one-line comment. Build a config with
:func:`load_slowfast_cfg` (the one builder: defaults, a file, ``KEY VALUE`` overrides, a dict
of values)::

    from slowfast_det.config import load_slowfast_cfg

    cfg = load_slowfast_cfg("configs/AVA/SLOWFAST_32x2_R50.yaml", ["SOLVER.MAX_ITER", "10"])

The defaults name slowfast_det's model components (``MODEL.META_ARCHITECTURE``,
``MODEL.BACKBONE.NAME``, ``MODEL.ROI_HEADS.NAME``), so this module imports
:mod:`slowfast_det.modeling`, which registers them: a config made here always builds.
"""

import torch
from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg

import slowfast_det.modeling  # noqa: F401  (registers the components the defaults name)


def add_slowfast_config(cfg):
    """Add the slowfast_det keys (with defaults) to a Detectron2 config, in place."""
    _C = cfg

    # ------------------------------------------------------------------ model
    # Five Detectron2 defaults overridden, each because a config without a slowfast_det YAML
    # (get_cfg() + add_slowfast_config, as the tests, the exporters and code building a
    # model do) must build and feed this package's model. The head's
    # MODEL.ROI_HEADS.NUM_CLASSES keeps Detectron2's default, 80: AVA v2.x's action ids 1..80.
    # The video model, its backbone and its head (Detectron2's are image models).
    _C.MODEL.META_ARCHITECTURE = "VideoActionDetector"
    _C.MODEL.BACKBONE.NAME = "build_slowfast_backbone"
    _C.MODEL.ROI_HEADS.NAME = "ROIAlign3DHead"
    # Per-channel clip mean / std, RGB order, in 0-255 pixel units (Detectron2's convention):
    # the model normalises the mapper's uint8 clips on its device and saves these in its
    # checkpoints. AVA recipe: 0.45 and 0.225 of 255. Detectron2's defaults (BGR ImageNet
    # means, std 1) would feed the SlowFast weights wrongly scaled clips, so these are the
    # defaults, not a YAML setting that a config could leave out.
    _C.MODEL.PIXEL_MEAN = [0.45 * 255, 0.45 * 255, 0.45 * 255]
    _C.MODEL.PIXEL_STD = [0.225 * 255, 0.225 * 255, 0.225 * 255]

    _C.MODEL.SLOWFAST = CN()
    # "slowfast" (two pathways), "slow" (Slow pathway only) or "fast" (Fast pathway only).
    _C.MODEL.SLOWFAST.ARCH = "slowfast"
    # ResNet depth: 18 (2,2,2,2), 50 (3,4,6,3) or 101 (3,4,23,3) bottlenecks per stage.
    _C.MODEL.SLOWFAST.DEPTH = 50
    # Explicit bottleneck counts for res2..res5 (overrides DEPTH when non-empty), e.g. [1, 1, 1, 1].
    _C.MODEL.SLOWFAST.STAGE_BLOCKS = []
    # Frame-rate ratio between the Fast and the Slow pathway (alpha).
    _C.MODEL.SLOWFAST.ALPHA = 4
    # Channel ratio Slow/Fast (1 / beta).
    _C.MODEL.SLOWFAST.BETA_INV = 8
    # Lateral connection output channels = ratio * Fast channels.
    _C.MODEL.SLOWFAST.FUSION_CONV_CHANNEL_RATIO = 2
    # Temporal kernel size of the lateral (time-strided) convolution.
    _C.MODEL.SLOWFAST.FUSION_KERNEL_SZ = 7
    # Number of groups in the 3x3 convolutions (1 = ResNet, >1 = ResNeXt).
    _C.MODEL.SLOWFAST.NUM_GROUPS = 1
    # Width of each group in res2 of the Slow pathway (64 for ResNet-50).
    _C.MODEL.SLOWFAST.WIDTH_PER_GROUP = 64
    # Channels of the stem output of the Slow pathway (64 for the standard models).
    _C.MODEL.SLOWFAST.STEM_OUT_CHANNELS = 64
    # Temporal kernel of the stem convolution, [slow, fast] (Slow-/Fast-only take their entry).
    _C.MODEL.SLOWFAST.STEM_TEMPORAL_KERNEL = [1, 5]
    # Temporal kernel of the first conv of each bottleneck, per stage res2..res5, [slow, fast].
    _C.MODEL.SLOWFAST.TEMPORAL_KERNELS = [[1, 3], [1, 3], [3, 3], [3, 3]]
    # Per stage res2..res5, [slow, fast]: leading blocks using that kernel (rest 1); [] = all.
    _C.MODEL.SLOWFAST.NUM_BLOCK_TEMP_KERNEL = []
    # Spatial stride of res2..res5 (the AVA models use stride 1 in res5: output stride 16).
    _C.MODEL.SLOWFAST.SPATIAL_STRIDES = [1, 2, 2, 1]
    # Spatial dilation of res2..res5 (the AVA models dilate res5 by 2).
    _C.MODEL.SLOWFAST.SPATIAL_DILATIONS = [1, 1, 1, 2]
    # Max pool 1x3x3 with spatial stride 2 after the stem (as in the reference models).
    _C.MODEL.SLOWFAST.STEM_POOL = True
    # Normalisation: "BN", "FrozenBN" or "SyncBN" (detectron2 names).
    _C.MODEL.SLOWFAST.NORM = "BN"
    # Non-local blocks after these block indices, per stage res2..res5, [slow, fast], e.g.
    # [[[], []], [[], []], [[6, 13, 20], []], [[], []]] for the R101 AVA models.
    _C.MODEL.SLOWFAST.NONLOCAL_LOCATIONS = [[[], []], [[], []], [[], []], [[], []]]
    # Max-pool (T, H, W) applied to keys/values inside each non-local block.
    _C.MODEL.SLOWFAST.NONLOCAL_POOL = [1, 2, 2]
    # Non-local instantiation: "dot_product" or "softmax".
    _C.MODEL.SLOWFAST.NONLOCAL_INSTANTIATION = "dot_product"
    # Initialise the last norm of each residual branch and non-local block to 0 (PySlowFast).
    _C.MODEL.SLOWFAST.ZERO_INIT_FINAL_BN = True
    # Training: keep only each block's input, recompute its activations in backward (saves memory).
    _C.MODEL.SLOWFAST.ACTIVATION_CHECKPOINT = False
    # Fold BatchNorm into the preceding convolution in eval mode (exact up to rounding; faster).
    _C.MODEL.SLOWFAST.FOLD_BN_FOR_INFERENCE = True
    # channels_last_3d features; 1xkxk / kx1x1 convs computed as 2D ones (exact up to rounding).
    _C.MODEL.SLOWFAST.CHANNELS_LAST = True

    _C.MODEL.ROI_ACTION_HEAD = CN()
    # ROIAlign output size (square).
    _C.MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION = 7
    # ROIAlign sampling ratio (0 = adaptive, as in the reference models).
    _C.MODEL.ROI_ACTION_HEAD.POOLER_SAMPLING_RATIO = 0
    # Half-pixel aligned ROIAlign: True in PySlowFast's R50 recipe, False in its Caffe2 models and
    # pytorchvideo.
    _C.MODEL.ROI_ACTION_HEAD.ALIGNED = True
    # Dropout before the classifier.
    _C.MODEL.ROI_ACTION_HEAD.DROPOUT_RATE = 0.5
    # Output activation at test time: "sigmoid" (multi-label AVA) or "softmax".
    _C.MODEL.ROI_ACTION_HEAD.ACT = "sigmoid"
    # Std of the normal initialisation of the classifier weights (bias 0), as PySlowFast.
    _C.MODEL.ROI_ACTION_HEAD.PREDICTOR_INIT_STD = 0.01

    # ------------------------------------------------------------------ input
    # Frames in the Fast pathway (the Slow pathway takes NUM_FRAMES // ALPHA of them).
    _C.INPUT.NUM_FRAMES = 32
    # Stride, in source frames, between two sampled frames of the clip.
    _C.INPUT.SAMPLING_RATE = 2
    # Training: short side is scaled to a random size in [min, max] ...
    _C.INPUT.TRAIN_JITTER_SCALES = [256, 320]
    # ... then a random square crop of this size is taken; 0 keeps the whole resized frame
    # (for data whose people fill much of the frame, where crops would cut away the raised
    # arms and feet that their labels describe).
    _C.INPUT.TRAIN_CROP_SIZE = 224
    # Draw the training short-side size once per batch (all clips of an iteration share it, a
    # function of the stream seed and the iteration) instead of once per clip. Without crops
    # (TRAIN_CROP_SIZE 0) a batch is padded to its largest clip, so per-clip sizes spend
    # convolution work on zeros (1.17x the pixels for 8 clips in [104, 128]).
    _C.INPUT.TRAIN_JITTER_PER_BATCH = False
    # Test: short side scaled to this size, no crop.
    _C.INPUT.TEST_SIZE = 256
    # Probability of a horizontal flip of the whole clip (and boxes) at training.
    _C.INPUT.FLIP_PROB = 0.5
    # Colour jitter (brightness, contrast, saturation) at training; 0 disables it. The mapper
    # draws the factors, the model applies them on its device before normalising.
    _C.INPUT.COLOR_JITTER = 0.0
    # Decode JPEGs at 1/2, 1/4 or 1/8 size when the target is at least that much smaller.
    _C.INPUT.REDUCED_DECODE = True

    # ------------------------------------------------------------------ AVA data
    _C.AVA = CN()
    # Test-time person boxes: predicted boxes with score >= this threshold.
    _C.AVA.DETECTION_SCORE_THRESH = 0.8
    # Training: also use predicted boxes whose IoU with a ground-truth box is > the threshold.
    _C.AVA.TRAIN_USE_PREDICTED_BOXES = False
    # IoU threshold for merging predicted training boxes with ground truth.
    _C.AVA.TRAIN_PREDICTED_BOX_IOU_THRESH = 0.9
    # Evaluator: per-keyframe cap on (box, class) detections; 50 as the official script, 0 = all.
    _C.AVA.EVAL_CAPACITY = 50
    # Evaluator: write per-class AP and precision-recall PNG plots next to the results.
    _C.AVA.EVAL_PLOTS = True
    # Evaluator: detections at keys absent from the ground-truth file: "false-positive" (the
    # 2019 official script, ActivityNet commit 3fee089, AVA v2.1/v2.2) or "ignore" (the 2020
    # script, commit c070fdb and later). Same name as tools/eval_ava.py's option.
    _C.AVA.EVAL_KEYS_ABSENT_FROM_GROUNDTRUTH = "false-positive"
    # Synthetic default datasets (synthetic_ava_*, synthetic_cls_*): generate them under
    # DETECTRON2_DATASETS if they are missing.
    _C.AVA.GENERATE_SYNTHETIC_IF_MISSING = True
    # Clips per batch in the inference loader (build_ava_test_loader).
    _C.AVA.TEST_BATCH_SIZE = 1
    # ------------------------------------------------------------------ test / runtime
    # Run inference (eval mode) under bfloat16 autocast; scores are returned as float32.
    # (Training: Detectron2's SOLVER.AMP.ENABLED, float16 with a gradient scaler on a GPU; on a
    # CPU the model's forward runs under bfloat16 autocast instead: modeling.preprocess.)
    _C.TEST.BF16 = False
    # Optimizer: "SGD" (Detectron2's, used by the AVA recipes) or "AdamW".
    _C.SOLVER.OPTIMIZER = "SGD"
    # NaN/infinite loss (or fp32 gradient): True stops with an error, no checkpoint from that state;
    # False skips the update (counted).
    _C.SOLVER.STOP_ON_NONFINITE_LOSS = True

    # Multigrid training (Wu et al., CVPR 2020; docs/MULTIGRID.md): smaller clips in larger
    # batches (B*T*S^2 constant), the learning rate rescaled. Off when both cycles are off.
    _C.SOLVER.MULTIGRID = CN()
    # Long cycle: stages of (T, S) = factors x (INPUT.NUM_FRAMES, INPUT.TRAIN_CROP_SIZE) within
    # each SOLVER.STEPS interval, then a fine-tuning stage at the default shape.
    _C.SOLVER.MULTIGRID.LONG_CYCLE = False
    # Short cycle: every 3 iterations, crops of SHORT_CYCLE_FACTORS x TRAIN_CROP_SIZE, then the
    # stage's shape.
    _C.SOLVER.MULTIGRID.SHORT_CYCLE = False
    # (frame factor, crop factor) of each long-cycle stage (PySlowFast's defaults).
    _C.SOLVER.MULTIGRID.LONG_CYCLE_FACTORS = [
        [0.25, 0.5**0.5],
        [0.5, 0.5**0.5],
        [0.5, 1.0],
        [1.0, 1.0],
    ]
    # The short cycle's two crop factors of INPUT.TRAIN_CROP_SIZE.
    _C.SOLVER.MULTIGRID.SHORT_CYCLE_FACTORS = [0.5, 0.5**0.5]
    # Samples seen by the multigrid run / by the default run (MAX_ITER x IMS_PER_BATCH).
    _C.SOLVER.MULTIGRID.EPOCH_FACTOR = 1.5
    # BatchNorm statistics over groups of this many clips, whatever the step's batch (sub-batch
    # BN within a process; across processes when one holds fewer); 0: the default step's clips
    # per process (IMS_PER_BATCH / processes), the statistics of standard training.
    _C.SOLVER.MULTIGRID.BN_BASE_SIZE = 0
    # Learning rate x (stage batch / IMS_PER_BATCH) ** this: 1.0 linear scaling (PySlowFast, SGD);
    # 0.5 square-root scaling (adaptive optimizers such as AdamW); 0.0 no scaling.
    _C.SOLVER.MULTIGRID.LR_SCALE_POWER = 1.0
    # A smaller crop: False scales only the short side's lower jitter end (PySlowFast: smaller
    # crops also see less of the frame); True scales both ends (the same view, fewer pixels).
    _C.SOLVER.MULTIGRID.SCALE_JITTER_MAX = False
    add_classification_config(cfg)


def add_classification_config(cfg):
    """Add the keys of the video classifier (``VideoClassifier``: configs/Kinetics,
    configs/Charades) and of its multi-view test to a config, in place (with defaults).

    The classifier shares ``MODEL.SLOWFAST``, ``MODEL.PIXEL_MEAN`` / ``PIXEL_STD`` and ``INPUT``
    with the detector: its head pools over the training clip's feature map (``INPUT.NUM_FRAMES``
    per pathway, ``INPUT.TRAIN_CROP_SIZE`` / the output stride, 32 with res5 stride 2); its test
    views are ``INPUT.TEST_SIZE`` squares.
    """
    _C = cfg

    # ------------------------------------------------------------------ classification
    _C.MODEL.VIDEO_HEAD = CN()
    # Classes K of the classification head (Kinetics-400: 400, Charades: 157).
    _C.MODEL.VIDEO_HEAD.NUM_CLASSES = 400
    # "softmax": single-label, input "label", cross-entropy; "sigmoid": multi-label, "labels", BCE.
    _C.MODEL.VIDEO_HEAD.ACT = "softmax"
    # Dropout before the linear classifier.
    _C.MODEL.VIDEO_HEAD.DROPOUT_RATE = 0.5
    # Std of the normal initialisation of the classifier weights (bias 0), as PySlowFast.
    _C.MODEL.VIDEO_HEAD.PREDICTOR_INIT_STD = 0.01
    # Test views per video: clips evenly spaced in time (PySlowFast's NUM_ENSEMBLE_VIEWS) ...
    _C.TEST.NUM_TEMPORAL_CLIPS = 10
    # ... x square INPUT.TEST_SIZE crops along the long side after resizing the short side to it.
    _C.TEST.NUM_SPATIAL_CROPS = 3
    # How a video's per-view probabilities combine: "mean" (Kinetics) or "max" (Charades).
    _C.TEST.ENSEMBLE_METHOD = "mean"

    # ------------------------------------------------------------------ removed keys
    # An old config that sets one of them stops at the merge with a KeyError saying what to do.
    for key, (instead, note) in _REMOVED_KEYS.items():
        if not _C.key_is_renamed(key):  # add_slowfast_config may run twice on one config
            _C.register_renamed_key(key, instead, note)


# key -> (what replaces it, how): Detectron2's renamed-key error prints both on a merge.
_DEMO_FLAGS = [
    "DETECTOR_CONFIG",
    "DETECTOR_WEIGHTS",
    "DETECTOR_PERSON_CLASS",
    "ACTION_SCORE_THRESH",
    "TOP_K",
    "LABEL_MAP",
    "MIN_OUTPUT_SIZE",
    "TRACKER",
    "TRACK_IOU_THRESH",
    "TRACK_MAX_LOST",
    "SMOOTH_SCORES_OVER",
]
_REMOVED_KEYS = {
    "DEMO": ("tools/demo.py's flags", "DEMO.TOP_K 5 is now --top-k 5 (see tools/demo.py --help)"),
    **{
        f"DEMO.{key}": (
            f"tools/demo.py --{key.lower().replace('_', '-')}",
            "the demo's options are its flags",
        )
        for key in _DEMO_FLAGS
    },
    "AVA.FRAME_SOURCE": (
        "the dataset names in DATASETS.TRAIN / DATASETS.TEST",
        "a dataset's registration decides whether it reads frames or movies; for the movies "
        "name the _video datasets (ava_v2.2_val_video, synthetic_ava_train_video, "
        "<name>_<split>_video of --register-ava)",
    ),
}


def set_cfg_values(cfg, values):
    """Set ``{"MODEL.SLOWFAST.ALPHA": 4, ...}`` on a config in place, values as given (no
    parsing or type coercion, unlike ``merge_from_list``); returns ``cfg``.

    Raises:
        KeyError naming the key when it is not in the config (as ``merge_from_list`` does),
        so that a misspelt key is not silently added.
    """
    for key, value in dict(values).items():
        node = cfg
        *parents, leaf = key.split(".")
        for name in parents:
            if not isinstance(node, CN) or name not in node:
                raise KeyError(f"config key {key!r}: {name!r} not found")
            node = node[name]
        if not isinstance(node, CN) or leaf not in node:
            raise KeyError(f"config key {key!r} not found")
        setattr(node, leaf, value)
    return cfg


def load_slowfast_cfg(config_file=None, opts=(), freeze=True, *, values=None, slowfast_keys=True):
    """The one config builder of the tools, benchmarks and tests: a Detectron2 config from
    its defaults, a file and overrides.

    Steps, in order: Detectron2's ``get_cfg()`` defaults, plus the slowfast_det keys
    (:func:`add_slowfast_config`) unless ``slowfast_keys`` is False (a plain Detectron2
    config, e.g. the person detector's); ``config_file`` merged (none: the defaults);
    ``opts``, a ``[KEY, VALUE, ...]`` list of strings, merged (``merge_from_list``: values
    parsed as YAML); ``MODEL.DEVICE`` set to "cpu" when no GPU is visible; ``values``, a
    ``{"KEY.NAME": value}`` dict, set as given (:func:`set_cfg_values`); frozen if ``freeze``.

    Raises:
        KeyError for a key of ``values`` that the config does not have (yacs' AssertionError
        "Non-existent key" for one of ``opts``).
    """
    cfg = get_cfg()
    if slowfast_keys:
        add_slowfast_config(cfg)
    if config_file:
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    if not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    if values:
        set_cfg_values(cfg, values)
    if freeze:
        cfg.freeze()
    return cfg
