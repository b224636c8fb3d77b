"""The dataset checkers' report: the problem and warning categories and :class:`AVACheckReport`.

Every checker (:func:`~.checker.check_ava_dataset`, :func:`~.checker_video_list.check_video_list`)
adds its findings to an :class:`AVACheckReport`: counts per category, the first examples of
each, per-split facts, hints; ``report.format()`` is what ``tools/check_ava_dataset.py``
prints. Problems (``report.ok`` is False) break or silently degrade training or evaluation;
warnings are what the loader repairs itself (and counts), or reads as given though the user
should look.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from slowfast_det.ava.checks import PIXEL_LIMIT
from slowfast_det.ava.io import FRAME_LIST_HEADER

from .checker_video import VIDEO_PROBLEMS, VIDEO_WARNINGS
from .checker_video_list import VIDEO_LIST_PROBLEMS, VIDEO_LIST_WARNINGS

__all__ = ["AVACheckReport", "PROBLEMS", "WARNINGS"]

#: Problem categories (make the check fail) and what they mean.
PROBLEMS = {
    "missing_file": "required file missing",
    "bad_row": "malformed row (the loader stops with an error)",
    "unknown_label_id": "ground-truth action id outside 1..num_classes",
    "bad_box": "box with x2 < x1 or y2 < y1",
    "boxes_in_pixels": (
        f"box coordinates above {PIXEL_LIMIT:g}: pixels, not normalised to [0, 1] "
        "(divide x by the frame width, y by its height)"
    ),
    "missing_frame": "frame listed in the frame list but not on disk",
    "unreadable_frame": "keyframe image that cannot be decoded",
    "keyframe_outside_video": "keyframe whose frame index is outside the video's frames",
    "video_not_in_frame_list": "annotated video missing from the split's frame list",
    "frame_list_gap": "frame ids missing inside a video's frame list",
    **VIDEO_PROBLEMS,
    **VIDEO_LIST_PROBLEMS,
}
#: Warning categories (reported; the loader repairs and counts them).
WARNINGS = {
    "box_out_of_range": "box coordinates outside [0, 1] (clipped when loading)",
    "repeated_groundtruth_row": (
        "ground-truth row repeated exactly (the evaluator counts each copy as a box to find: "
        "two copies halve its recall)"
    ),
    "frame_list_without_header": (
        f"frame list whose line 1 is a frame, not the header {FRAME_LIST_HEADER!r} "
        "(read as a frame here; PySlowFast skips line 1)"
    ),
    "frame_list_path_mismatch": "frame path not inside a folder named after its video",
    "video_without_annotations": "frame-list video with no annotated keyframe",
    "predicted_boxes_missing": (
        "no person proposals for an evaluation split yet: make them with tools/detect_persons.py "
        "(evaluation and inference need them)"
    ),
    **VIDEO_WARNINGS,
    **VIDEO_LIST_WARNINGS,
}


@dataclass
class AVACheckReport:
    """Counts per problem / warning category, the first examples of each, per-split facts."""

    root: str
    max_examples: int = 5
    problems: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=lambda: defaultdict(list))
    info: dict = field(default_factory=dict)
    title: str = "AVA dataset check"
    #: what to do about the problems found, printed after them
    hints: list = field(default_factory=list)

    @property
    def ok(self):
        """True when no problem was found (warnings allowed)."""
        return not any(self.problems.values())

    def add(self, category, example=None, count=1):
        if category in PROBLEMS:
            self.problems[category] += count
        elif category in WARNINGS:
            self.warnings[category] += count
        else:
            raise KeyError(f"unknown check category {category!r}")
        if example is not None and len(self.examples[category]) < self.max_examples:
            self.examples[category].append(example)

    def format(self):
        lines = [f"{self.title}: {self.root}"]
        for split, facts in self.info.items():
            lines.append(
                f"  {split}: "
                + ", ".join(
                    f"{k} {v}" if isinstance(v, str) else f"{v} {k}" for k, v in facts.items()
                )
            )
        for title, counts, meaning in (
            ("Problems", self.problems, PROBLEMS),
            ("Warnings", self.warnings, WARNINGS),
        ):
            cats = [c for c in meaning if counts.get(c)]
            if not cats:
                continue
            lines.append(f"{title}:")
            for c in cats:
                lines.append(f"  {c}: {counts[c]} ({meaning[c]})")
                lines.extend(f"    {e}" for e in self.examples.get(c, []))
        lines.extend(f"Hint: {h}" for h in self.hints)
        n = sum(1 for v in self.problems.values() if v)
        w = sum(1 for v in self.warnings.values() if v)
        if not self.ok:
            lines.append(f"Result: FAILED ({n} problem categories)")
        else:
            lines.append(
                f"Result: OK with warnings ({w} warning categories, see above)"
                if w
                else "Result: OK"
            )
        return "\n".join(lines)

    __str__ = format
