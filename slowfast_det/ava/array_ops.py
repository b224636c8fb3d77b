"""Whole-array building blocks of the vectorised frame-mAP (:mod:`.ava_map`): dense score
ranks, composite-key sorts, compact (video, timestamp) keys, set membership by lookup
table, the per-key capacity cut and the VOC all-points AP."""

import time

import numpy as np

__all__ = [
    "LUT_MAX",
    "Clock",
    "Keys",
    "average_precision",
    "capacity_keep",
    "descending_rank",
    "member",
    "num_distinct",
    "order_by_key_rank_row",
    "rank_within_group",
]

LUT_MAX = 1 << 26  # largest dense lookup table (entries) used instead of a sort / hash


def rank_within_group(sorted_group):
    """For an array sorted by group, each element's position within its group."""
    n = len(sorted_group)
    pos = np.arange(n)
    if n == 0:
        return pos
    start = np.ones(n, dtype=bool)
    start[1:] = sorted_group[1:] != sorted_group[:-1]
    return pos - np.maximum.accumulate(np.where(start, pos, 0))


def descending_rank(score):
    """Dense rank of each score, 0 for the highest (equal scores share a rank)."""
    n = len(score)
    rank = np.empty(n, dtype=np.int64)
    if n == 0:
        return rank
    by_score = np.argsort(score)  # ascending; the dense rank does not depend on tie order
    s = score[by_score]
    new_value = np.empty(n, dtype=bool)
    new_value[0] = False
    np.not_equal(s[1:], s[:-1], out=new_value[1:])
    del s
    ascending = np.cumsum(new_value)
    rank[by_score] = ascending[-1] - ascending
    return rank


def order_by_key_rank_row(key, rank):
    """Indices sorting rows by (key, rank, row index): with rows in file order and ``rank``
    from :func:`descending_rank`, that is (key, score descending, line ascending).

    One integer sort of a composite when it fits in int64 (several times faster than a
    3-key ``np.lexsort``), else ``np.lexsort``.
    """
    n = len(key)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rmin, rmax = int(rank.min()), int(rank.max())
    kmin, kmax = int(key.min()), int(key.max())
    num_ranks = rmax - rmin + 1
    if (kmax - kmin + 1) * num_ranks * n < 2**63 - 1:
        composite = key - kmin
        composite *= num_ranks
        composite += rank
        if rmin:
            composite -= rmin
        composite *= n
        composite += np.arange(n)
        return np.argsort(composite)
    return np.lexsort((np.arange(n), rank, key))


class Keys:
    """(video code, timestamp) -> one compact int64 key space shared by all inputs."""

    def __init__(self, timestamps, num_videos):
        ts = [t for t in timestamps if len(t)]
        self.tmin = min((int(t.min()) for t in ts), default=0)
        span = max((int(t.max()) for t in ts), default=0) - self.tmin + 1
        self.uniq_ts = None
        if num_videos * span > LUT_MAX:  # sparse, huge timestamps: rank them
            self.uniq_ts = np.unique(np.concatenate(ts))
            span = len(self.uniq_ts)
        self.span = span
        self.size = max(1, num_videos * span)

    def __call__(self, video, ts):
        if self.uniq_ts is not None:
            return video * self.span + np.searchsorted(self.uniq_ts, ts)
        return video * self.span + (ts - self.tmin)


def member(keys, members, size):
    """Bool mask: keys[i] in members (ints in [0, size))."""
    if size <= LUT_MAX:
        lut = np.zeros(size, dtype=bool)
        lut[members] = True
        return lut[keys]
    return np.isin(keys, members)


def num_distinct(keys, size):
    if len(keys) == 0:
        return 0
    if size <= LUT_MAX:
        return int(np.count_nonzero(np.bincount(keys, minlength=size)))
    return int(len(np.unique(keys)))


def average_precision(tp_sorted, num_gt):
    """Official ``compute_precision_recall`` + ``compute_average_precision`` (VOC all points).

    Returns (AP, precision, recall).
    """
    n = len(tp_sorted)
    if n == 0:
        return 0.0, np.zeros(0), np.zeros(0)
    cum_tp = np.cumsum(tp_sorted, dtype=np.int64)
    precision = cum_tp.astype(float) / np.arange(1, n + 1)
    recall = cum_tp.astype(float) / num_gt
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    idx = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[idx] - r[idx - 1]) * p[idx])), precision, recall


def capacity_keep(det_key, rank, capacity, size, counts, official=None):
    """Bool mask of the rows kept by the per-key cut (rows in file order): the ``capacity``
    best scores of each key; where the cut falls between equal scores, the rows the official
    heap keeps (``official``: a :class:`~.official_order.KeyOrder` replays those keys; without
    it, the earlier lines)."""
    n = len(det_key)
    keep = np.ones(n, dtype=bool)
    counts["det_rows_over_capacity"] = 0
    if capacity <= 0 or n <= capacity:
        return keep
    if size <= LUT_MAX:
        per_key = np.bincount(det_key, minlength=size)
        crowded = np.flatnonzero(per_key[det_key] > capacity)  # only these keys need ranking
        del per_key
    else:
        crowded = np.arange(n)
    if len(crowded):
        key = det_key[crowded]
        order = order_by_key_rank_row(key, rank[crowded])
        within = rank_within_group(key[order])
        cut = order[within >= capacity]
        keep[crowded[cut]] = False
        if official is not None:
            last = np.flatnonzero(within == capacity)  # the best row cut, after the worst kept
            tie = rank[crowded[order[last]]] == rank[crowded[order[last - 1]]]
            if tie.any():
                rows = official.replay(key[order[last[tie]]])
                keep[rows] = official.position[rows] >= 0
    counts["det_rows_over_capacity"] = int(n - keep.sum())
    return keep


class Clock:
    """Adds the seconds since the previous call to ``timings[stage]`` (no-op without a dict)."""

    def __init__(self, timings):
        self.timings, self.t = timings, time.perf_counter()

    def __call__(self, stage):
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
            self.t = now


def integer_timestamps(*arrays):
    """The timestamp arrays as int64 in one unit: seconds when every value is a whole second
    (AVA), else microseconds (sub-second keyframes: the 2020 official script's key precision;
    the readers have rounded them to the microsecond already)."""
    arrays = [np.asarray(a) for a in arrays]
    if all(a.dtype.kind in "iu" or bool(np.all(a == np.round(a))) for a in arrays):
        return [a.astype(np.int64) for a in arrays]
    return [np.round(a.astype(np.float64) * 1_000_000).astype(np.int64) for a in arrays]
