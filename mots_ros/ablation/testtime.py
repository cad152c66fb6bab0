"""Test-time ablations (thesis 6.2.9, Fig. 6.19-6.25): one network pass per checkpoint over the held-out split
(`mots run --save-outputs`, kept in the ablation folder), then each variant's clustering and linking on those
outputs, scored in-process like `mots tune --outputs` (:func:`~mots_ros.tracking.tune.score`, the evaluator of
`mots eval`). A variant overrides the checkpoint's tracker file: its inference node ``clustering`` and its
tracker node parameters."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal

from mots_ros import MotsError

from .spec import DEMO, TUNED_NAME, Ablation, merge
from .steps import fresh, mots, publish, write_scores


def worker_pool(processes: int):
    """A fork pool whose workers take SIGTERM's default action: they inherit the ablation's handler (which turns
    SIGTERM into KeyboardInterrupt for the main process), and the pool's own terminate() at its end made a worker
    caught mid-put print a traceback."""
    return multiprocessing.get_context("fork").Pool(processes, signal.signal, (signal.SIGTERM, signal.SIG_DFL))


def tracker_file(spec: Ablation, checkpoint: str) -> str:
    """The tracker file a checkpoint is scored with: the shipped tuned file for ``demo``, else the ablation's
    ``tracker``, else ``tuned.yaml`` beside the checkpoint."""
    from mots_ros.engine.build import demo_files

    if checkpoint == DEMO:
        return demo_files("pixel_embedding")[1]
    if spec.tracker:
        return spec.tracker
    beside = os.path.join(os.path.dirname(checkpoint), TUNED_NAME)
    if not os.path.exists(beside):
        raise MotsError(f"{spec.path}: {checkpoint} has no {TUNED_NAME} beside it; give tracker: in the file")
    return beside


def saved_outputs(checkpoint: str, tracker: str, folder: str, heldout: tuple, device: list[str],
                  env: dict) -> str:
    """``folder/outputs``: the checkpoint's network outputs on the held-out split, computed once."""
    from mots_ros.engine.build import demo_files

    outputs = os.path.join(folder, "outputs")
    if os.path.exists(outputs):
        return outputs
    images, _, seqmap = heldout
    path = demo_files("pixel_embedding")[0] if checkpoint == DEMO else checkpoint
    results = os.path.join(folder, "results")
    mots(["run", "--images", images, "--seqmap", seqmap, "--checkpoint", path, "--out", results,
          "--tracker-config", tracker, "--save-outputs", fresh(outputs), *device],
         os.path.join(folder, "logs", "outputs.log"), env)
    shutil.rmtree(results)
    return publish(outputs)


def variant_configs(tracker: str, overrides: dict, where: str):
    """(ClusterConfig, TrackerConfig) of ``tracker`` with a variant's ``clustering`` and ``tracker`` overrides."""
    from mots_ros.tracking.cluster import cluster_from_dict
    from mots_ros.tracking.config import from_dict, read_node_params

    clustering = read_node_params(tracker, "inference_node", required=False).get("clustering", {})
    clustering = cluster_from_dict(merge(clustering, overrides.get("clustering") or {}), where)
    linking = from_dict(merge(read_node_params(tracker), overrides.get("tracker") or {}), where)
    return clustering, linking


_DATA: dict = {}  # a model's loaded outputs with ground truth and its variants, set before the workers fork


def _score(i: int) -> None:
    """Worker: variant ``i`` of :func:`score_variants` clustered, linked, scored and written."""
    from mots_ros.tracking.tune import score
    from mots_ros.tracking.tune_clusters import detections

    overrides, scores, where = _DATA["variants"][i]
    clustering, linking = variant_configs(_DATA["tracker"], overrides, where)
    write_scores(scores, score(linking, detections(_DATA["data"], clustering)))


def score_variants(outputs: str, heldout: tuple, tracker: str, variants: list[tuple[dict, str, str]], jobs: int,
                   desc: str) -> None:
    """Each ``(overrides, scores file, where)`` of ``variants`` on one model's saved ``outputs``: the outputs are
    loaded once and shared by ``jobs`` forked workers, each writing its variant's scores file."""
    from tqdm import tqdm

    from mots_ros.tracking.tune_clusters import load_outputs_data

    _, gt, seqmap = heldout
    _DATA.update(data=load_outputs_data(outputs, gt, seqmap), tracker=tracker, variants=variants)
    try:
        with worker_pool(min(jobs, len(variants))) as pool, \
                tqdm(total=len(variants), desc=desc, unit="run") as bar:
            for _ in pool.imap_unordered(_score, range(len(variants))):
                bar.update(1)
    finally:
        _DATA.clear()
