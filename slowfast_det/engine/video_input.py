"""Video input for the demo: files, webcams, URLs and pipes, decoded with OpenCV.

:func:`open_video` turns what the user typed into a :class:`VideoSource`:

* a whole number (``0``, ``1``): a webcam index (``cv2.VideoCapture(index)``), live;
* an existing regular file: a video file, decoded as fast as it can be, or, with
  ``realtime``, delivered at the video's own frame rate as if it were live;
* anything else OpenCV can open (an ``rtsp://`` / ``http://`` URL, a named pipe, a
  GStreamer or FFmpeg pipeline string): a live stream.

A source yields ``(frame, wall_time)`` pairs: BGR uint8 frames (H, W, 3) and the
``time.monotonic()`` at which each frame became available (for a realtime file, the time it
is due at its frame rate; for a live source, when it was read).
"""

import logging
import math
import os
import stat
import time

import cv2

__all__ = ["VideoSource", "open_video", "parse_source", "iter_video_frames"]

logger = logging.getLogger(__name__)

# Frame rate assumed for a live source that does not report one (many webcams).
DEFAULT_LIVE_FPS = 30.0


def parse_source(text):
    """A webcam index (int) for a whole number, else the string itself."""
    text = str(text)
    return int(text) if text.strip().isdigit() else text


def _is_regular_file(path):
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class VideoSource:
    """An opened video input.

    Attributes:
        name: what was opened (path, URL or ``"webcam <index>"``).
        fps: frames per second (reported by the container / device; live sources that
            report none are taken as 30 fps, with a warning).
        frame_count: frames the container reports (0 when unknown or live).
        live: frames arrive at the source's own pace (webcam, URL, pipe, realtime file);
            a consumer that falls behind must skip, not queue.
    """

    def __init__(self, capture, name, fps, frame_count, live, paced):
        self._cap = capture
        self.name = name
        self.fps = float(fps)
        self.frame_count = int(frame_count)
        self.live = bool(live)
        self._paced = bool(paced)

    def __iter__(self):
        """Yields ``(frame, wall_time)``; releases the capture at the end."""
        start = None
        i = 0
        try:
            while True:
                ok, frame = self._cap.read()
                if not ok:
                    return
                now = time.monotonic()
                if self._paced:
                    if start is None:
                        start = now
                    due = start + i / self.fps
                    if due > now:
                        time.sleep(due - now)
                        now = due
                i += 1
                yield frame, now
        finally:
            self.release()

    def frames(self):
        """The frames alone (BGR uint8 (H, W, 3))."""
        return (frame for frame, _ in self)

    def release(self):
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_video(source, realtime=False, fps=None):
    """Open a video file, webcam index, URL or pipe (see the module doc).

    Args:
        source: int or str (a digit string is a webcam index).
        realtime: for a file: deliver frames at its frame rate (live); ignored for live
            sources, which are always live.
        fps: override the frame rate the source reports.
    Raises:
        FileNotFoundError for a path that does not exist (and is no URL or pipeline);
        ValueError naming the source when OpenCV cannot open it or a file has no frame rate.
    """
    source = parse_source(source)
    if isinstance(source, int):
        cap, name, is_file = cv2.VideoCapture(source), f"webcam {source}", False
    else:
        is_file = _is_regular_file(source)
        looks_like_path = (
            "://" not in source and "!" not in source and not source.startswith("/dev/")
        )
        if not is_file and looks_like_path and not os.path.exists(source):
            raise FileNotFoundError(
                f"video not found: {source} (not a file, webcam index, URL or pipe)"
            )
        cap, name = cv2.VideoCapture(source), source
    if not cap.isOpened():
        raise ValueError(f"{name}: OpenCV cannot open this video source")
    raw = cap.get(cv2.CAP_PROP_FPS)
    reported = raw if raw and math.isfinite(raw) and raw > 1 else None
    if fps:
        reported = float(fps)
    if reported is None:
        if is_file:
            cap.release()
            raise ValueError(f"{name}: cannot read a frame rate from the video (got {raw!r})")
        logger.warning("%s reports no frame rate; assuming %g fps", name, DEFAULT_LIVE_FPS)
        reported = DEFAULT_LIVE_FPS
    count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0) if is_file else 0
    live = (not is_file) or realtime
    return VideoSource(cap, name, reported, count, live=live, paced=is_file and realtime)


def iter_video_frames(path):
    """Decode a video file with OpenCV, frame by frame.

    Returns:
        (fps, frame count as the container reports it (may be approximate, 0 if unknown),
        iterator over BGR uint8 frames (H, W, 3)).
    Raises:
        FileNotFoundError / ValueError naming the file when it cannot be opened or has no fps.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"video not found: {path}")
    src = open_video(path)
    return src.fps, src.frame_count, src.frames()
