"""`mots demo`: the main job on built-in data, end to end with the same functions the other commands use.

Writes a synthetic data set, derives a result set from its ground truth by known perturbations (the stand-in
for a tracker until the model issues land), scores it with `mots eval` and renders the overlay video.
"""
from __future__ import annotations

import json
import os
import time

from mots_ros.data import formats
from mots_ros.data.synth import generate
from mots_ros.eval.evaluate import evaluate, nan_to_none
from mots_ros.eval.perturb import perturb_dir
from mots_ros.eval.report import format_table
from mots_ros.viz.render import render


def run_demo(out: str = "out/demo", seed: int = 0) -> dict:
    t0 = time.perf_counter()
    data = os.path.join(out, "data")
    generate(data, sequences=3, frames=60, size=(188, 620), seed=seed)
    gt_dir, seqmap = os.path.join(data, "instances_txt"), os.path.join(data, "val.seqmap")
    results_dir = os.path.join(out, "results")
    perturb_dir(gt_dir, seqmap, results_dir, seed=seed)
    t1 = time.perf_counter()
    results = evaluate(gt_dir, results_dir, seqmap)
    t_eval = time.perf_counter() - t1
    print(format_table(results, fields=("sMOTSA", "MOTSA", "MOTSP", "IDF1", "HOTA", "F_DR", "TP", "FP", "FN", "IDS")))
    with open(os.path.join(out, "eval.json"), "w") as fh:
        json.dump(nan_to_none(results), fh, indent=1)
    seq = next(iter(formats.read_seqmap(seqmap)))
    video = render(os.path.join(data, "images", seq), os.path.join(results_dir, f"{seq}.txt"),
                   os.path.join(out, f"overlay_{seq}.mp4"))
    print(f"\nsMOTSA car {results['car']['combined']['sMOTSA']:.1f} / pedestrian "
          f"{results['pedestrian']['combined']['sMOTSA']:.1f}; evaluation took {t_eval * 1000:.0f} ms, "
          f"demo {time.perf_counter() - t0:.1f} s")
    print(f"outputs in {out}/: data/ (images, ground truth, seqmaps), results/, eval.json, {os.path.basename(video)}")
    return results
