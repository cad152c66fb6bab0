"""Where a pixel-embedding model loses its objects (thesis 6.2.3): each ground-truth object of every frame, matched
to a cluster (mask IoU > 0.5, same class) or blamed on one stage, and each unmatched cluster explained.

Works on the saved network outputs (`mots run --save-outputs DIR`) and a clustering (a tuned file's, as `mots run`
would apply it), frame by frame; linking plays no part. A missed object is blamed on
  class map  - fewer than half of its pixels have its class in the class map (argmax, upsampled);
  too small  - its class covers it, but it has fewer pixels than the class's min_cluster_size;
  merged     - a cluster covers at least half of it together with at least half of another object;
  split      - otherwise: its pixels went to several clusters, or to HDBSCAN's noise.
An unmatched cluster is merged (it holds at least half of two objects), a fragment (most of it inside one
object) or background (most of it on no object of its class). Missed objects are also counted by size.

    .venv/bin/python benchmarks/diagnose_pixel.py --outputs OUTS --gt DATA/instances_txt --seqmap SEQMAP \
        --tracker-config mots_ros/weights/pixel_tracker_demo.yaml [--subsample 1] [--position-scale 16] \
        [--images DATA/images]   # the camera images, which a tuned file's guided upsampling needs
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import replace

import numpy as np

from mots_ros.tracking.cluster import CLASS_IDS

SIZES = (500, 1000, 2000, 4000, 8000)  # object area buckets, image pixels
REASONS = ("class map", "too small", "merged", "split")


def frame_report(outputs, gt_rles: list, gt_classes: np.ndarray, config) -> tuple[list, list]:
    """([(class, area, reason or 'found')] per object, [(class, 'merged' | 'fragment' | 'background')] per unmatched
    cluster) of one frame; ``gt_rles`` the disjoint ground-truth masks of the classes clustered."""
    from mots_ros.data import rle
    from mots_ros.tracking.cluster import upsample_indices

    dets = outputs.cluster(config)
    n, m, size = len(gt_rles), len(dets), (outputs.height, outputs.width)
    g_lab = rle.label_map(gt_rles, np.arange(1, n + 1), *size, np.int64)
    d_lab = rle.label_map(dets.masks, np.arange(1, m + 1), *size, np.int64)
    joint = np.bincount((g_lab * (m + 1) + d_lab).ravel(), minlength=(n + 1) * (m + 1)).reshape(n + 1, m + 1)
    inter, areas_g, areas_d = joint[1:, 1:], joint[1:].sum(1), joint[:, 1:].sum(0)
    iou = inter / np.maximum(areas_g[:, None] + areas_d[None, :] - inter, 1)
    halves = inter >= 0.5 * areas_g[:, None]  # at least half of each object inside each cluster
    same = gt_classes[:, None] == dets.classes[None, :]
    _, h, w = outputs.probs.shape
    best = outputs.probs.argmax(0)[upsample_indices(h, outputs.stride, outputs.resized[0], outputs.height)[:, None],
                                   upsample_indices(w, outputs.stride, outputs.resized[1], outputs.width)[None, :]]
    own_class = np.concatenate([[-1], gt_classes])[g_lab] == best  # object pixels the class map gives their class
    covered = np.bincount(g_lab[own_class], minlength=n + 1)[1:] / np.maximum(areas_g, 1)
    holds_two = halves.sum(0) >= 2  # clusters holding at least half of two objects (of any class)
    sizes = {cls: getattr(config, name).min_cluster_size for name, cls in CLASS_IDS.items()}
    matched_d = set()
    objects = []
    for i, cls in enumerate(gt_classes):
        hits = np.flatnonzero(same[i] & (iou[i] > 0.5))
        if len(hits):
            matched_d.add(int(hits[0]))
            reason = "found"
        else:
            reason = ("class map" if covered[i] < 0.5 else "too small" if areas_g[i] < sizes[int(cls)] else
                      "merged" if (same[i] & halves[i] & holds_two).any() else "split")
        objects.append((int(cls), float(areas_g[i]), reason))
    clusters = []
    for j, cls in enumerate(dets.classes):
        if j in matched_d:
            continue
        mine = gt_classes == cls
        inside = inter[mine, j].max(initial=0) / max(areas_d[j], 1)
        clusters.append((int(cls), "merged" if halves[mine, j].sum() >= 2 else
                         "fragment" if inside >= 0.5 else "background"))
    return objects, clusters


def main() -> int:
    from mots_ros import MotsError
    from mots_ros.tracking.tune_clusters import load_outputs_data
    from mots_ros.tracking.cluster import load_cluster_config
    from tqdm import tqdm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", required=True, help="folder of SEQ.npz from mots run --save-outputs")
    ap.add_argument("--gt", required=True)
    ap.add_argument("--seqmap", required=True)
    ap.add_argument("--tracker-config", required=True, help="YAML with the clustering (a tuned file)")
    ap.add_argument("--subsample", type=int)
    ap.add_argument("--position-scale", type=float)
    ap.add_argument("--images", help="DIR/SEQ/FRAME.png: the camera images (guided upsampling)")
    args = ap.parse_args()
    try:
        config = load_cluster_config(args.tracker_config)
        if config is None:
            raise MotsError(f"{args.tracker_config}: no clustering section (inference_node: clustering)")
        if config.upsampling == "guided" and not args.images:
            raise MotsError(f"{args.tracker_config}: guided upsampling needs the camera images: give --images DIR")
        if args.subsample:
            config = replace(config, subsample=args.subsample)
        if args.position_scale is not None:
            config = replace(config, position_scale=args.position_scale)
        objects, clusters = [], []
        data = load_outputs_data(args.outputs, args.gt, args.seqmap, args.images)
        for gt, frames, _, _ in tqdm(data.values(), desc="sequences"):
            by_frame = gt.by_frame()
            for out in frames:
                idx = [i for i in by_frame.get(out.frame, []) if gt.classes[i] in CLASS_IDS.values()]
                o, c = frame_report(out, [gt.rles[i] for i in idx], gt.classes[idx], config)
                objects += o
                clusters += c
    except (MotsError, ValueError) as e:  # ValueError: a bad --subsample
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_report(objects, clusters)
    return 0


def print_report(objects: list, clusters: list) -> None:
    for name, cls in CLASS_IDS.items():
        mine = [(a, r) for c, a, r in objects if c == cls]
        counts = Counter(r for _, r in mine)
        n = max(len(mine), 1)
        print(f"\n{name}: {len(mine)} objects, found {counts['found']} ({100 * counts['found'] / n:.1f} %); missed: "
              + ", ".join(f"{r} {counts[r]} ({100 * counts[r] / n:.1f} %)" for r in REASONS))
        extra = Counter(k for c, k in clusters if c == cls)
        print(f"  unmatched clusters: merged {extra['merged']}, fragment {extra['fragment']}, "
              f"background {extra['background']}")
        edges = (0, *SIZES, np.inf)
        print("  area (px)     objects  found %  " + "  ".join(f"{r:>9}" for r in REASONS))
        for lo, hi in zip(edges[:-1], edges[1:]):
            bucket = [r for a, r in mine if lo <= a < hi]
            if not bucket:
                continue
            c = Counter(bucket)
            label = f"{lo:.0f}-{hi:.0f}" if np.isfinite(hi) else f">={lo:.0f}"
            print(f"  {label:<12}{len(bucket):>9}  {100 * c['found'] / len(bucket):7.1f}  "
                  + "  ".join(f"{c[r]:>9}" for r in REASONS))


if __name__ == "__main__":
    sys.exit(main())
