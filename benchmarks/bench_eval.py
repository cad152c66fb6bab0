"""Evaluation speed: `mots eval` vs the PyPI trackeval package on the full KITTI MOTS val ground truth.

Both evaluate the same perturbed copy of the ground truth with CLEAR + Identity + HOTA (ours also the DR scores)
in this process, reading the txt files each run; the best of --repeat runs is reported side by side, plus the
whole command line of each (`mots eval` vs trackeval with its default outputs) as separate processes.

    .venv/bin/python benchmarks/bench_eval.py [--data ../shared/data] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TRACKEVAL_CLI = """
import sys, trackeval
gt, trackers, seqmap, out = sys.argv[1:5]
ds = trackeval.datasets.KittiMOTS.get_default_dataset_config()
ds.update(GT_FOLDER=gt, TRACKERS_FOLDER=trackers, SEQMAP_FILE=seqmap, OUTPUT_FOLDER=out)
trackeval.Evaluator(trackeval.Evaluator.get_default_eval_config()).evaluate(
    [trackeval.datasets.KittiMOTS(ds)],
    [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(), trackeval.metrics.Identity()])
"""


def best_of(fn, repeat: int) -> tuple[float, float]:
    """(first run, best run) wall time in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times[0], min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("MOTS_DATA", str(REPO.parent / "shared" / "data")),
                    help="folder holding kitti_mots/ (default $MOTS_DATA or ../shared/data)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per tool (default 5)")
    args = ap.parse_args()
    gt_dir = Path(args.data) / "kitti_mots" / "instances_txt"
    seqmap = Path(args.data) / "kitti_mots" / "val.seqmap"
    if not gt_dir.is_dir():
        print(f"KITTI MOTS ground truth not found under {args.data}; pass --data", file=sys.stderr)
        return 2

    from mots_ros.eval.evaluate import evaluate
    from mots_ros.eval.perturb import perturb_dir
    from mots_ros.eval.trackeval_ref import run_trackeval

    with tempfile.TemporaryDirectory() as tmp:
        res_dir = os.path.join(tmp, "res")
        t = time.perf_counter()
        perturb_dir(str(gt_dir), str(seqmap), res_dir, seed=7)
        print(f"perturbed copy of KITTI MOTS val written in {time.perf_counter() - t:.1f} s")
        ours = evaluate(str(gt_dir), res_dir, str(seqmap))
        ref = run_trackeval(str(gt_dir), res_dir, str(seqmap), workdir=os.path.join(tmp, "te"))
        for cls in ("car", "pedestrian"):
            diff = max(abs(ours[cls]["combined"][k] - v) for k, v in ref[cls]["combined"].items())
            print(f"{cls}: sMOTSA {ours[cls]['combined']['sMOTSA']:.2f}, HOTA {ours[cls]['combined']['HOTA']:.2f}, "
                  f"IDF1 {ours[cls]['combined']['IDF1']:.2f}; largest difference to trackeval {diff:.1e}")

        o_first, o_best = best_of(lambda: evaluate(str(gt_dir), res_dir, str(seqmap)), args.repeat)
        r_first, r_best = best_of(lambda: run_trackeval(str(gt_dir), res_dir, str(seqmap),
                                                        workdir=os.path.join(tmp, "te")), args.repeat)
        print(f"\nin-process, CLEAR+Identity+HOTA on {len(ours['car']['per_sequence'])} sequences "
              f"(best of {args.repeat}; first run in brackets):")
        print(f"  trackeval   {r_best * 1000:8.0f} ms  [{r_first * 1000:.0f}]")
        print(f"  mots eval   {o_best * 1000:8.0f} ms  [{o_first * 1000:.0f}]   (also DR scores, input validation)")
        print(f"  ratio       {r_best / o_best:8.1f}x")

        mots = [sys.executable, "-m", "mots_ros.cli", "eval", "--gt", str(gt_dir), "--results", res_dir,
                "--seqmap", str(seqmap), "--json", os.path.join(tmp, "o.json")]
        te = [sys.executable, "-c", TRACKEVAL_CLI, os.path.join(tmp, "te", "gt"), os.path.join(tmp, "te", "trackers"),
              str(seqmap), os.path.join(tmp, "te_out")]
        c_ours = best_of(lambda: subprocess.run(mots, check=True, capture_output=True), 3)[1]
        c_ref = best_of(lambda: subprocess.run(te, check=True, capture_output=True), 3)[1]
        print("\nwhole command (new process, imports, output files; best of 3):")
        print(f"  trackeval (default config: summaries, details, plots) {c_ref:6.2f} s")
        print(f"  mots eval --json                                       {c_ours:6.2f} s")
        print(f"  ratio                                                  {c_ref / c_ours:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
