"""`mots ablate --config config/ablations/NAME.yaml --out DIR`: every run of an ablation, in parallel, resumable.

Layout of DIR, which several ablations may share: ``data/SPLIT-HASH`` (generated splits, shared when equal),
``runs/NAME/VARIANT/RUN/`` (a training run's config, logs, model.pt, tuned.yaml and scores.json; a test-time
run's scores.json), ``trained/KEY.json`` (finished trainings, reused by equal runs of any ablation),
``models/KEY/heldout-HASH/outputs`` (the saved network outputs of a checkpoint on a split, shared by the test
ablations; keys in ``models.json``), ``NAME.csv`` and ``NAME_CLASS.png``. A run is finished when its
``scores.json`` exists: a second call (after a kill, or with more runs or variants in the file) does only what is
missing. Runs go to ``--jobs`` workers: one per GPU, each with its own
``CUDA_VISIBLE_DEVICES``, or on the CPU one per core with the cores shared out as threads."""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm import tqdm

from mots_ros import MotsError

from . import results
from .spec import Ablation, load_ablation, resolve_models
from .steps import SCORES, StepFailed, read_scores, resume_commands, split, stop_all
from .testtime import saved_outputs, score_variants, tracker_file, variant_configs
from .training import training_run


def slug(name: str) -> str:
    """A folder name for a variant name."""
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", name).strip("_") or "variant"


def workers(jobs: int | None, device: str | None) -> tuple[int, list[dict]]:
    """(worker count, per worker the environment additions): GPUs one each, else the CPU's cores shared."""
    import torch

    gpus = torch.cuda.device_count() if device != "cpu" and torch.cuda.is_available() else 0
    if gpus:
        n = jobs or gpus
        return n, [{"CUDA_VISIBLE_DEVICES": str(i % gpus)} for i in range(n)]
    cores = os.cpu_count() or 1
    n = jobs or cores
    return n, [{"OMP_NUM_THREADS": str(max(1, cores // n)), "CUDA_VISIBLE_DEVICES": ""} for _ in range(n)]


def _pool(units: list, work, jobs: int, envs: list[dict], desc: str) -> list[str]:
    """Run ``work(unit, env)`` for every unit on ``jobs`` threads (each holding one environment); returns the
    failures' messages."""
    free = list(range(jobs))
    failures = []
    resume_commands()  # an earlier interrupted call in this process stopped them

    def one(unit):
        slot = free.pop()
        try:
            return work(unit, {**os.environ, **envs[slot]})
        finally:
            free.append(slot)

    pool = ThreadPoolExecutor(jobs)
    try:
        with tqdm(total=len(units), desc=desc, unit="run") as bar:
            for future in as_completed([pool.submit(one, u) for u in units]):
                try:
                    future.result()
                except StepFailed as e:
                    failures.append(str(e))
                bar.update(1)
    except BaseException:  # killed: stop the running commands now, start no more
        pool.shutdown(wait=False, cancel_futures=True)
        stop_all()
        raise
    pool.shutdown()
    return failures


def _splits(spec: Ablation, out: str) -> dict[str, tuple]:
    """The ablation's data splits; generated ones in ``out/data/SPLIT-HASH``, shared by ablations (one --out)
    that ask for the same data."""
    def folder(name, data):
        key = hashlib.sha1(json.dumps(data.synth, sort_keys=True).encode()).hexdigest()[:8]
        return os.path.join(out, "data", f"{name}-{key}")

    return {name: split(data, folder(name, data)) for name, data in spec.data.items()}


def _device_args(device: str | None) -> list[str]:
    return ["--device", device] if device else []


def run_training(spec: Ablation, out: str, jobs: int, envs: list[dict], device: str | None) -> list[tuple]:
    """Every unfinished training run; returns all finished runs (variant, run, model, scores)."""
    splits = _splits(spec, out)
    units = [(v, r, os.path.join(out, "runs", spec.name, slug(v), f"run{r}"))
             for v in spec.variants for r in range(spec.runs)]
    todo = [u for u in units if not os.path.exists(os.path.join(u[2], SCORES))]
    failures = _pool(todo, lambda u, env: training_run(spec, *u, splits, _device_args(device), env, out),
                     jobs, envs, f"ablate {spec.name}") if todo else []
    done = [(v, f"run{r}", os.path.join(folder, "model.pt"), read_scores(os.path.join(folder, SCORES)))
            for v, r, folder in units if os.path.exists(os.path.join(folder, SCORES))]
    return _finish(done, failures)


def _model_keys(spec: Ablation, out: str) -> dict[str, str]:
    """``{key: checkpoint}`` of the test ablation's models, the keys kept across calls in ``models.json``."""
    path = os.path.join(out, "models.json")
    known = {}
    if os.path.exists(path):
        with open(path) as fh:
            known = json.load(fh)
    by_checkpoint = {c: k for k, c in known.items()}
    for checkpoint in resolve_models(spec):
        if checkpoint not in by_checkpoint:
            key = "demo" if checkpoint == "demo" else f"m{len(known):02d}"
            known[key] = checkpoint
            by_checkpoint[checkpoint] = key
    with open(path, "w") as fh:
        json.dump(known, fh, indent=1)
    return {by_checkpoint[c]: c for c in resolve_models(spec)}


def run_test(spec: Ablation, out: str, jobs: int, envs: list[dict], device: str | None) -> list[tuple]:
    """Every unfinished test-time run: saved outputs per model once, then each variant on them."""
    models = _model_keys(spec, out)
    trackers = {k: tracker_file(spec, c) for k, c in models.items()}
    for v, overrides in spec.variants.items():  # bad overrides fail before data is made or the network runs
        for tracker in trackers.values():
            variant_configs(tracker, overrides, f"{spec.path}: variant {v!r}: ")
    heldout = _splits(spec, out)["heldout"]
    held = hashlib.sha1(os.path.abspath(heldout[2]).encode()).hexdigest()[:8]  # outputs depend on the split
    folders = {k: os.path.join(out, "models", k, f"heldout-{held}") for k in models}
    failures = _pool(list(models), lambda k, env: saved_outputs(models[k], trackers[k], folders[k], heldout,
                                                                 _device_args(device), env),
                     jobs, envs, f"outputs {spec.name}")
    if failures:
        raise MotsError("; ".join(failures))
    units = [(v, k, os.path.join(out, "runs", spec.name, slug(v), k, SCORES)) for v in spec.variants for k in models]
    for k in models:
        todo = [(spec.variants[v], path, f"{spec.path}: variant {v!r}: ")
                for v, key, path in units if key == k and not os.path.exists(path)]
        for _, path, _ in todo:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        if todo:
            score_variants(os.path.join(folders[k], "outputs"), heldout, trackers[k], todo, jobs,
                           f"ablate {spec.name} ({k})")
    done = [(v, k, models[k], read_scores(path)) for v, k, path in units]
    return _finish(done, [])


def _finish(done: list[tuple], failures: list[str]) -> list[tuple]:
    if failures:
        raise MotsError(f"{len(failures)} run(s) failed (finished runs are kept; run again to retry): "
                        + "; ".join(failures))
    return done


def ablate(config: str, out: str, jobs: int | None = None, device: str | None = None) -> dict[str, str]:
    """Run the ablation file ``config`` into ``out``; returns the written files (csv, one png per class)."""
    spec = load_ablation(config)
    os.makedirs(out, exist_ok=True)
    n, envs = workers(jobs or spec.jobs, device)
    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        done = (run_training if spec.kind == "training" else run_test)(spec, out, n, envs, device)
    finally:
        signal.signal(signal.SIGTERM, previous)
    table = results.rows(spec.name, done)
    variants = list(spec.variants)
    files = {"csv": os.path.join(out, f"{spec.name}.csv")}
    results.write_csv(files["csv"], table)
    for cls in results.CLASSES:
        files[cls] = results.box_plot(os.path.join(out, f"{spec.name}_{cls}.png"), spec.name, table, variants, cls)
    files["summary"] = results.summary(table, variants)
    return files


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def cmd_ablate(args) -> int:
    files = ablate(args.config, args.out, jobs=args.jobs, device=args.device)
    print(files.pop("summary"))
    print("\nwrote " + ", ".join(files.values()))
    return 0


def add_parser(sub) -> None:
    """`mots ablate` (issue 13 §3; thesis ch. 6 comparisons)."""
    a = sub.add_parser("ablate", help="train / re-cluster the variants of an ablation file many times and draw "
                                      "box plots (thesis ch. 6)",
                       description="Run an ablation file (config/ablations/NAME.yaml): training-time variants "
                                   "are trained runs times with different seeds (mots train), tuned (mots tune "
                                   "--outputs) and scored on a held-out split (mots run, mots eval); test-time "
                                   "variants re-cluster and re-link the saved network outputs of checkpoints. "
                                   "Writes OUT/NAME.csv (every run's sMOTSA/MOTSA/MOTSP/IDF1/HOTA per class and "
                                   "sequence) and a box plot per class, OUT/NAME_car.png and "
                                   "OUT/NAME_pedestrian.png. Resumes: finished runs are kept, unfinished ones "
                                   "continue.")
    a.add_argument("--config", required=True, metavar="ABLATION.yaml", help="the ablation file")
    a.add_argument("--out", required=True, metavar="DIR", help="the ablation's folder (runs, data, results)")
    a.add_argument("--jobs", type=int, help="parallel runs (default: one per GPU, else one per CPU core)")
    a.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    a.set_defaults(func=cmd_ablate)
