"""Drawing of person boxes, track ids and top actions, with detectron2's ``Visualizer``.

Labels are placed so that each stays readable: a label goes above its box (inside the
box's top when there is no room above) and, when it would cover a label already placed,
moves down (or up) past it. The boxes are drawn by ``Visualizer.overlay_instances``, the
labels by ``Visualizer.draw_text``; their extents are measured by matplotlib.
"""

import cv2
import numpy as np
from detectron2.utils.colormap import colormap
from detectron2.utils.visualizer import Visualizer
from matplotlib.backend_bases import FigureCanvasBase

__all__ = ["ActionVisualizer", "place_label"]

# space around a measured text extent that its background patch covers, in pixels
_LABEL_PAD = 2.0


def _overlaps(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_label(box, size, placed, height, width):
    """Top-left corner of a label of ``size`` (w, h) for ``box`` (x1, y1, x2, y2), clear
    of the rectangles in ``placed`` where the frame leaves room.

    Tries above the box (inside its top when above is off the frame), then moves down past
    the labels it would cover, then up from the first try; if neither fits in the frame,
    the downward position clamped to the frame.
    Returns:
        (x, y) in pixels.
    """
    w, h = size
    x = float(min(max(box[0], 0.0), max(width - w, 0.0)))
    y0 = float(box[1] - h if box[1] - h >= 0 else max(box[1], 0.0))
    y0 = min(y0, max(height - h, 0.0))

    def sweep(y, down):
        for _ in range(len(placed) + 1):
            hits = [r for r in placed if _overlaps((x, y, x + w, y + h), r)]
            if not hits:
                return y
            y = max(r[3] for r in hits) + 1.0 if down else min(r[1] for r in hits) - h - 1.0
            if y < 0 or y + h > height:
                return None
        return None

    for down in (True, False):
        y = sweep(y0, down)
        if y is not None:
            return x, y
    return x, y0


class ActionVisualizer:
    """Turn per-box action scores into labels and draw them with detectron2's ``Visualizer``.

    Args:
        class_names: dict action id -> name; when given, only these ids are shown (the
            evaluated classes); when empty, every id, named ``"action <id>"``.
        score_thresh: show actions with score >= this.
        top_k: at most this many actions per person, best first.
        min_size: drawn frames are upscaled to at least this short side.
    """

    def __init__(self, class_names=None, score_thresh=0.5, top_k=3, min_size=0):
        self.class_names = dict(class_names or {})
        self.score_thresh = float(score_thresh)
        self.top_k = int(top_k)
        self.min_size = int(min_size)

    def actions(self, scores):
        """Per box, the shown actions: list (R) of [(action_id, score), ...] best first.

        Args:
            scores: (R, K) probabilities, column k = action id k+1.
        """
        scores = np.asarray(scores, dtype=np.float64)
        out = []
        for row in scores:
            ids = np.argsort(-row, kind="stable") + 1
            kept = [
                (int(a), float(row[a - 1]))
                for a in ids
                if row[a - 1] >= self.score_thresh
                and (not self.class_names or int(a) in self.class_names)
            ]
            out.append(kept)
        return out

    def label(self, actions, track_id=None):
        """Text for one box: ``#<track id>`` (when tracked), then the top-k actions as
        ``name score`` lines."""
        lines = [f"#{track_id}"] if track_id is not None else []
        lines += [
            f"{self.class_names.get(a, f'action {a}')} {s:.2f}" for a, s in actions[: self.top_k]
        ]
        return "\n".join(lines)

    def output_size(self, height, width):
        """(H', W') of drawn frames: the frame upscaled to a short side of ``min_size`` if
        smaller."""
        s = max(1.0, self.min_size / min(height, width))
        return int(round(height * s)), int(round(width * s))

    def _render(self, background, boxes, labels):
        """detectron2's Visualizer drawing of boxes and labels on a BGR background."""
        return self._draw(background, boxes, labels)[0]

    def label_rects(self, height, width, boxes, labels):
        """The label rectangles (x1, y1, x2, y2) in output pixels that :meth:`draw` uses on a
        frame of (height, width), one per non-empty label."""
        out_h, out_w = self.output_size(height, width)
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * np.array(
            [out_w / width, out_h / height] * 2, np.float32
        )
        return self._draw(np.zeros((out_h, out_w, 3), np.uint8), boxes, labels)[1]

    def _draw(self, background, boxes, labels):
        colors = colormap(rgb=True, maximum=1)
        height, width = background.shape[:2]
        vis = Visualizer(background[:, :, ::-1])
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        box_colors = [colors[i % len(colors)] for i in range(len(boxes))]
        vis.overlay_instances(boxes=boxes, assigned_colors=box_colors)
        font_size = max(np.sqrt(height * width) // 90, 10)
        renderer = vis.output.canvas.get_renderer()
        placed = []
        for box, text, color in zip(boxes, labels, box_colors):
            if not text:
                continue
            vis.draw_text(
                text, (0, 0), font_size=font_size, color=color, horizontal_alignment="left"
            )
            artist = vis.output.ax.texts[-1]
            extent = artist.get_window_extent(renderer=renderer)
            size = (extent.width + 2 * _LABEL_PAD, extent.height + 2 * _LABEL_PAD)
            x, y = place_label(box, size, placed, height, width)
            artist.set_position((x + _LABEL_PAD, y + _LABEL_PAD))
            placed.append((x, y, x + size[0], y + size[1]))
        image = vis.output.get_image()[:, :, ::-1]
        # A matplotlib figure is a reference cycle (figure, canvas, axes, artists) that only
        # the cyclic GC frees; a full collection costs ~0.5 s with torch loaded, so on long
        # streams the figures and their Agg buffers (~1 MB each) piled up. Clearing the
        # figure and giving it a bare canvas frees the artists, the image and the renderer
        # now, by reference counting.
        vis.output.fig.clear()
        FigureCanvasBase(vis.output.fig)
        return image, placed

    def overlay(self, height, width, boxes, labels):
        """The drawing of boxes and labels as a layer to put on any frame of size (height, width).

        The Visualizer draws once on black and once on white; the two images give the
        drawing's colour (premultiplied by its opacity) and opacity per pixel, so that
        :meth:`compose` reproduces drawing on the frame itself (up to 8-bit rounding) while
        the frames of a keyframe's segment share one drawing.

        Args:
            boxes: (R, 4) in pixels of (height, width).
        Returns:
            (flat indices (P,) of the pixels the drawing covers in the (H', W') output,
            their premultiplied BGR colour float32 (P, 3), their transparency float32 (P, 1)),
            or None when there is no box.
        """
        if len(boxes) == 0:
            return None
        out_h, out_w = self.output_size(height, width)
        boxes = np.asarray(boxes, dtype=np.float32) * np.array(
            [out_w / width, out_h / height] * 2, dtype=np.float32
        )
        on_black = self._render(np.zeros((out_h, out_w, 3), np.uint8), boxes, labels).reshape(-1, 3)
        on_white = self._render(np.full((out_h, out_w, 3), 255, np.uint8), boxes, labels).reshape(
            -1, 3
        )
        transparency = (on_white.astype(np.float32) - on_black).mean(axis=1, keepdims=True) / 255.0
        covered = np.flatnonzero(transparency[:, 0] < 1.0)
        return (
            covered,
            on_black[covered].astype(np.float32),
            np.clip(transparency[covered], 0.0, 1.0),
        )

    def compose(self, frame, layer):
        """A BGR uint8 frame (H, W, 3), resized to :meth:`output_size`, under an :meth:`overlay`
        layer."""
        h, w = frame.shape[:2]
        out_h, out_w = self.output_size(h, w)
        if (out_h, out_w) != (h, w):
            frame = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        if layer is None:
            return frame
        covered, color, transparency = layer
        out = np.ascontiguousarray(frame).copy()
        flat = out.reshape(-1, 3)
        flat[covered] = np.clip(color + transparency * flat[covered] + 0.5, 0, 255).astype(np.uint8)
        return out

    def draw(self, frame, boxes, labels):
        """Draw boxes (R, 4) in pixels of a BGR uint8 ``frame`` (H, W, 3) and their labels.

        Returns:
            BGR uint8 (H', W', 3), see :meth:`output_size`.
        """
        return self.compose(frame, self.overlay(frame.shape[0], frame.shape[1], boxes, labels))
