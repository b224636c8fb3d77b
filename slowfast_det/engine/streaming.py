"""The streaming demo loop: live frames in, bounded lag, bounded memory.

Two threads share a :class:`~slowfast_det.engine.keyframe_clips.FrameRing`:

* the *capture* thread (the caller's, so that windows work) reads the source, puts each
  frame in the ring, and sends it to the sinks drawn with the newest finished keyframe's
  boxes and labels; it never waits for inference;
* the *inference* worker takes the newest keyframe whose clip is complete, scores it, and
  publishes its drawing. Keyframes that completed while it was busy are skipped whole
  (counted), so the work never queues: the lag of a result is at most about one
  inference time plus one keyframe interval, whatever the length of the stream.

The ring holds one clip span plus one second of frames; nothing else grows with the
stream except the results kept for the CSVs (one small row set per processed keyframe).

Lag of a keyframe: the wall time from the arrival of the newest frame its clip needs to
the moment its result is ready (``time.monotonic()`` seconds). While the source is live it
is at most one inference time plus the smaller of one inference time and one keyframe
interval. The keyframe scored after the source has ended (the tail of a file) has no newer
keyframe to replace it while it waits, so its lag (up to two inference times) is reported
apart (``lag_after_end_s``).
"""

import logging
import threading
import time

import numpy as np

from .keyframe_clips import FrameRing

__all__ = ["StreamingLoop"]

logger = logging.getLogger(__name__)


class StreamingLoop:
    """Run a :class:`~slowfast_det.engine.demo_runner.VideoActionDemo` on a live source.

    Args:
        demo: the ``VideoActionDemo`` (its ``process``, ``visualizer``, clip settings).
        persons: ``(keyframe clip) -> (boxes, scores)``.
        video_id: id for the CSV rows.
        progress: log a status line about every 10 s of video.
    """

    def __init__(self, demo, persons, video_id, progress=True):
        self.demo = demo
        self.persons = persons
        self.video_id = video_id
        self.progress = progress

    def run(self, source, sinks, results, persons_rows, max_seconds=None):
        """Consume ``source`` until it ends (or ``max_seconds`` of video, or a sink asks to stop).

        Appends to ``results`` / ``persons_rows`` (the CSV rows of processed keyframes).
        Returns the stats dict (see :meth:`VideoActionDemo.run_stream`).
        """
        demo = self.demo
        ring = FrameRing(source.fps, demo.num_frames, demo.sampling_rate)
        cond = threading.Condition()
        shared = {"done": False, "layer": None, "error": None}
        stats = {
            "frames": 0,
            "keyframes": 0,
            "persons": 0,
            "keyframes_skipped": 0,
            "ring_frames": ring.capacity,
        }
        lags, final_lags, process_s = [], [], []
        state = demo.new_video_state()

        def worker():
            last = -1
            try:
                while True:
                    with cond:
                        while True:
                            t = ring.latest_complete(final=shared["done"])
                            if t is not None and t > last:
                                break
                            if shared["done"]:
                                return
                            cond.wait(0.5)
                        kc = ring.clip(t)  # copies the frames out of the ring
                        live = not shared["done"]
                    stats["keyframes_skipped"] += t - last - 1
                    last = t
                    begun = time.monotonic()
                    result = demo.process(kc, self.persons, state)
                    lag = time.monotonic() - kc.frame_time
                    process_s.append(time.monotonic() - begun)
                    # after the source ended, the last keyframe waits for the one in work
                    # (no newer keyframe can replace it): its lag is reported on its own
                    (lags if live else final_lags).append(lag)
                    demo.record(result, self.video_id, kc.keyframe.shape[:2], results, persons_rows)
                    stats["keyframes"] += 1
                    stats["persons"] += len(result.boxes)
                    with cond:
                        shared["layer"] = result.layer
                        shared["size"] = kc.keyframe.shape[:2]
            except BaseException as e:  # reported by the capture thread
                shared["error"] = e
                with cond:
                    shared["done"] = True

        thread = threading.Thread(target=worker, name="slowfast_det-inference", daemon=True)
        start = time.perf_counter()
        thread.start()
        next_report = 10.0
        stopped = False
        try:
            for frame, wall_time in source:
                with cond:
                    if shared["error"] is not None:
                        break
                    ring.append(frame, wall_time)
                    layer = shared["layer"]
                    if layer is not None and shared["size"] != frame.shape[:2]:
                        layer = None
                    cond.notify()
                stats["frames"] += 1
                if sinks:
                    out = demo.visualizer.compose(frame, layer)
                    for sink in sinks:
                        if not sink.write(out):
                            stopped = True
                video_time = stats["frames"] / source.fps
                if self.progress and video_time >= next_report:
                    next_report += 10.0
                    logger.info(
                        "%s: %.0f s of video, %d keyframes scored, %d skipped, last lag %.2f s",
                        source.name,
                        video_time,
                        stats["keyframes"],
                        stats["keyframes_skipped"],
                        lags[-1] if lags else float("nan"),
                    )
                if stopped or (max_seconds is not None and video_time >= max_seconds):
                    break
        finally:
            with cond:
                shared["done"] = True
                cond.notify()
            thread.join()
            release = getattr(source, "release", None)
            if release is not None:
                release()
        if shared["error"] is not None:
            raise shared["error"]
        seconds = time.perf_counter() - start
        total = stats["keyframes"] + stats["keyframes_skipped"]
        stats.update(
            seconds=seconds,
            fps=stats["frames"] / seconds if seconds else 0.0,
            lag_mean_s=float(np.mean(lags)) if lags else float("nan"),
            lag_max_s=float(np.max(lags)) if lags else float("nan"),
            lag_after_end_s=float(np.max(final_lags)) if final_lags else float("nan"),
            skipped_share=stats["keyframes_skipped"] / total if total else 0.0,
            process_mean_s=float(np.mean(process_s)) if process_s else float("nan"),
            process_max_s=float(np.max(process_s)) if process_s else float("nan"),
            stopped_by_user=stopped,
        )
        return stats
