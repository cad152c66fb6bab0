"""Intersections of all same-frame mask pairs of a sequence, straight from COCO compressed RLE strings (numba).

Each string is parsed once into runs of foreground pixels (column-major) with the decoder of pycocotools'
``rleFrString``; masks of the same frame whose pixel ranges overlap are then intersected by a merge of their
run lists. One compiled call per sequence replaces thousands of small pycocotools calls and their per-call
Python overhead; the integers are the same, so IoU = I / (A + B - I) is bit-identical to ``pycocotools.iou``.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _parse_runs(buf, starts, lengths, run_ptr, run_s, run_e):
    """Fill run_s/run_e with the foreground runs of every string; run_ptr[i]:run_ptr[i+1] are string i's."""
    k = 0
    cnts = np.zeros(2, np.int64)  # the last two counts (delta coding refers to the count two back)
    for i in range(len(starts)):
        run_ptr[i] = k
        p = starts[i]
        end = p + lengths[i]
        m = 0
        pos = 0
        while p < end:
            x = 0
            shift = 0
            more = True
            while more and p < end:
                c = np.int64(buf[p]) - 48
                x |= (c & 0x1F) << shift
                more = (c & 0x20) != 0
                p += 1
                shift += 5
                if not more and (c & 0x10) != 0:
                    x |= np.int64(-1) << shift
            if m > 2:
                x += cnts[m % 2]
            x &= 0xFFFFFFFF  # counts are uint32 in pycocotools
            cnts[m % 2] = x
            if m % 2 == 1 and x > 0:
                run_s[k] = pos
                run_e[k] = pos + x
                k += 1
            pos += x
            m += 1
    run_ptr[len(starts)] = k


@numba.njit(cache=True, nogil=True)
def _first_run_ending_after(run_e, lo, hi, pos):
    """Index in [lo, hi) of the first run whose end is > pos (binary search)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if run_e[mid] <= pos:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def _intersect(run_s, run_e, a0, a1, b0, b1):
    lo = max(run_s[a0], run_s[b0])
    hi = min(run_e[a1 - 1], run_e[b1 - 1])
    i = _first_run_ending_after(run_e, a0, a1, lo)
    j = _first_run_ending_after(run_e, b0, b1, lo)
    total = 0
    while i < a1 and j < b1 and run_s[i] < hi and run_s[j] < hi:
        s = max(run_s[i], run_s[j])
        e = min(run_e[i], run_e[j])
        if e > s:
            total += e - s
        if run_e[i] < run_e[j]:
            i += 1
        else:
            j += 1
    return total


@numba.njit(cache=True, nogil=True)
def _pair_intersections(order, group_ptr, run_ptr, run_s, run_e):
    cap = 1024
    out_a = np.empty(cap, np.int64)
    out_b = np.empty(cap, np.int64)
    out_i = np.empty(cap, np.int64)
    n = 0
    for g in range(len(group_ptr) - 1):
        for x in range(group_ptr[g], group_ptr[g + 1]):
            a = order[x]
            a0, a1 = run_ptr[a], run_ptr[a + 1]
            if a0 == a1:
                continue
            for y in range(x + 1, group_ptr[g + 1]):
                b = order[y]
                b0, b1 = run_ptr[b], run_ptr[b + 1]
                if b0 == b1 or run_e[a1 - 1] <= run_s[b0] or run_e[b1 - 1] <= run_s[a0]:
                    continue
                inter = _intersect(run_s, run_e, a0, a1, b0, b1)
                if inter > 0:
                    if n == cap:
                        cap *= 2
                        out_a = np.concatenate((out_a, np.empty(cap - n, np.int64)))
                        out_b = np.concatenate((out_b, np.empty(cap - n, np.int64)))
                        out_i = np.concatenate((out_i, np.empty(cap - n, np.int64)))
                    out_a[n] = a
                    out_b[n] = b
                    out_i[n] = inter
                    n += 1
    return out_a[:n], out_b[:n], out_i[:n]


def pair_intersections(counts: list[bytes], frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(a, b, pixels)`` with a < b for every pair of masks in the same frame that share pixels.

    ``counts`` are COCO compressed RLE strings of one image size, ``frames`` their frame numbers.
    """
    n = len(counts)
    if n < 2:
        z = np.zeros(0, np.int64)
        return z, z.copy(), z.copy()
    lengths = np.fromiter(map(len, counts), np.int64, n)
    buf = np.frombuffer(b"".join(counts), np.uint8)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    capacity = len(buf) // 2 + n + 1  # a run needs at least two count characters
    run_ptr = np.empty(n + 1, np.int64)
    run_s = np.empty(capacity, np.int64)
    run_e = np.empty(capacity, np.int64)
    _parse_runs(buf, starts, lengths, run_ptr, run_s, run_e)
    order = np.argsort(frames, kind="stable").astype(np.int64)
    f = np.asarray(frames)[order]
    group_ptr = np.r_[0, np.flatnonzero(f[1:] != f[:-1]) + 1, n].astype(np.int64)
    a, b, inter = _pair_intersections(order, group_ptr, run_ptr, run_s, run_e)
    swap = a > b
    a[swap], b[swap] = b[swap], a[swap]
    return a, b, inter
