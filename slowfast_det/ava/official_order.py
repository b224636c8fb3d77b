"""The official evaluator's order among equal scores, for the vectorised frame-mAP.

The official ``read_csv`` keeps, per image key, a ``heapq`` heap of the tuples ``(score,
action_id, y1, x1, y2, x2)`` of the rows of evaluated classes, in file order (with a
capacity: a row enters a full heap only with a score above the heap's smallest, and pushes
out the smallest tuple), then lists them with ``sorted(key=-score)``, which is stable: among
equal scores, the key's order is the order in the heap's array. That order decides which
detections survive a capacity cut that falls inside a run of equal scores, which of two
equal-score detections of a class takes a ground-truth box first, and the order of equal
person ids among ground-truth boxes (the first of equal IoUs is taken). It is deterministic,
so it is reproduced exactly: :class:`KeyOrder` replays the heap of only the keys where
equal scores meet (each once, cached), the other keys are ordered by score alone.

The per-class ranking is ``np.argsort(scores)[::-1]`` over the detections concatenated key
by key (keys in the order of their first row in the file, each key in the order above).
With a stable sort that puts equal scores in the reverse of that concatenation order
(later keys first; within a key, the later position first). numpy's default sort is stable
on small arrays and gives no defined order on large ones, so the official value is defined
only where the order of equal scores makes no difference or where the sort was stable; on
all of those inputs the stable order gives the official value. :func:`break_ties` puts the
equal scores of the ranking in that order, and says in which order detections of one key
and class take boxes (the key's order).
"""

import heapq

import numpy as np

from . import array_ops
from .array_ops import member

__all__ = ["KeyOrder", "break_ties", "key_order", "order_groundtruth"]


class _Row:
    """A row index riding in a heap tuple; it never decides a comparison, so tuples equal in
    the official fields compare as the official tuples do (neither is smaller)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __lt__(self, other):
        return False


def key_order(score, action, y1, x1, y2, x2, capacity):
    """One key's rows (lists, in file order) -> indices of the rows the official reader
    keeps, in its order (best first). ``capacity`` <= 0 keeps all."""
    heap = []
    for i, item in enumerate(zip(score, action, y1, x1, y2, x2)):
        if capacity < 1 or len(heap) < capacity:
            heapq.heappush(heap, (*item, _Row(i)))
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, (*item, _Row(i)))
    heap.sort(key=lambda entry: -entry[0])  # stable, as the official sorted()
    return [entry[-1].index for entry in heap]


class KeyOrder:
    """The official order of the rows of chosen keys (see the module doc).

    Args:
        key: int64 key per row (rows of the evaluated classes, in file order).
        score, action, x1, y1, x2, y2: the rows' values (score: detection score, or the
            person id of ground truth; no NaN).
        capacity: the reader's per-key cap (<= 0: all).
        size: keys lie in [0, size) (for :func:`~.array_ops.member`).

    Attributes:
        position: int64 per row: its place in its key's official order, -1 when the cap
            drops it or its key was not replayed (see ``replayed``).
        replayed: bool per row: its key was replayed.
    """

    def __init__(self, key, score, action, x1, y1, x2, y2, capacity, size):
        self.key, self.size, self.capacity = key, size, capacity
        self.values = (score, action, y1, x1, y2, x2)  # the official tuple's order
        self.position = np.full(len(key), -1, dtype=np.int64)
        self.replayed = np.zeros(len(key), dtype=bool)
        self._first = None

    def replay(self, keys):
        """Replay the heaps of ``keys`` (those not replayed yet); returns the rows of all
        ``keys`` in file order."""
        keys = np.unique(keys)
        rows = np.flatnonzero(member(self.key, keys, self.size))
        todo = rows[~self.replayed[rows]]
        if len(todo):
            todo = todo[np.argsort(self.key[todo], kind="stable")]
            starts = np.flatnonzero(np.r_[True, self.key[todo][1:] != self.key[todo][:-1]])
            for group in np.split(todo, starts[1:]):
                vals = [v[group].tolist() for v in self.values]
                kept = key_order(*vals, self.capacity)
                self.position[group[kept]] = np.arange(len(kept))
            self.replayed[todo] = True
        return rows

    def first_rows(self, keys):
        """Index of the first row (in file order) of each of ``keys``."""
        if self.size <= array_ops.LUT_MAX:  # one table of every key's first row
            if self._first is None:
                self._first = np.full(self.size, len(self.key), dtype=np.int64)
                np.minimum.at(self._first, self.key, np.arange(len(self.key)))
            return self._first[keys]
        uniq, inverse = np.unique(keys, return_inverse=True)
        rows = np.flatnonzero(member(self.key, uniq, self.size))
        _, first = np.unique(self.key[rows], return_index=True)  # sorted like uniq
        return rows[first][inverse]


def _argsort_by(*columns):
    """Indices sorting by ``columns`` (non-negative int arrays, first column first, each
    with its exclusive upper bound as ``(array, bound)``): one int64 sort of a composite
    when it fits, else ``np.lexsort``."""
    total = 1
    for _, bound in columns:
        total *= max(int(bound), 1)
    if total < 2**62:
        composite = np.zeros(len(columns[0][0]), dtype=np.int64)
        for values, bound in columns:
            composite *= max(int(bound), 1)
            composite += values
        return np.argsort(composite)
    return np.lexsort([values for values, _ in columns[::-1]])


def _runs(*arrays):
    """Start of each run of equal consecutive tuples of ``arrays`` (bool per position)."""
    n = len(arrays[0])
    start = np.ones(n, dtype=bool)
    if n > 1:
        same = np.ones(n - 1, dtype=bool)
        for a in arrays:
            same &= a[1:] == a[:-1]
        start[1:] = ~same
    return start


def break_ties(rows, cls, rank, key, order, coords):
    """The official order of the equal scores of a per-class ranking.

    Args:
        rows: detection rows (indices into ``order``'s rows), ranked by (class, score
            descending), any order among equal scores.
        cls, rank: class and dense score rank (0 = best) of ``rows``.
        key: key of ``rows``.
        order: :class:`KeyOrder` of all detection rows of the evaluated classes.
        coords: (x1, y1, x2, y2) arrays of all rows (``rows`` index them; to find
            repeated rows).

    Returns:
        (perm, take_order, repeats): ``rows[perm]`` is the official ranking (equal scores in
        the reverse of the official concatenation order); ``take_order`` (None when no two
        rows of one key and class have equal scores) is, per position of that ranking, a
        number that orders the detections of one key and class as they take boxes;
        ``repeats``: (count, position, position of the row it repeats) of detections equal
        to another of the same key in class, score and box (positions in the new ranking;
        count 0 and None without repeats).
    """
    n = len(rows)
    perm = np.arange(n)
    run_start = _runs(cls, rank)
    tied = ~run_start
    tied[:-1] |= ~run_start[1:]
    pos = np.flatnonzero(tied)
    if len(pos) == 0:
        return perm, None, (0, None, None)
    run = np.cumsum(run_start[pos]) - 1  # every position of a run of equal scores is in pos
    num_runs = int(run[-1]) + 1
    k = key[pos]
    by_key = _argsort_by((run, num_runs), (k, order.size))  # same-key rows of a run side by side
    dup = _runs(run[by_key], k[by_key])
    shared = ~dup
    shared[:-1] |= ~dup[1:]
    shared_keys = k[by_key][shared]  # keys with two equal-score rows of one class
    if len(shared_keys):
        order.replay(shared_keys)
    first = order.first_rows(k)
    within = np.where(order.replayed[rows[pos]], order.position[rows[pos]], 0)
    last = len(order.key)
    width = int(within.max()) + 1
    # (run, first row descending, position descending): unique, so any sort gives this order;
    # runs stay in place as they are contiguous
    new = pos[_argsort_by((run, num_runs), (last - first, last + 1), (width - 1 - within, width))]
    perm[pos] = new
    take_order = repeats = None
    if len(shared_keys):
        # take order: within a (key, class, score) segment the key's order, i.e. reversed
        take_order = np.arange(n)
        seg_start = _runs(run, key[new])
        seg_id = np.cumsum(seg_start) - 1
        starts = pos[seg_start]
        ends = np.r_[pos[np.flatnonzero(seg_start)[1:] - 1], pos[-1]]
        take_order[pos] = starts[seg_id] + ends[seg_id] - pos
        repeats = _repeats(pos, seg_id, rows[new], [c[rows[new]] for c in coords])
    return perm, take_order, repeats or (0, None, None)


def order_groundtruth(g_order, key, cls, pid, order):
    """``g_order`` (ground-truth rows by key, class, person id descending, then any order)
    with equal person ids of one key and class in the official order (``order``: the
    :class:`KeyOrder` of the ground-truth rows, capacity 0)."""
    start = _runs(key[g_order], cls[g_order], pid[g_order])
    tied = ~start
    tied[:-1] |= ~start[1:]
    pos = np.flatnonzero(tied)
    if len(pos) == 0:
        return g_order
    order.replay(key[g_order[pos]])
    group = np.cumsum(start)[pos]
    out = g_order.copy()
    out[pos] = g_order[pos[np.lexsort((order.position[g_order[pos]], group))]]
    return out


def _repeats(pos, seg_id, rows, coords):
    """Rows equal to an earlier row (file order) of their segment in box: (count, ranking
    position of the first repeat, position of the row it repeats)."""
    order = np.lexsort((rows, *coords[::-1], seg_id))
    first_of = _runs(seg_id[order], *(c[order] for c in coords))
    if first_of.all():
        return None
    group = np.cumsum(first_of) - 1
    head = order[first_of][group]  # per sorted position: the group's earliest row
    repeat = np.flatnonzero(~first_of)
    i = repeat[np.argmin(rows[order[repeat]])]
    return int(len(repeat)), int(pos[order[i]]), int(pos[head[i]])
