"""Quality of the shipped demo weights on held-out synthetic data (a seed not used in training).

Writes `mots synth` sequences with --seed (default 99; the weights were trained on seed 1), runs the streaming
model and the tuned tracker on them exactly as `mots run` does, scores them with `mots eval` and checks the
family's goal (sMOTSA for cars and for pedestrians). Exit status 1 when the goal is missed.

    .venv/bin/python benchmarks/bench_demo_quality.py [--model trackrcnn|pixel_embedding]
        [--checkpoint CKPT --tracker-config YAML] [--seed 99] [--size 375x1242] [--precision bfloat16]
        [--subsample 2]

--model: the shipped demo weights of that family and their tuned parameters (goal sMOTSA >= 70 for TrackR-CNN,
>= 65 for pixel embeddings); --checkpoint / --tracker-config replace them (a pixel file's clustering applies).

--size renders the held-out sequences at another resolution (default 375x1242, KITTI's, what the demo weights were
last trained on; e.g. 188x620, the size of their first three stages: the model's input size is the checkpoint's
either way, so only the sharpness of the frames and of the ground truth changes).

--precision: the stream's precision (float32, the default; bfloat16: what it costs in quality). --subsample:
pixel-embedding models, the clustering's subsampling instead of the tuned file's (what it costs in quality).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace

GOALS = {"trackrcnn": 70.0, "pixel_embedding": 65.0}  # sMOTSA per class (issue 12 §5 for pixel embeddings)


def main() -> int:
    from mots_ros.cli import _size
    from mots_ros.data import formats
    from mots_ros.data.synth import generate
    from mots_ros.demo import DEMO_SIZE
    from mots_ros.engine.build import DEMO_MODELS, build_stream, demo_files
    from mots_ros.tracking.cluster import load_cluster_config
    from mots_ros.engine.infer import run_sequences
    from mots_ros.models.streaming import PRECISIONS
    from mots_ros.eval.evaluate import evaluate
    from mots_ros.eval.report import format_table
    from mots_ros.tracking.config import load_tracker_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="trackrcnn", choices=DEMO_MODELS)
    ap.add_argument("--checkpoint")
    ap.add_argument("--tracker-config")
    ap.add_argument("--seed", type=int, default=99, help="synthetic data seed (training used 1)")
    ap.add_argument("--sequences", type=int, default=4)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--device", default=None)
    ap.add_argument("--size", type=_size, default=DEMO_SIZE,
                    help="HxW of the synthetic frames (default 375x1242, as the last training stage)")
    ap.add_argument("--precision", default="float32", choices=PRECISIONS)
    ap.add_argument("--subsample", type=int, help="clustering.subsample (default: the tuned file's)")
    args = ap.parse_args()
    # loaded (a missing or bad file named) before the held-out data is written
    if not (args.checkpoint and args.tracker_config):
        checkpoint, tracker = demo_files(args.model)
        args.checkpoint, args.tracker_config = args.checkpoint or checkpoint, args.tracker_config or tracker
    clustering = load_cluster_config(args.tracker_config)
    if clustering is not None and args.subsample:
        clustering = replace(clustering, subsample=args.subsample)
    stream = build_stream(args.checkpoint, args.device, clustering=clustering, precision=args.precision)
    tracker_config = load_tracker_config(args.tracker_config)
    goal = GOALS[stream.model.arch]
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        generate(data, sequences=args.sequences, frames=args.frames, size=args.size, seed=args.seed)
        seqmap = os.path.join(tmp, "all.seqmap")  # train + val (one sequence alone has no val.seqmap)
        splits = [os.path.join(data, f"{split}.seqmap") for split in ("train", "val")]
        formats.write_seqmap({k: v for s in splits if os.path.exists(s) for k, v in formats.read_seqmap(s).items()},
                             seqmap)
        t = time.perf_counter()
        run_sequences(stream, os.path.join(data, "images"), seqmap, os.path.join(tmp, "res"), tracker_config)
        seconds = time.perf_counter() - t
        results = evaluate(os.path.join(data, "instances_txt"), os.path.join(tmp, "res"), seqmap)
    print(format_table(results, fields=("sMOTSA", "MOTSA", "MOTSP", "IDF1", "HOTA", "TP", "FP", "FN", "IDS")))
    frames = args.sequences * args.frames
    print(f"\n{frames} held-out frames (seed {args.seed}, {args.size[0]}x{args.size[1]}) in {seconds:.1f} s ({frames / seconds:.1f} frames/s, "
          f"inference + tracking, {args.precision}" + (f", subsample {args.subsample}" if args.subsample else "")
          + ")")
    ok = True
    for cls in ("car", "pedestrian"):
        value = results[cls]["combined"]["sMOTSA"]
        ok &= value >= goal
        print(f"{cls:10s} sMOTSA {value:5.1f}  goal >= {goal:.0f}: {'met' if value >= goal else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    from mots_ros import MotsError

    try:
        sys.exit(main())
    except MotsError as e:  # a bad --size, a missing checkpoint or tracker file: named, no traceback
        sys.exit(f"bench_demo_quality: {e}")
