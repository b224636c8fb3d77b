"""The video demo's public names, from the modules that implement them.

The demo is split by job (as detectron2's ``demo/predictor.py`` separates input,
prediction and drawing):

* :mod:`.video_input`: files, webcams, URLs, pipes (:func:`open_video`);
* :mod:`.keyframe_clips`: keyframe clips sampled by time, the streaming ring buffer;
* :mod:`.person_boxes`: :class:`PersonDetector` (Detectron2) and :class:`CSVBoxes`;
* :mod:`.tracking`: person ids across keyframes (``detectron2.tracking``), score smoothing;
* :mod:`.visualize`: :class:`ActionVisualizer`;
* :mod:`.video_output`: video file and window sinks;
* :mod:`.demo_runner` / :mod:`.streaming`: :class:`VideoActionDemo`, file and live;
* :mod:`.demo_options` / :mod:`.demo_results`: its settings and action names, its
  per-keyframe results and persons CSV.
"""

from .demo_options import class_names_from_cfg
from .demo_results import KeyframeResult, write_persons_csv
from .demo_runner import VideoActionDemo
from .keyframe_clips import FrameRing, KeyframeClip, clip_indices, fps_warning, iter_keyframe_clips
from .person_boxes import CSVBoxes, PersonDetector
from .tracking import PersonTracker, ScoreSmoother
from .video_input import VideoSource, iter_video_frames, open_video
from .video_output import DisplayUnavailableError, VideoFileSink, WindowSink
from .visualize import ActionVisualizer

__all__ = [
    "KeyframeClip",
    "iter_video_frames",
    "iter_keyframe_clips",
    "clip_indices",
    "fps_warning",
    "FrameRing",
    "VideoSource",
    "open_video",
    "PersonDetector",
    "CSVBoxes",
    "PersonTracker",
    "ScoreSmoother",
    "ActionVisualizer",
    "VideoFileSink",
    "WindowSink",
    "DisplayUnavailableError",
    "VideoActionDemo",
    "KeyframeResult",
    "class_names_from_cfg",
    "write_persons_csv",
]
