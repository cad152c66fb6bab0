"""`mots eval`: load, validate, accumulate and score every sequence of a seqmap, per class and combined."""
from __future__ import annotations

import logging
import os

import numpy as np

from mots_ros.data import formats
from mots_ros.data.formats import CAR, PEDESTRIAN, FormatError, Sequence
from mots_ros.eval.accumulate import SequenceClassData, accumulate, frame_overlaps, overlapping_ids
from mots_ros.eval.clear import COUNTS, clear_counts, clear_scores
from mots_ros.eval.dr import dr_scores, dr_sums
from mots_ros.eval.hota import combine_hota, hota_counts, hota_scores
from mots_ros.eval.identity import identity_counts, identity_scores

log = logging.getLogger(__name__)
CLASSES = {"car": CAR, "pedestrian": PEDESTRIAN}
# count fields reported as integers; everything else is a score reported in percent
INT_FIELDS = COUNTS + ("IDTP", "IDFN", "IDFP")


def score_class(parts: list[SequenceClassData]) -> tuple[dict, dict]:
    """Raw sums of one class over the given sequences -> (reportable scores, raw sums for combining)."""
    clean = [p.without_ignored() for p in parts]  # TrackEval's preprocessing, for all but CLEAR
    raw = {}
    for name, fn, data in (("clear", clear_counts, parts), ("identity", identity_counts, clean),
                           ("dr", dr_sums, clean)):
        per = [fn(p) for p in data]
        raw[name] = {k: sum(x[k] for x in per) for k in per[0]}
    raw["hota"] = combine_hota([hota_counts(p) for p in clean])
    return report_fields(raw), raw


def combine_raw(raws: list[dict]) -> dict:
    out = {}
    for name in ("clear", "identity", "dr"):
        out[name] = {k: sum(r[name][k] for r in raws) for k in raws[0][name]}
    out["hota"] = combine_hota([r["hota"] for r in raws])
    return out


def report_fields(raw: dict) -> dict:
    """Flat dict: scores in percent, counts as int."""
    scores = {**clear_scores(raw["clear"]), **identity_scores(raw["identity"]), **hota_scores(raw["hota"]),
              **dr_scores(raw["dr"])}
    out = {k: 100.0 * v for k, v in scores.items()}
    for k in INT_FIELDS:
        if k in raw["clear"]:
            out[k] = int(raw["clear"][k])
        elif k in raw["identity"]:
            out[k] = int(raw["identity"][k])
    return out


def load_pair(gt_dir: str, res_dir: str, seq: str, first: int, last: int, seqmap_path: str,
              make_disjoint: bool) -> tuple[Sequence, Sequence, tuple]:
    """Ground truth, results and their :func:`frame_overlaps` for one sequence, validated like the official tool."""
    gt = formats.load_sequence(gt_dir, seq)
    res = formats.load_sequence(res_dir, seq, required=False)
    if len(res) == 0 and not os.path.exists(res.source):
        log.warning("results for sequence %s not found in %s: counted as empty", seq, res_dir)
    formats.check_frames(gt, first, last, seqmap_path)
    formats.check_frames(res, first, last, seqmap_path)
    if gt.size and res.size and gt.size != res.size:
        raise FormatError(f"{res.source}: mask size {res.size} differs from the ground truth's {gt.size} "
                          f"({gt.source})")
    ov = frame_overlaps(gt, res)
    a, b, _ = ov
    n = len(gt)
    in_gt, in_res = (a < n) & (b < n), (a >= n) & (b >= n)
    if in_gt.any():
        raise formats.overlap_error(gt, overlapping_ids(gt, a[in_gt], b[in_gt]))
    if in_res.any():
        found = overlapping_ids(res, a[in_res] - n, b[in_res] - n)
        if not make_disjoint:
            raise formats.overlap_error(res, found)
        log.warning("%s: %d overlapping mask pairs in %d frames made disjoint (the later mask loses the "
                    "contested pixels)", res.source, len(found), len({f for f, _, _ in found}))
        res = formats.make_disjoint(res, {f for f, _, _ in found})
        ov = frame_overlaps(gt, res)
    return gt, res, ov


def evaluate_sequences(pairs: dict[str, tuple]) -> dict:
    """Scores of loaded sequences ``{seq: (gt, res, first, last[, overlaps])}``:
    ``{class: {"combined": {...}, "per_sequence": {seq: {...}}}}``."""
    classes = tuple(CLASSES.values())
    data = {seq: accumulate(*p[:4], classes, *p[4:]) for seq, p in pairs.items()}
    out = {}
    for cname, cid in CLASSES.items():
        per_seq, raws = {}, []
        for seq, d in data.items():
            fields, raw = score_class([d[cid]])
            per_seq[seq] = fields
            raws.append(raw)
        out[cname] = {"combined": report_fields(combine_raw(raws)), "per_sequence": per_seq}
    return out


def evaluate(gt_dir: str, res_dir: str, seqmap_path: str, make_disjoint: bool = False) -> dict:
    """Evaluate every sequence of ``seqmap_path``; see :func:`evaluate_sequences` for the result layout."""
    seqmap = formats.read_seqmap(seqmap_path)
    pairs = {}
    for seq, (first, last) in seqmap.items():
        gt, res, ov = load_pair(gt_dir, res_dir, seq, first, last, seqmap_path, make_disjoint)
        pairs[seq] = (gt, res, first, last, ov)
    return evaluate_sequences(pairs)


def nan_to_none(obj):
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python numbers."""
    if isinstance(obj, dict):
        return {k: nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
