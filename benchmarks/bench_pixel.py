"""Speed of the pixel-embedding pipeline (thesis 6.2) against TrackR-CNN's, on the same frames, on this CPU.

Both shipped demo pipelines (or --checkpoint / --tracker-config for the pixel one) run streaming inference and
tracking over one held-out `mots synth` sequence (seed 99) at 375x1242, side by side in one process. The pixel
pipeline's frame time is split into network (encoder, temporal block, decoder, branches), clustering (HDBSCAN),
upsampling (cluster masks to image resolution) and the rest of turning clusters into detections, plus linking.
Goals (issue 12 §6): pixel frames per second >= 1.5x TrackR-CNN's, clustering <= 1/4 of the pixel frame time.

Also: clustering ms per frame against the number of foreground points clustered, and the HDBSCAN implementations
(hdbscan's algorithms, scikit-learn's, fast_hdbscan when installed) on the largest frame's points, with time and
adjusted Rand index against hdbscan's default, and on one object alone (a frame with one car: does the
implementation return it as a single cluster?).

--precision: one or more stream precisions (default float32 and bfloat16), each timed for both pipelines on the
same frames (bfloat16: autocast; fast on CPUs with AVX-512 BF16 or AMX). --subsample: one or more clustering
subsamplings of the pixel pipeline (default 1 and 2; `clustering.subsample`), each against the same TrackR-CNN run.
--centres CKPT: a checkpoint with centre votes (6.3.1) on the same frames beside the pixel pipeline at the first
subsampling: the extra per-frame cost of its offset branch and of clustering embeddings + centres.
--votes CKPT --votes-tracker TUNED.yaml: a checkpoint with votes for previous frames (6.3.2) and its tuned file
(`mots tune --outputs --linker votes`) on the same frames: the extra network cost of its vote branches against the
plain pixel pipeline, the cost of each cluster's votes, and vote association against the cluster linker
(representatives) on the same detections.

    .venv/bin/python benchmarks/bench_pixel.py [--frames 20] [--checkpoint PIXEL.pt --tracker-config TUNED.yaml]
        [--precision float32 bfloat16] [--subsample 1 2] [--centres CENTRES.pt]
        [--votes VOTES.pt --votes-tracker TUNED.yaml]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace

import numpy as np


class Timers:
    """Seconds spent in wrapped functions, per frame."""

    def __init__(self):
        self.frame: dict[str, float] = defaultdict(float)
        self.points = 0
        self.largest: tuple[int, np.ndarray, object] | None = None  # (points, features, params) for the comparison
        self._originals: list[tuple[object, str, object]] = []

    def wrap(self, module, name: str, key: str, points: bool = False):
        original = getattr(module, name)
        self._originals.append((module, name, original))

        def timed(*args, **kw):
            t = time.perf_counter()
            out = original(*args, **kw)
            self.frame[key] += time.perf_counter() - t
            if points:
                self.points += len(args[0])
                if self.largest is None or len(args[0]) > self.largest[0]:
                    self.largest = (len(args[0]), args[0].copy(), args[1], args[2])
            return out

        setattr(module, name, timed)

    def unwrap(self) -> None:
        """Restore the wrapped functions."""
        while self._originals:
            setattr(*self._originals.pop())

    def take(self) -> tuple[dict[str, float], int]:
        out, n = dict(self.frame), self.points
        self.frame.clear()
        self.points = 0
        return out, n


def run_pipeline(stream, tracker, images, timers: Timers | None = None, keep: list | None = None) -> list[dict]:
    """Per frame: {'total', 'network+', 'linking', ...} seconds (and 'points' with timers); the detections are
    appended to ``keep`` when given."""
    rows = []
    for i, image in enumerate(images):
        t = time.perf_counter()
        dets = stream.push(image, i, i)
        t_push = time.perf_counter() - t
        if keep is not None:
            keep += dets
        t = time.perf_counter()
        for d in dets:
            tracker.step(d)
        t_link = time.perf_counter() - t
        row = {"push": t_push, "linking": t_link}
        if timers is not None:
            parts, row["points"] = timers.take()
            row.update(parts)
        row["total"] = t_push + t_link
        rows.append(row)
    for d in stream.flush():
        tracker.step(d)
    return rows


def hdbscan_runs(features: np.ndarray, size: int, k: int) -> dict:
    """Implementation -> a function labelling ``features`` with these parameters (single clusters allowed)."""
    import hdbscan
    from sklearn.cluster import HDBSCAN

    runs = {f"hdbscan {a}": (lambda a=a: hdbscan.HDBSCAN(min_cluster_size=size, min_samples=k, algorithm=a,
                                                            allow_single_cluster=True).fit_predict(features))
            for a in ("best", "boruvka_kdtree", "prims_kdtree")}
    runs["sklearn"] = lambda: HDBSCAN(min_cluster_size=size, min_samples=k,
                                      allow_single_cluster=True).fit_predict(features)
    try:
        import fast_hdbscan

        runs["fast_hdbscan"] = lambda: fast_hdbscan.HDBSCAN(min_cluster_size=size, min_samples=k,
                                                            allow_single_cluster=True).fit_predict(features)
    except ImportError:
        pass
    return runs


def compare_hdbscan(features: np.ndarray, params, cell_area: float) -> list[tuple[str, float, float]]:
    """(implementation, seconds, ARI against hdbscan's default) on the same points and parameters."""
    from sklearn.metrics import adjusted_rand_score

    size = max(2, round(params.min_cluster_size / cell_area))
    k = max(1, min(params.min_samples, len(features) - 1))
    runs = hdbscan_runs(features, size, k)
    if "fast_hdbscan" not in runs:
        print("fast_hdbscan not installed (pip install fast_hdbscan): left out of the comparison")
    out, reference = [], None
    for name, fn in runs.items():
        fn()  # first call: compilation (numba) and imports
        t = time.perf_counter()
        labels = fn()
        seconds = time.perf_counter() - t
        reference = labels if reference is None else reference
        out.append((name, seconds, adjusted_rand_score(reference, labels)))
    return out


def single_object(points: int = 400, dim: int = 18, size: int = 41, k: int = 5) -> dict[str, tuple[int, int]]:
    """Implementation -> (clusters, points in them) on one Gaussian blob: a frame with one object of a class,
    which the clustering must keep (single clusters allowed)."""
    features = np.random.default_rng(0).normal(0, 1, (points, dim)).astype(np.float32)
    out = {}
    for name, fn in hdbscan_runs(features, size, k).items():
        labels = fn()
        out[name] = (int(labels.max(initial=-1) + 1), int((labels >= 0).sum()))
    return out


def main() -> int:
    import torch

    from mots_ros import MotsError
    from mots_ros.cli import _size
    from mots_ros.data.synth import generate
    from mots_ros.data.windows import list_frames, read_image
    from mots_ros.engine.build import build_stream, demo_files
    from mots_ros.models.pixel_embedding import outputs
    from mots_ros.models.streaming import PRECISIONS
    from mots_ros.tracking import cluster
    from mots_ros.tracking.cluster import ClusterConfig, load_cluster_config
    from mots_ros.tracking.config import load_tracker_config
    from mots_ros.tracking.linking import make_tracker

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--size", type=_size, default=(375, 1242))
    ap.add_argument("--checkpoint", help="pixel-embedding checkpoint (default: the shipped pixel demo weights)")
    ap.add_argument("--tracker-config", help="its tuned parameters (default: the pixel demo weights')")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--precision", nargs="+", default=["float32", "bfloat16"], choices=PRECISIONS)
    ap.add_argument("--subsample", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--centres", metavar="CKPT", help="also run this checkpoint with centre votes (thesis 6.3.1, "
                                                      "e.g. trained with config/pixel_embedding_small_centres.yaml) "
                                                      "on the same frames, clustering embeddings + centres: the "
                                                      "extra per-frame cost of the offset branch")
    ap.add_argument("--centre-scale", type=float, default=88.3, help="its clustering centre_scale (default 88.3, "
                                                                     "as tuned in the README)")
    ap.add_argument("--votes", metavar="CKPT", help="also run this checkpoint with votes for previous frames (thesis "
                                                    "6.3.2, config/pixel_embedding_votes_small.yaml) on the same "
                                                    "frames: the cost of its branches and of vote association")
    ap.add_argument("--votes-tracker", metavar="TUNED.yaml", help="its tuned clustering and vote-linker parameters "
                                                                  "(mots tune --outputs --linker votes)")
    args = ap.parse_args()
    if bool(args.votes) != bool(args.votes_tracker):
        raise MotsError("--votes and --votes-tracker go together (the checkpoint and its tuned file)")
    torch.set_num_threads(args.threads)
    if not (args.checkpoint and args.tracker_config):
        checkpoint, tuned = demo_files("pixel_embedding")
        args.checkpoint, args.tracker_config = args.checkpoint or checkpoint, args.tracker_config or tuned
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp, sequences=1, frames=args.frames + 2, size=args.size, seed=99)
        images = [read_image(p) for p in list_frames(os.path.join(tmp, "images", "0000")).values()]
    warm, images = images[:2], images[2:]
    pixel_tracker, trackrcnn_tracker = args.tracker_config, demo_files("trackrcnn")[1]
    timers = Timers()
    tuned = load_cluster_config(args.tracker_config) or ClusterConfig()
    for precision in args.precision:
        trackrcnn = build_stream(demo_files("trackrcnn")[0], "cpu", precision=precision)
        run_pipeline(trackrcnn, make_tracker(load_tracker_config(trackrcnn_tracker)), warm)  # one-time costs
        rows_t = run_pipeline(trackrcnn, make_tracker(load_tracker_config(trackrcnn_tracker)), images)
        pixel = build_stream(args.checkpoint, "cpu", clustering=tuned, precision=precision)
        run_pipeline(pixel, make_tracker(load_tracker_config(pixel_tracker)), warm)
        for step in args.subsample:
            pixel.model.clustering = replace(tuned, subsample=step)
            timers.wrap(cluster, "subsampled_labels", "clustering")
            timers.wrap(cluster, "cluster_points", "hdbscan", points=True)
            timers.wrap(cluster, "_upsampled_labels", "upsampling")
            timers.wrap(outputs, "cluster_frame", "postprocess")
            rows_p = run_pipeline(pixel, make_tracker(load_tracker_config(pixel_tracker)), images, timers)
            timers.unwrap()
            report(rows_p, rows_t, args, f"{precision}, clustering subsample {step}")
            if args.centres and step == args.subsample[0]:
                votes = replace(tuned, subsample=step, features="both", centre_scale=args.centre_scale)
                centres = build_stream(args.centres, "cpu", clustering=votes, precision=precision)
                run_pipeline(centres, make_tracker(load_tracker_config(pixel_tracker)), warm)
                timers.wrap(cluster, "subsampled_labels", "clustering")
                timers.wrap(outputs, "cluster_frame", "postprocess")
                rows_c = run_pipeline(centres, make_tracker(load_tracker_config(pixel_tracker)), images, timers)
                timers.unwrap()
                report_centres(rows_p, rows_c, f"{precision}, clustering subsample {step}")
            if args.votes and step == args.subsample[0]:
                clustering = replace(load_cluster_config(args.votes_tracker) or tuned, subsample=step)
                votes = build_stream(args.votes, "cpu", clustering=clustering, precision=precision)
                vote_config = load_tracker_config(args.votes_tracker)
                run_pipeline(votes, make_tracker(vote_config), warm)
                timers.wrap(cluster, "subsampled_labels", "clustering")
                timers.wrap(cluster, "_upsampled_labels", "upsampling")
                timers.wrap(cluster, "cluster_votes", "votes")
                timers.wrap(outputs, "cluster_frame", "postprocess")
                timers.wrap(votes.model.offset_head, "forward", "centre branch")
                timers.wrap(votes.model.past_head, "forward", "past branch")
                dets: list = []
                rows_v = run_pipeline(votes, make_tracker(vote_config), images, timers, dets)
                timers.unwrap()
                report_votes(rows_p, rows_v, dets, vote_config, load_tracker_config(pixel_tracker),
                             f"{precision}, clustering subsample {step}")
    if timers.largest is not None:
        n, features, params, cell_area = timers.largest
        print(f"\nHDBSCAN implementations on the largest frame's points ({n} points, {features.shape[1]}-d):")
        for name, seconds, ari in compare_hdbscan(features, params, cell_area):
            print(f"  {name:<22} {1000 * seconds:9.1f} ms   ARI {ari:.3f}")
    print("\none object (400 points of one 18-d Gaussian blob, min_cluster_size 41, k 5): clusters, points in them")
    for name, (clusters, members) in single_object().items():
        print(f"  {name:<22} {clusters:3d} clusters {members:5d} points")
    return 0


def ms(rows: list[dict], key: str) -> float:
    """Mean milliseconds per frame of ``key`` in ``rows`` (0 where a row lacks it)."""
    return 1000 * float(np.mean([r.get(key, 0.0) for r in rows]))


def report_centres(rows_p: list[dict], rows_c: list[dict], setting: str) -> None:
    """The centre-vote pipeline against the plain pixel one on the same frames: network, clustering, total."""
    net = {k: ms(r, "push") - ms(r, "postprocess") for k, r in (("plain", rows_p), ("centres", rows_c))}
    clus = {k: ms(r, "clustering") for k, r in (("plain", rows_p), ("centres", rows_c))}
    total = {k: ms(r, "total") for k, r in (("plain", rows_p), ("centres", rows_c))}
    print(f"\ncentre votes ({setting}; clustering embeddings + centres) against the plain pixel pipeline, "
          f"mean ms per frame:")
    print(f"{'pipeline':<16} {'total':>8} {'network':>8} {'cluster':>8}")
    for k in ("plain", "centres"):
        print(f"{k:<16} {total[k]:8.1f} {net[k]:8.1f} {clus[k]:8.1f}")
    print(f"extra per frame: network {net['centres'] - net['plain']:+.1f} ms (the offset branch), clustering "
          f"{clus['centres'] - clus['plain']:+.1f} ms, total {total['centres'] - total['plain']:+.1f} ms "
          f"({total['centres'] / total['plain']:.2f}x)")


def link_ms(dets: list, config) -> float:
    """Mean milliseconds per frame of linking ``dets`` with a fresh tracker of ``config`` (best of 3 passes)."""
    from mots_ros.tracking.linking import make_tracker

    best = float("inf")
    for _ in range(3):
        tracker = make_tracker(config)
        t = time.perf_counter()
        for d in dets:
            tracker.step(d)
        best = min(best, time.perf_counter() - t)
    return 1000 * best / max(1, len(dets))


def report_votes(rows_p: list[dict], rows_v: list[dict], dets: list, vote_config, pixel_config, setting: str) -> None:
    """The votes pipeline against the plain pixel one on the same frames, and vote association against the cluster
    linker on the votes model's detections."""
    net = {k: ms(r, "push") - ms(r, "postprocess") for k, r in (("plain", rows_p), ("votes", rows_v))}
    total = {k: ms(r, "total") for k, r in (("plain", rows_p), ("votes", rows_v))}
    clusters = replace(pixel_config, linker="clusters")
    links = {"vote linker": link_ms(dets, vote_config), "cluster linker": link_ms(dets, clusters)}
    print(f"\nvotes for previous frames ({setting}; each with its own tuned clustering) against the plain pixel "
          f"pipeline, mean ms per frame:")
    print(f"{'pipeline':<16} {'total':>8} {'network':>8} {'centres':>8} {'past':>8} {'cluster':>8} {'upsample':>8} "
          f"{'votes':>8} {'linking':>8}")
    for k, r in (("plain", rows_p), ("votes", rows_v)):
        print(f"{k:<16} {total[k]:8.1f} {net[k]:8.1f} {ms(r, 'centre branch'):8.1f} {ms(r, 'past branch'):8.1f} "
              f"{ms(r, 'clustering'):8.1f} {ms(r, 'upsampling'):8.1f} {ms(r, 'votes'):8.1f} {ms(r, 'linking'):8.1f}")
    print(f"extra per frame: network {net['votes'] - net['plain']:+.1f} ms, of it the past-frame branch "
          f"{ms(rows_v, 'past branch'):.1f} ms and the centre branch {ms(rows_v, 'centre branch'):.1f} ms; the "
          f"clusters' votes {ms(rows_v, 'votes'):.2f} ms; total {total['votes'] - total['plain']:+.1f} ms "
          f"({total['votes'] / total['plain']:.2f}x)")
    print(f"linking the same {len(dets)} frames of detections: vote linker {links['vote linker']:.2f} ms, cluster "
          f"linker (pixel demo parameters) {links['cluster linker']:.2f} ms per frame")


def report(rows_p: list[dict], rows_t: list[dict], args, setting: str) -> None:
    total_p, total_t = ms(rows_p, "total"), ms(rows_t, "total")
    post, clus, up = ms(rows_p, "postprocess"), ms(rows_p, "clustering"), ms(rows_p, "upsampling")
    print(f"\n{len(rows_p)} frames of {args.size[0]}x{args.size[1]}, CPU, {args.threads} threads, {setting} "
          f"(mean ms per frame)")
    print(f"{'pipeline':<16} {'total':>8} {'network':>8} {'cluster':>8} {'upsample':>8} {'rest':>8} {'linking':>8} "
          f"{'frames/s':>8}")
    print(f"{'pixel':<16} {total_p:8.1f} {ms(rows_p, 'push') - post:8.1f} {clus:8.1f} {up:8.1f} "
          f"{post - clus - up:8.1f} {ms(rows_p, 'linking'):8.1f} {1000 / total_p:8.2f}")
    print(f"{'trackrcnn':<16} {total_t:8.1f} {ms(rows_t, 'push'):8.1f} {'-':>8} {'-':>8} {'-':>8} "
          f"{ms(rows_t, 'linking'):8.1f} {1000 / total_t:8.2f}")
    ratio, share = total_t / total_p, clus / total_p
    print(f"pixel / trackrcnn frames per second: {ratio:.2f}x (goal >= 1.5: {'met' if ratio >= 1.5 else 'MISSED'}); "
          f"clustering {100 * share:.0f} % of the pixel frame time (goal <= 25 %: "
          f"{'met' if share <= 0.25 else 'MISSED'})")
    points = np.array([r["points"] for r in rows_p])
    cms = np.array([1000 * r.get("clustering", 0.0) for r in rows_p])
    print("\nclustering ms per frame against foreground points clustered:")
    for i in np.argsort(points):
        print(f"  {points[i]:7d} points {cms[i]:9.1f} ms")
    if len(points) > 1 and points.std() > 0:
        slope = np.polyfit(points, cms, 1)[0]
        print(f"  least-squares slope: {1000 * slope:.1f} ms per 1000 points")


if __name__ == "__main__":
    from mots_ros import MotsError

    try:
        sys.exit(main())
    except MotsError as e:
        sys.exit(f"bench_pixel: {e}")
