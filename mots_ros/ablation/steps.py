"""Building blocks of an ablation run: `mots` commands as subprocesses with a log each, results that appear only
when complete (written beside, then renamed), the data splits and the score files."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading

from mots_ros import MotsError

from .spec import DataSpec

SCORES = "scores.json"  # a run is finished when this file exists
RUNNING: set[subprocess.Popen] = set()  # live commands, stopped by :func:`stop_all` when the ablation is killed
_LOCK = threading.Lock()
_STOPPING = threading.Event()


class StepFailed(MotsError):
    """A `mots` command of a run exited non-zero; names the command and its log."""


def mots(args: list[str], log: str, env: dict | None = None) -> None:
    """Run ``mots ARGS`` (this Python, ``-m mots_ros.cli``) with stdout and stderr to ``log``."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "w") as fh:
        fh.write("mots " + " ".join(args) + "\n")
        fh.flush()
        with _LOCK:
            if _STOPPING.is_set():
                raise StepFailed(f"mots {args[0]}: not started, the ablation is stopping")
            proc = subprocess.Popen([sys.executable, "-m", "mots_ros.cli", *args], stdout=fh,
                                    stderr=subprocess.STDOUT, env=env)
            RUNNING.add(proc)
        try:
            code = proc.wait()
        finally:
            with _LOCK:
                RUNNING.discard(proc)
    if code:
        with open(log, errors="replace") as fh:
            tail = fh.read()[-600:].strip().splitlines()[-1:] or [""]
        raise StepFailed(f"mots {args[0]} exited {code}: {tail[0]} (log {log})")


def stop_all() -> None:
    """Terminate every running command (the ablation was interrupted; their runs resume next time)."""
    with _LOCK:
        _STOPPING.set()
        procs = list(RUNNING)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def resume_commands() -> None:
    """Allow commands again after :func:`stop_all`."""
    _STOPPING.clear()


def fresh(path: str) -> str:
    """``path + '.partial'``, emptied: where a result is written before :func:`publish` renames it."""
    partial = path + ".partial"
    if os.path.isdir(partial):
        shutil.rmtree(partial)
    elif os.path.exists(partial):
        os.remove(partial)
    return partial


def publish(path: str) -> str:
    """Rename the finished ``path + '.partial'`` to ``path``."""
    os.replace(path + ".partial", path)
    return path


def synth_split(spec: DataSpec, folder: str) -> tuple[str, str, str]:
    """(images, ground truth, seqmap) of a `mots synth` split in ``folder``, generated once (its parameters in
    ``folder/synth.json``; other parameters in an existing folder are an error naming it)."""
    from mots_ros.cli import _size
    from mots_ros.data.synth import generate

    params = {"sequences": 4, "frames": 40, "size": "188x620", "seed": 0, **spec.synth}
    marker = os.path.join(folder, "synth.json")
    if os.path.exists(marker):
        with open(marker) as fh:
            if json.load(fh) != params:
                raise MotsError(f"{folder}: holds synthetic data of other parameters; use another --out")
    else:
        partial = fresh(folder)
        generate(partial, sequences=params["sequences"], frames=params["frames"], size=_size(str(params["size"])),
                 seed=params["seed"])
        with open(os.path.join(partial, "all.seqmap"), "w") as out:
            for name in ("train.seqmap", "val.seqmap"):
                if os.path.exists(os.path.join(partial, name)):
                    with open(os.path.join(partial, name)) as fh:
                        out.write(fh.read())
        with open(os.path.join(partial, "synth.json"), "w") as fh:
            json.dump(params, fh)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        publish(folder)
    return os.path.join(folder, "images"), os.path.join(folder, "instances_txt"), os.path.join(folder, "all.seqmap")


def split(spec: DataSpec, folder: str) -> tuple[str, str, str]:
    """(images, ground truth, seqmap) of a data split: generated into ``folder`` or the given folder."""
    if spec.synth is not None:
        return synth_split(spec, folder)
    for path in (spec.dir, spec.seqmap):
        if not os.path.exists(path):
            raise MotsError(f"{path}: not found (ablation data)")
    return os.path.join(spec.dir, "images"), os.path.join(spec.dir, "instances_txt"), spec.seqmap


def write_scores(path: str, results: dict) -> None:
    """A run's scores (the layout of :func:`~mots_ros.eval.evaluate.evaluate` and of `mots eval --json`),
    published at once."""
    from mots_ros.eval.evaluate import nan_to_none

    with open(fresh(path), "w") as fh:
        json.dump(nan_to_none(results), fh, indent=1)
    publish(path)


def read_scores(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)
