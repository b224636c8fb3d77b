"""Matching of ranked detections to ground-truth boxes, the official way, in one vectorised pass.

Used by :func:`~slowfast_det.ava.metric.frame_map` (rule 4 of its module docstring): per
(key, class), each detection, in ranking order, takes the ground-truth box of its class with
the highest IoU (the first among equals); a true positive when that IoU >= the threshold and
no earlier detection took the box. IoU in the official operation order, so bit-identical.
"""

import numpy as np

from .array_ops import LUT_MAX

__all__ = ["match_detections"]


def match_detections(
    det_key, d_cls, rows, det_coords, g_kc, g_box, num_keys, ncls, iou_threshold, take_order=None
):
    """True-positive flags of ranked detections.

    Args:
        det_key: (D,) int key code of each detection, in ranking order (class, score desc).
        d_cls: (D,) int class of each detection.
        rows: (D,) int row of each detection in ``det_coords``.
        det_coords: four float64 arrays x1, y1, x2, y2 (of all rows; only ``rows`` are read,
            pair by pair, so no (D, 4) copy is made).
        g_kc: (G,) int ``key * ncls + class`` of each ground-truth box, ascending; equal
            values in the order their boxes are tried (the first of equal IoUs is taken).
        g_box: (G, 4) float64 x1, y1, x2, y2 of the ground-truth boxes, in ``g_kc`` order.
        num_keys: the number of key codes (``det_key`` and ``g_kc // ncls`` are below it).
        ncls: one more than the largest class id.
        iou_threshold: the least IoU of a true positive.
        take_order: (D,) int or None: where detections of one (key, class) have equal
            scores, the official order in which they take boxes (lower first).

    Returns:
        (D,) bool: True for a true positive.
    """
    n_det = len(det_key)
    # ground-truth boxes of each detection's (key, class): g_kc[start : start + n_cand]
    groups, group_start, group_size = np.unique(g_kc, return_index=True, return_counts=True)
    query = det_key * ncls
    query += d_cls
    itype = np.int32 if len(g_kc) < 2**31 else np.int64
    if len(groups) == 0:
        di = start = cnt = np.zeros(0, dtype=np.int64)
    elif num_keys * ncls <= LUT_MAX:  # dense tables: (key, class) -> number of boxes, first box
        lut = np.zeros(num_keys * ncls, dtype=itype)
        lut[groups] = group_size
        n_cand = lut[query]
        di = np.flatnonzero(n_cand)
        cnt = n_cand[di].astype(np.int64)
        del n_cand
        lut[groups] = group_start
        start = lut[query[di]].astype(np.int64)
        del lut
    else:
        pos = np.minimum(np.searchsorted(groups, query), len(groups) - 1)
        di = np.flatnonzero(groups[pos] == query)
        start, cnt = group_start[pos[di]], group_size[pos[di]]
        del pos
    del query
    tp = np.zeros(n_det, dtype=bool)
    if len(di):
        seg = np.cumsum(cnt) - cnt
        total = int(cnt.sum())
        pair_det = np.repeat(di, cnt)
        pair_gt = np.repeat(start - seg, cnt) + np.arange(total)
        # IoU in the official operation order ([y1, x1, y2, x2] boxes)
        pair_row = rows[pair_det]
        dx1, dy1, dx2, dy2 = (coord[pair_row] for coord in det_coords)
        del pair_row
        gx1, gy1, gx2, gy2 = g_box[pair_gt].T
        heights = np.maximum(0.0, np.minimum(dy2, gy2) - np.maximum(dy1, gy1))
        widths = np.maximum(0.0, np.minimum(dx2, gx2) - np.maximum(dx1, gx1))
        inter = heights * widths
        iou = inter / (((dy2 - dy1) * (dx2 - dx1)) + ((gy2 - gy1) * (gx2 - gx1)) - inter)
        del dx1, dy1, dx2, dy2, gx1, gy1, gx2, gy2, heights, widths, inter
        best = np.maximum.reduceat(iou, seg)
        pos = np.arange(total)
        first = np.minimum.reduceat(np.where(iou == np.repeat(best, cnt), pos, total), seg)
        best_gt = pair_gt[first]
        hit = best >= iou_threshold
        cand_det, cand_gt = di[hit], best_gt[hit]
        # A box is taken by the first detection (in score / line order) that picks it.
        if take_order is not None:  # equal scores in one key and class: the key's order
            by_take = np.lexsort((take_order[cand_det], cand_gt))
            cand_det, cand_gt = cand_det[by_take], cand_gt[by_take]
        _, first_pick = np.unique(cand_gt, return_index=True)
        tp[cand_det[first_pick]] = True
    return tp
