"""One run of a training-time ablation (thesis 6.2.5: runs of one configuration differ by their seed): train with
`mots train`, tune the clustering and linking on the tuning split (`mots run --save-outputs`, `mots tune
--outputs`) or take the ablation's tracker file, run the held-out split (`mots run`) and score it (`mots eval`).
Each step's result is published when complete, so a killed run continues at its first unfinished step; an
unfinished training continues from its ``last.pt`` (`mots train --resume`), which is removed once ``model.pt``
exists (it holds the optimizer state)."""
from __future__ import annotations

import os
import shutil

import yaml

from .spec import DEMO, TUNED_NAME, Ablation, variant_config
from .steps import SCORES, fresh, mots, publish, read_scores


def train_step(spec: Ablation, variant: str, run: int, folder: str, train_split: tuple, device: list[str],
               env: dict) -> str:
    """``folder/model.pt`` of the run, trained unless it exists."""
    from mots_ros.engine.build import demo_files

    model = os.path.join(folder, "model.pt")
    if os.path.exists(model):
        return model
    config = os.path.join(folder, "config.yaml")
    with open(config, "w") as fh:
        yaml.safe_dump(variant_config(spec, variant, run), fh, sort_keys=False)
    images, _, seqmap = train_split
    args = ["train", "--config", config, "--data", os.path.dirname(images), "--train-seqmap", seqmap,
            "--out", folder, *device]
    last = os.path.join(folder, "last.pt")
    if os.path.exists(last):
        args.append("--resume")
    elif spec.init:
        args += ["--init", demo_files("pixel_embedding")[0] if spec.init == DEMO else spec.init]
    mots(args, os.path.join(folder, "logs", "train.log"), env)
    if os.path.exists(last):
        os.remove(last)
    return model


def tracker_step(spec: Ablation, variant: str, model: str, folder: str, tune_split: tuple | None,
                 device: list[str], env: dict) -> str:
    """The run's tracker file: ``folder/tuned.yaml`` tuned on the tuning split, or the ablation's ``tracker``."""
    if tune_split is None:
        return spec.tracker
    tuned = os.path.join(folder, TUNED_NAME)
    if os.path.exists(tuned):
        return tuned
    images, gt, seqmap = tune_split
    outputs, results = os.path.join(folder, "tune_outputs"), os.path.join(folder, "tune_results")
    base = ["--tracker-config", spec.tracker] if spec.tracker else []
    mots(["run", "--images", images, "--seqmap", seqmap, "--checkpoint", model, "--out", results,
          "--save-outputs", outputs, *base, *device], os.path.join(folder, "logs", "tune_run.log"), env)
    options = {"cluster_trials": 8, "trials": 20, "subsample": 2, **(spec.tune or {}),
               **(spec.variants[variant].get("tune") or {})}
    features = ["--features", options["features"]] if options.get("features") else []
    features += ["--linker", options["linker"]] if options.get("linker") else []
    mots(["tune", "--outputs", outputs, "--gt", gt, "--seqmap", seqmap, "--cluster-trials",
          str(options["cluster_trials"]), "--trials", str(options["trials"]), "--subsample",
          str(options["subsample"]), *features, "--jobs", "1", "--seed", "0", "--out", fresh(tuned)],
         os.path.join(folder, "logs", "tune.log"), env)
    shutil.rmtree(outputs)
    shutil.rmtree(results)
    return publish(tuned)


def score_step(model: str, tracker: str, folder: str, heldout: tuple, device: list[str], env: dict) -> dict:
    """``folder/scores.json``: the held-out split run with the run's tracker file and scored by `mots eval`."""
    images, gt, seqmap = heldout
    results = os.path.join(folder, "heldout_results")
    mots(["run", "--images", images, "--seqmap", seqmap, "--checkpoint", model, "--out", results,
          "--tracker-config", tracker, *device], os.path.join(folder, "logs", "heldout_run.log"), env)
    scores = os.path.join(folder, SCORES)
    mots(["eval", "--gt", gt, "--results", results, "--seqmap", seqmap, "--json", fresh(scores)],
         os.path.join(folder, "logs", "eval.log"), env)
    return read_scores(publish(scores))


def training_run(spec: Ablation, variant: str, run: int, folder: str, splits: dict, device: list[str],
                 env: dict) -> dict:
    """Every step of run ``run`` of ``variant`` in ``folder``; returns its scores."""
    os.makedirs(folder, exist_ok=True)
    model = train_step(spec, variant, run, folder, splits["train"], device, env)
    tracker = tracker_step(spec, variant, model, folder, splits.get("tune"), device, env)
    return score_step(model, tracker, folder, splits["heldout"], device, env)
