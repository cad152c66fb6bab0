"""Run the PyPI ``trackeval`` package on the same files, as an independent reference (tests and benchmarks only).

TrackEval wants ``GT/label_02/SEQ.txt`` and ``TRACKERS/NAME/data/SEQ.txt``; this lays out symlinks that way and
returns its numbers under this project's metric names, in percent (counts as int).
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile

import numpy as np

# trackeval name -> ours, scale (100 for scores, 1 for counts)
FIELDS = {
    "CLEAR": {"sMOTSA": ("sMOTA", 100), "MOTSA": ("MOTA", 100), "MOTSP": ("MOTP", 100), "TP": ("CLR_TP", 1),
              "FP": ("CLR_FP", 1), "FN": ("CLR_FN", 1), "IDS": ("IDSW", 1), "MT": ("MT", 1), "PT": ("PT", 1),
              "ML": ("ML", 1), "Recall": ("CLR_Re", 100), "Precision": ("CLR_Pr", 100)},
    "Identity": {"IDF1": ("IDF1", 100), "IDP": ("IDP", 100), "IDR": ("IDR", 100), "IDTP": ("IDTP", 1),
                 "IDFN": ("IDFN", 1), "IDFP": ("IDFP", 1)},
    "HOTA": {k: (k, 100) for k in ("HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr")},
}


def run_trackeval(gt_dir: str, res_dir: str, seqmap: str, workdir: str | None = None) -> dict:
    """``{class: {"combined": {...}, "per_sequence": {seq: {...}}}}`` as computed by trackeval."""
    import trackeval

    from mots_ros.data.formats import read_seqmap

    seqs = list(read_seqmap(seqmap))
    tmp = tempfile.TemporaryDirectory() if workdir is None else contextlib.nullcontext(workdir)
    with tmp as root:
        os.makedirs(os.path.join(root, "gt", "label_02"), exist_ok=True)
        os.makedirs(os.path.join(root, "trackers", "res", "data"), exist_ok=True)
        for seq in seqs:
            for src, dst in ((os.path.join(gt_dir, f"{seq}.txt"), os.path.join(root, "gt", "label_02")),
                             (os.path.join(res_dir, f"{seq}.txt"), os.path.join(root, "trackers", "res", "data"))):
                link = os.path.join(dst, f"{seq}.txt")
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(src), link)
        eval_cfg = trackeval.Evaluator.get_default_eval_config()
        eval_cfg.update(PRINT_RESULTS=False, PRINT_CONFIG=False, TIME_PROGRESS=False, OUTPUT_SUMMARY=False,
                        OUTPUT_DETAILED=False, PLOT_CURVES=False, LOG_ON_ERROR=None, USE_PARALLEL=False)
        ds_cfg = trackeval.datasets.KittiMOTS.get_default_dataset_config()
        ds_cfg.update(GT_FOLDER=os.path.join(root, "gt"), TRACKERS_FOLDER=os.path.join(root, "trackers"),
                      SEQMAP_FILE=seqmap, PRINT_CONFIG=False, TRACKERS_TO_EVAL=["res"])
        metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
                   trackeval.metrics.Identity({"PRINT_CONFIG": False})]
        with contextlib.redirect_stdout(io.StringIO()):
            out, _ = trackeval.Evaluator(eval_cfg).evaluate([trackeval.datasets.KittiMOTS(ds_cfg)], metrics)
    res = out["KittiMOTS"]["res"]
    result = {}
    for cls in ("car", "pedestrian"):
        def convert(r):
            flat = {}
            for metric, fields in FIELDS.items():
                for ours, (theirs, scale) in fields.items():
                    v = r[cls][metric][theirs]
                    v = float(np.mean(v)) if np.ndim(v) else v
                    flat[ours] = int(v) if scale == 1 else 100.0 * v
            return flat
        result[cls] = {"combined": convert(res["COMBINED_SEQ"]),
                       "per_sequence": {s: convert(res[s]) for s in seqs}}
    return result
