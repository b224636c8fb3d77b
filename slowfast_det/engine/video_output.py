"""Where the demo's drawn frames go: a video file and/or a window.

A sink has ``write(frame) -> bool`` (False: the user asked to stop) and
``close(complete)``.
"""

import logging
import os
import sys

import cv2

__all__ = ["VideoFileSink", "WindowSink", "DisplayUnavailableError", "partial_path"]

logger = logging.getLogger(__name__)


def partial_path(path):
    """``<root>.partial<ext>``: where a file is written before it is complete."""
    root, ext = os.path.splitext(path)
    return f"{root}.partial{ext}"


class VideoFileSink:
    """An mp4v video written to ``<path>.partial.<ext>`` and renamed to ``path`` when complete.

    The writer opens on the first frame (its size); ``close(False)`` removes the partial file.
    """

    def __init__(self, path, fps):
        self.path = path
        self.fps = float(fps)
        self.tmp = partial_path(path)
        self._writer = None
        self.frames = 0
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self, frame):
        if self._writer is None:
            self._writer = cv2.VideoWriter(
                self.tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, frame.shape[1::-1]
            )
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot write this video (mp4v codec)")
        self._writer.write(frame)
        self.frames += 1
        return True

    def close(self, complete=True):
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if complete and self.frames:
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)


class DisplayUnavailableError(RuntimeError):
    """``--show`` where no window can be opened."""


def _check_display():
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise DisplayUnavailableError(
            "--show needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set (e.g. an SSH "
            "session or a container); write the video with --output instead, or run where a "
            "desktop is"
        )


class WindowSink:
    """Frames shown in an OpenCV window (``cv2.imshow``); ``q`` or Esc asks to stop.

    Raises:
        DisplayUnavailableError: no display, or an OpenCV built without GUI support
            (``opencv-python-headless``).
    """

    def __init__(self, title="slowfast_det demo"):
        _check_display()
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as e:
            raise DisplayUnavailableError(
                "--show: this OpenCV cannot open windows "
                f"({str(e).strip().splitlines()[-1]}); it is probably opencv-python-headless: "
                "install opencv-python for --show, or write the video with --output"
            ) from None

    def write(self, frame):
        cv2.imshow(self.title, frame)
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def close(self, complete=True):
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass
