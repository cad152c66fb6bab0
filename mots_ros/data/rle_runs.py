"""Numba kernels on the runs of COCO compressed RLE strings: nothing is decoded to pixels.

Strings are validated once where they are read (:func:`check_strings`: the characters, counts and total of
pycocotools' ``rleFrString`` decoder, and the areas). Each string is parsed once into runs of foreground pixels
(column-major) with the same decoder. On the runs: the intersections of all same-frame mask pairs of a sequence (the evaluator's
IoUs, bit-identical to ``pycocotools.iou``; one compiled call replaces thousands of small pycocotools calls and
their Python overhead) and disjoint masks by priority (the tracker and ``mots eval --make-disjoint``), re-encoded
with pycocotools' ``rleToString`` code.
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


BAD_CHARACTER, BAD_COUNT, BAD_TOTAL = 1, 2, 3


@numba.njit(cache=True, nogil=True)
def _check_strings(buf, starts, lengths, total, area, covered, error):
    """Decode every string as ``rleFrString`` does: its foreground pixels, all its pixels and an error code (0,
    or the first of: a character outside '0'..'o', a count that is unterminated, negative or beyond 32 bits,
    counts that do not sum to ``total``)."""
    for i in range(len(starts)):
        p = starts[i]
        end = p + lengths[i]
        err = 0
        c2 = np.int64(0)  # the counts two back and one back (delta coding from the fourth count on)
        c1 = np.int64(0)
        m = 0
        pos = np.int64(0)
        fg = np.int64(0)
        x = np.int64(0)
        shift = 0
        while p < end:
            c = np.int64(buf[p]) - 48
            p += 1
            if c < 0 or c > 63:
                err = BAD_CHARACTER
                break
            x |= (c & 0x1F) << shift
            shift += 5
            if c & 0x20:  # the count goes on
                if shift >= 40:
                    err = BAD_COUNT
                    break
                continue
            if c & 0x10:
                x |= np.int64(-1) << shift
            if m > 2:
                x += c2
            if x < 0 or x > 0xFFFFFFFF:
                err = BAD_COUNT
                break
            if m & 1:
                fg += x
            pos += x
            c2, c1 = c1, x
            m += 1
            x = np.int64(0)
            shift = 0
        if err == 0 and shift:
            err = BAD_COUNT  # the last count is unterminated
        if err == 0 and pos != total:
            err = BAD_TOTAL
        area[i] = fg
        covered[i] = pos
        error[i] = err


def check_strings(counts: list, total: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(areas, pixels, errors)`` of COCO compressed RLE strings (``bytes``; ``str`` is taken as UTF-8) of images
    of ``total`` pixels: each string decoded once as pycocotools does, errors 0 (valid), :data:`BAD_CHARACTER`,
    :data:`BAD_COUNT` or :data:`BAD_TOTAL` (``pixels`` != ``total``)."""
    counts = [c.encode() if isinstance(c, str) else c for c in counts]
    total = min(total, 1 << 62)  # a larger "image" cannot be covered (lengths are far below 2^30 counts)
    n = len(counts)
    lengths = np.fromiter(map(len, counts), np.int64, n)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    area, covered, error = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    if n:
        _check_strings(np.frombuffer(b"".join(counts), np.uint8), starts, lengths, total, area, covered, error)
    return area, covered, error


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


@numba.njit(cache=True, nogil=True)
def _subtract(a_s, a_e, la, run_s, run_e, b0, b1, out_s, out_e):
    """Runs of ``a`` (la runs) minus runs ``b0:b1``, into out; returns the number of runs."""
    k = 0
    j = b0
    for i in range(la):
        s, e = a_s[i], a_e[i]
        while j < b1 and run_e[j] <= s:
            j += 1
        t = j
        while t < b1 and run_s[t] < e and s < e:
            if run_s[t] > s:
                out_s[k] = s
                out_e[k] = run_s[t]
                k += 1
            if run_e[t] > s:
                s = run_e[t]
            t += 1
        if s < e:
            out_s[k] = s
            out_e[k] = e
            k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _put_count(x, buf, p):
    """Append one (delta-coded) count in pycocotools' ``rleToString`` LEB128-like code."""
    more = True
    while more:
        c = x & 0x1F
        x >>= 5
        more = (x != -1) if (c & 0x10) else (x != 0)
        if more:
            c |= 0x20
        buf[p] = c + 48
        p += 1
    return p


@numba.njit(cache=True, nogil=True)
def _encode_runs(run_s, run_e, k, total, buf, p):
    """Append the compressed RLE string of ``k`` foreground runs ``[s, e)`` (column-major pixel indices) of an
    image of ``total`` pixels at ``buf[p:]``, with the counts of pycocotools' ``rleEncode``; returns the end."""
    c2 = np.int64(0)  # the counts two back and one back (delta coding from the fourth count on)
    c1 = np.int64(0)
    pos = np.int64(0)
    for m in range(2 * k + 1):
        if m == 2 * k:
            x = total - pos
            if x == 0 and m > 0:
                break
        elif m % 2 == 0:
            x = run_s[m // 2] - pos
        else:
            x = run_e[m // 2] - run_s[m // 2]
        pos += x
        p = _put_count(x - c2 if m > 2 else x, buf, p)
        c2, c1 = c1, x
    return p


@numba.njit(cache=True, nogil=True)
def _disjoint(buf, starts, lengths, order, total):
    """Masks (compressed RLE strings) made disjoint in priority ``order``: each loses the pixels of masks before it.

    Returns per mask its new area and, for masks that lost pixels, the new string ``out[begin[i]:end[i]]``.
    """
    n = len(starts)
    run_ptr = np.empty(n + 1, np.int64)
    cap = len(buf) // 2 + n + 1  # a run needs at least two count characters
    run_s = np.empty(cap, np.int64)
    run_e = np.empty(cap, np.int64)
    _parse_runs(buf, starts, lengths, run_ptr, run_s, run_e)
    nruns = run_ptr[n]
    a_s, a_e = np.empty(nruns + 1, np.int64), np.empty(nruns + 1, np.int64)
    b_s, b_e = np.empty(nruns + 1, np.int64), np.empty(nruns + 1, np.int64)
    area = np.zeros(n, np.int64)
    begin = np.zeros(n, np.int64)
    end = np.zeros(n, np.int64)
    out = np.empty(16 * (nruns + n), np.uint8)
    p = 0
    for x in range(n):
        i = order[x]
        i0, i1 = run_ptr[i], run_ptr[i + 1]
        la = i1 - i0
        a_s[:la] = run_s[i0:i1]
        a_e[:la] = run_e[i0:i1]
        original = np.sum(a_e[:la] - a_s[:la])
        for y in range(x):
            j = order[y]
            j0, j1 = run_ptr[j], run_ptr[j + 1]
            if la == 0 or j0 == j1 or run_e[j1 - 1] <= a_s[0] or a_e[la - 1] <= run_s[j0]:
                continue
            la = _subtract(a_s, a_e, la, run_s, run_e, j0, j1, b_s, b_e)
            a_s, b_s = b_s, a_s
            a_e, b_e = b_e, a_e
        area[i] = np.sum(a_e[:la] - a_s[:la])
        if area[i] < original:
            need = p + 7 * (2 * la + 1)  # at most 7 characters per count
            if need > len(out):
                out = np.concatenate((out, np.empty(need + len(out), np.uint8)))
            begin[i] = p
            p = _encode_runs(a_s, a_e, la, total, out, p)
            end[i] = p
    return area, begin, end, out[:p]


def make_disjoint(masks: list[dict], priority: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Disjoint copies of RLE masks of one image: a pixel shared by several goes to the mask that comes first in
    ``priority`` (a permutation of the mask indices). Returns the masks and their areas (0 = nothing left);
    unchanged masks are the same objects."""
    n = len(masks)
    if n == 0:
        return [], np.zeros(0, np.int64)
    counts = [m["counts"] for m in masks]
    lengths = np.fromiter(map(len, counts), np.int64, n)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    h, w = masks[0]["size"]
    order = np.asarray(priority, np.int64)
    area, begin, end, out = _disjoint(np.frombuffer(b"".join(counts), np.uint8), starts, lengths, order, h * w)
    result = list(masks)
    if end.any():
        data = out.tobytes()
        for i in np.flatnonzero(end):
            result[i] = {"size": [h, w], "counts": data[begin[i]:end[i]]}
    return result, area
