"""One run of a training-time ablation (thesis 6.2.5: runs of one configuration differ by their seed): train with
`mots train`, tune the clustering and linking on the tuning split (`mots run --save-outputs`, `mots tune
--outputs`) or take the ablation's tracker file, run the held-out split (`mots run`) and score it (`mots eval`).
Each step's result is published when complete, so a killed run continues at its first unfinished step; an
unfinished training continues from its ``last.pt`` (`mots train --resume`), which is removed once ``model.pt``
exists (it holds the optimizer state). A training equal to a finished one under the same ``--out`` (same `mots
train` config and seed, same start weights, same training data; e.g. the baseline variant that several ablation
files share) is not repeated: the run's ``model.pt`` links to the earlier one, recorded in ``trained/KEY.json``."""
from __future__ import annotations

import hashlib
import json
import os
import shutil

import yaml

from .spec import DEMO, TUNED_NAME, Ablation, variant_config
from .steps import SCORES, fresh, mots, publish, read_scores


def _file_digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha1").hexdigest()


def training_key(config: dict, init: str | None, train_split: tuple, out: str) -> str:
    """What a training depends on, hashed: its `mots train` config (seed included), the contents of its start
    weights and its training data (the split's seqmap, relative to ``out`` for generated splits)."""
    data = os.path.relpath(os.path.abspath(train_split[2]), os.path.abspath(out))
    what = {"config": config, "init": init and _file_digest(init), "data": data}
    return hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def _reuse(record: str, model: str, log: str) -> bool:
    """Link ``model`` to the finished training that ``record`` names (if its model.pt still exists)."""
    if not os.path.exists(record):
        return False
    with open(record) as fh:
        earlier = os.path.join(os.path.dirname(record), json.load(fh)["model"])
    if not os.path.exists(earlier):
        return False
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "w") as fh:
        fh.write(f"not trained again: the same training finished as {os.path.abspath(earlier)}\n")
    os.symlink(os.path.relpath(earlier, os.path.dirname(model)), fresh(model))
    publish(model)
    return True


def train_step(spec: Ablation, variant: str, run: int, folder: str, train_split: tuple, device: list[str],
               env: dict, out: str) -> str:
    """``folder/model.pt`` of the run: kept if it exists, else linked to an equal finished training under ``out``,
    else trained (and recorded for later equal runs)."""
    from mots_ros.engine.build import demo_files

    model = os.path.join(folder, "model.pt")
    if os.path.exists(model):
        return model
    settings = variant_config(spec, variant, run)
    config = os.path.join(folder, "config.yaml")
    with open(config, "w") as fh:
        yaml.safe_dump(settings, fh, sort_keys=False)
    init = demo_files("pixel_embedding")[0] if spec.init == DEMO else spec.init
    record = os.path.join(out, "trained", training_key(settings, init, train_split, out) + ".json")
    log = os.path.join(folder, "logs", "train.log")
    last = os.path.join(folder, "last.pt")
    if not os.path.exists(last) and _reuse(record, model, log):
        return model
    images, _, seqmap = train_split
    args = ["train", "--config", config, "--data", os.path.dirname(images), "--train-seqmap", seqmap,
            "--out", folder, *device]
    if os.path.exists(last):
        args.append("--resume")
    elif init:
        args += ["--init", init]
    mots(args, log, env)
    if os.path.exists(last):
        os.remove(last)
    os.makedirs(os.path.dirname(record), exist_ok=True)
    with open(fresh(record), "w") as fh:
        json.dump({"model": os.path.relpath(model, os.path.dirname(record))}, fh)
    publish(record)
    return model


def tracker_step(spec: Ablation, variant: str, model: str, folder: str, tune_split: tuple | None,
                 device: list[str], env: dict) -> str:
    """The run's tracker file: ``folder/tuned.yaml`` tuned on the tuning split, or the ablation's ``tracker``."""
    from mots_ros.engine.build import demo_files

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
    if options.get("start"):
        features += ["--start", demo_files("pixel_embedding")[1] if options["start"] == DEMO else options["start"]]
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
                 env: dict, out: str) -> dict:
    """Every step of run ``run`` of ``variant`` in ``folder`` (under the ablation folder ``out``); returns its
    scores."""
    os.makedirs(folder, exist_ok=True)
    model = train_step(spec, variant, run, folder, splits["train"], device, env, out)
    tracker = tracker_step(spec, variant, model, folder, splits.get("tune"), device, env)
    return score_step(model, tracker, folder, splits["heldout"], device, env)
